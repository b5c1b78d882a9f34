"""Bad input and faults, through the real command lines: each must end in one
line on stderr with the right exit status and leave no run damaged. Each
probe is a case of a rule of docs/errors.md; the rules of the options
themselves, for every option of every script, are checked by the generated
suite (test_hostile_*.py)."""
import fcntl
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, TINY_SINE, load_script, together

SINE = ["sine-generator/train.py", "--threads", "1"] + TINY_SINE


def started(args, cwd=None):
    """``python args`` run to its end (a CompletedProcess)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, *[str(a) for a in args]], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def judged(result, check_one_line=True):
    """The exit status and the last line of stderr of a finished command;
    when it failed, stderr is that one line, without a traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if check_one_line and result.returncode != 0:
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return result.returncode, (lines[-1] if lines else "")


def command(args, cwd=None, check_one_line=True):
    return judged(started(args, cwd), check_one_line)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny sine run, and files made from it."""
    base = tmp_path_factory.mktemp("rel")
    train = load_script("sine-generator/train.py")
    folder = train.main(TINY_SINE + ["--folder", str(base / "run")])
    orbit = torch.load(os.path.join(folder, "orbit_per_epoch_diagram.pth"), weights_only=True)
    for name, frequency in (("str", "ten"), ("nan", float("nan")), ("huge", 1e30)):
        crafted = {k: v for k, v in orbit.items() if k != "sha256"}   # as if made by hand
        torch.save({**crafted, "frequency": frequency}, base / f"orbit_{name}.pth")
    for name, text in (("empty", ""), ("wrong", ",a,b\n0,x,y\n")):
        os.makedirs(base / name)
        (base / name / "history.csv").write_text(text)
        (base / name / "orbit_per_epoch_diagram.pth").write_bytes(b"")
    os.makedirs(base / "binary")
    (base / "binary" / "history.csv").write_bytes(bytes(range(256)) * 4)
    (base / "latin1.json").write_bytes('{"rnn_type": "LSTM\xe9"}'.encode("latin-1"))
    (base / "inf.json").write_text('{"lr": Infinity}')
    (base / "a_file").write_text("x")
    os.makedirs(base / "a_folder")
    return base, folder


PROBES = [  # (command line, part of the message, exit status)
    (SINE + ["--min_freq", "1", "--max_freq", "0.5"], "min_freq <= max_freq", 2),
    (SINE + ["-c", "{base}/inf.json"], "'lr': must be a finite number in (0, 1000000], got inf", 2),
    (SINE + ["-c", "{base}/latin1.json"], "is not UTF-8 text", 2),
    (SINE + ["--hidden_size", "1000000"], "GiB", 2),
    (SINE + ["--folder", "/proc/foo"], "cannot create the output folder /proc/foo", 2),
    (SINE + ["--folder", "{base}/a_file"], "is not a folder", 2),
    (["sequence-classification/train.py", "--seed", "4294967295", "--epochs", "1"],
     "seed must be at most 4294967294", 2),
    (["plot_orbit_diagram.py", "{run}/orbit_per_epoch_diagram.pth", "-o", "{base}/a_folder"],
     "is a folder", 2),
    (["plot_orbit_diagram.py", "{base}/orbit_str.pth"], "'frequency'", 2),
    (["plot_orbit_diagram.py", "{base}/orbit_nan.pth"], "'frequency'", 2),
    (["plot_orbit_diagram.py", "{base}/orbit_huge.pth"], "'frequency'", 2),
    (["plot_training_dynamics.py", "{base}/empty"], "is empty, damaged or not a CSV table", 2),
    (["plot_training_dynamics.py", "{base}/binary"], "history.csv", 2),
    (["plot_training_dynamics.py", "{base}/wrong"], "does not hold numbers", 2),
    (["sine-generator/plot_history.py", "{base}/empty"], "is empty, damaged or not a CSV", 2),
    (["sine-generator/plot_history.py", "{base}/binary"], "history.csv", 2),
    (["sine-generator/plot_history.py", "{base}/wrong"], "lacks the column(s) epoch, loss", 2),
    (["sequence-classification/plot_history.py", "{run}"], "lacks the column(s)", 2),
    (["word-language-model/plot_history.py", "{base}/missing"], "no such folder", 2),
    (["word-language-model/plot_history.py", "{base}/a_folder"], "has no history.csv", 2),
    (["word-language-model/generate.py", "{run}", "-o", "{base}/a_folder"], "is a folder", 2),
    (["word-language-model/download.py", "{base}/dest", "--archive", "{base}/none.zip"],
     "--archive: no such file", 2),
    (["word-language-model/download.py", "{base}/a_file", "--archive", "{base}/a_file"],
     "exists and is not a folder", 2),
    (["chaotic_lstm.py", "--n_points", "1000000000", "-o", "{base}/chaos"], "GiB", 2),
]


@pytest.fixture(scope="module")
def probed(run):
    """Every probe's finished command, by its place in PROBES (run together)."""
    base, folder = run
    return together(*[lambda args=args: started([a.format(base=base, run=folder) for a in args])
                      for args, _, _ in PROBES])


@pytest.mark.parametrize("index", range(len(PROBES)),
                         ids=[" ".join(map(str, p[0][:1] + p[0][-2:])) for p in PROBES])
def test_bad_input_ends_in_one_line(probed, index):
    _, message, code = PROBES[index]
    rc, line = judged(probed[index])
    assert rc == code and message in line, line


def corrupt(path, how):
    data = bytearray(open(path, "rb").read())
    if how == "flip":  # 16 bytes inside the payload, near the end (tensor data)
        middle = len(data) - len(data) // 3
        data[middle:middle + 16] = bytes(255 - b for b in data[middle:middle + 16])
    elif how == "weight":  # one float of a stored weight, the file still readable
        weights = next(t for t in torch.load(path, weights_only=True)["model"].values()
                       if t.numel() >= 4)
        at = data.index(weights.reshape(-1)[:4].numpy().tobytes())
        data[at:at + 4] = (weights.reshape(-1)[:1] + 1).numpy().tobytes()
    elif how == "truncate":
        data = data[:len(data) // 2]
    else:
        data = b""
    open(path, "wb").write(bytes(data))


DAMAGES = [
    ("checkpoint.pth", "flip", "resume", "is damaged"),
    ("checkpoint.pth", "truncate", "resume", "damaged or incomplete"),
    ("checkpoint.pth", "weight", "resume", "do not match their checksum"),
    ("model.pth", "truncate", "analyse_attractors.py", "damaged or incomplete"),
    ("model.pth", "weight", "analyse_attractors.py", "do not match their checksum"),
    ("model.pth", "weight", "sine-generator/plot_generated.py", "do not match their checksum"),
    ("orbit_per_epoch_diagram.pth", "empty", "analyse_attractors.py", "damaged or incomplete"),
    ("orbit_per_epoch_diagram.pth", "empty", "plot_training_dynamics.py", "damaged or incomplete"),
]


def files_of(run):
    return {n: open(os.path.join(run, n), "rb").read() for n in os.listdir(run)}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """For each case of DAMAGES: the run with its file damaged, its files
    before the command, and the finished command (the commands run together)."""
    train = load_script("sine-generator/train.py")
    runs, commands = [], []
    for k, (name, how, script, _) in enumerate(DAMAGES):
        run = train.main(TINY_SINE + ["--folder", str(tmp_path_factory.mktemp("dmg") / "run")])
        corrupt(os.path.join(run, name), how)
        runs.append((run, files_of(run)))
        commands.append(SINE[:3] + ["--resume", run, "--epochs", "5"] if script == "resume"
                        else [script, run, "--n_starts", "2", "--steps", "20", "--record", "10",
                              "--lyapunov_steps", "5"] if script == "analyse_attractors.py"
                        else [script, run])
    results = together(*[lambda args=args: started(args) for args in commands])
    return [(run, before, result) for (run, before), result in zip(runs, results)]


@pytest.mark.parametrize("index", range(len(DAMAGES)),
                         ids=["-".join(case) for case in DAMAGES])
def test_damaged_files_are_named(damaged, index):
    name, _, _, message = DAMAGES[index]
    run, before, result = damaged[index]
    rc, line = judged(result)
    assert rc == 2 and message in line and name in line, line
    assert before == files_of(run)


def test_one_writer_per_folder_and_a_dead_lock_blocks_nothing(sine, tmp_path):
    run = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    with open(os.path.join(run, ".lock"), "a+") as lock:  # another writer holds it
        lock.write("pid 12345 on elsewhere\n")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for result in together(*[lambda extra=extra: started(SINE + ["--epochs", "5"] + extra)
                                 for extra in (["--overwrite", "--folder", run],
                                               ["--resume", run])]):
            rc, line = judged(result)
            assert rc == 2 and "in use by pid 12345 on elsewhere" in line, line
    # the lock file stays behind, as after a killed run: it blocks nothing
    rc, _ = command(SINE[:3] + ["--resume", run, "--epochs", "4"])
    assert rc == 0 and not os.path.exists(os.path.join(run, ".lock"))


def test_failed_overwrite_keeps_the_old_run_and_a_failed_new_run_leaves_no_folder(
        sine, tmp_path, monkeypatch):
    from attractors.training import TrainingStopped
    run = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    before = {n: open(os.path.join(run, n), "rb").read() for n in os.listdir(run)}
    real = sine.train.F.mse_loss
    monkeypatch.setattr(sine.train.F, "mse_loss", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(TrainingStopped, match="no epoch had completed"):
        sine.train.main(TINY_SINE + ["--overwrite", "--folder", run])
    assert before == {n: open(os.path.join(run, n), "rb").read() for n in os.listdir(run)}
    with pytest.raises(TrainingStopped, match="every one of the 6 batches") as info:
        sine.train.main(TINY_SINE + ["--on_nan", "skip", "--folder", str(tmp_path / "new")])
    assert info.value.code == 3
    with pytest.raises(TrainingStopped, match="no epoch had completed"):
        sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "new2")])
    assert not (tmp_path / "new2").exists()
    # A folder its caller made (sweep.py, with the run's log and markers) stays.
    made = tmp_path / "made"
    made.mkdir()
    (made / "train.log").write_text("the run's output\n")
    (made / ".sweep-running").write_text("{}\n")
    with pytest.raises(TrainingStopped, match="no epoch had completed"):
        sine.train.main(TINY_SINE + ["--overwrite", "--folder", str(made)])
    assert sorted(os.listdir(made)) == [".sweep-running", "train.log"]
    assert (made / "train.log").read_text() == "the run's output\n"


def test_older_config_without_a_new_key_resumes(sine, tmp_path):
    run = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    from attractors.run_files import load_verified, save_verified
    path = os.path.join(run, "checkpoint.pth")
    data = load_verified(path)
    del data["config"]["std_orbit"]            # as if saved before std_orbit existed
    save_verified(data, path)
    config = json.load(open(os.path.join(run, "train.pyconfig.json")))
    del config["std_orbit"]
    json.dump(config, open(os.path.join(run, "train.pyconfig.json"), "w"))
    sine.train.main(["--resume", run, "--epochs", "4"])
    assert open(os.path.join(run, "history.csv")).read().count("\n") == 5
