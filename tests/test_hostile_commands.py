"""The generated hostile suite, commands: every script with its stdout
gone and with Ctrl-C at its start; the process-level cases through real
processes (a closed stdout, ``| head``, Ctrl-C in the middle of the work);
and each defect a hostile pass found, through the script's command line
(docs/errors.md)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from attractors.options import OneLineParser
from attractors.run_files import load_verified, save_verified
from conftest import ROOT, TINY_SINE, load_script
from hostile_tools import run_command, scripts, snapshot
from test_word_language_model import TINY as TINY_LM, write_corpus

SCRIPTS = scripts()
ANALYSE = ["--n_starts", "2", "--steps", "20", "--record", "10", "--lyapunov_steps", "5"]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny finished runs: sine (hidden 8), sine (hidden 6), language model."""
    base = tmp_path_factory.mktemp("cmd")
    sine = load_script("sine-generator/train.py")
    a = sine.main(TINY_SINE + ["--folder", str(base / "sine")])
    b = sine.main(TINY_SINE + ["--hidden_size", "6", "--folder", str(base / "small")])
    corpus = write_corpus(base / "corpus")
    lm = load_script("word-language-model/train.py").main(
        TINY_LM + ["--epochs", "1", "--data", str(corpus), "--folder", str(base / "lm")])
    return {"base": base, "sine": a, "small": b, "lm": lm, "corpus": str(corpus)}


# ------------------------------------------------------------------ every script
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_works_with_its_output_gone(script, tmp_path):
    result = run_command(script, "--help", cwd=tmp_path, stdout="closed")
    assert result.escaped is None and result.code == 0 and result.err == "", result
    result = run_command(script, "--no_such_option", cwd=tmp_path, stderr="closed")
    assert result.escaped is None and result.code == 2, result    # said to no one, still 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script", SCRIPTS)
def test_ctrl_c_in_every_script_is_one_line_and_exit_130(script, tmp_path, monkeypatch):
    real = OneLineParser.parse_known_args

    def interrupted(self, *args, **kwargs):
        if not self.internal:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)
    monkeypatch.setattr(OneLineParser, "parse_known_args", interrupted)
    line = run_command(script, cwd=tmp_path).one_line(130)
    assert line.endswith(": interrupted"), line
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ real processes
def start(*args, **kwargs):
    return subprocess.Popen([sys.executable, *map(str, args)], env=ENV, text=True, **kwargs)


def test_training_with_stdout_closed_writes_its_run(tmp_path):
    done = subprocess.run([sys.executable, ROOT / "sine-generator/train.py", *TINY_SINE,
                           "--threads", "1", "--folder", tmp_path / "run"], env=ENV,
                          preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "run" / "model.pth").is_file()


def test_generate_with_stdout_closed_ends_well(runs, tmp_path):
    done = subprocess.run([sys.executable, ROOT / "word-language-model/generate.py", runs["lm"],
                           "--data", runs["corpus"], "--words", "50", "--threads", "1"],
                          env=ENV, preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_an_output_into_a_new_folder_is_made(runs, tmp_path):
    result = run_command("plot_orbit_diagram.py",
                         os.path.join(runs["sine"], "orbit_per_epoch_diagram.pth"),
                         "-o", tmp_path / "new" / "deeper" / "o.png")
    assert result.code == 0 and (tmp_path / "new" / "deeper" / "o.png").is_file(), result


def test_an_mplbackend_matplotlib_does_not_know_is_one_line(runs):
    done = subprocess.run([sys.executable, ROOT / "plot_training_dynamics.py", runs["sine"]],
                          env=dict(ENV, MPLBACKEND="bogus"), capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr == (
        "plot_training_dynamics.py: error: MPLBACKEND='bogus' is not a backend matplotlib "
        "knows; unset it\n"), done.stderr


def test_an_error_with_stderr_closed_still_exits_2(tmp_path):
    done = subprocess.run([sys.executable, ROOT / "sine-generator/train.py", "--epochs", "0"],
                          env=ENV, preexec_fn=lambda: os.close(2), cwd=tmp_path,
                          stdout=subprocess.PIPE)
    assert done.returncode == 2 and list(tmp_path.iterdir()) == []


def test_generate_streams_its_words_into_head_and_stops(runs):
    generate = start(ROOT / "word-language-model/generate.py", runs["lm"], "--data",
                     runs["corpus"], "--words", "1000000", "--threads", "1",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.run(["head", "-c", "5"], stdin=generate.stdout, capture_output=True,
                          timeout=60)
    generate.stdout.close()
    assert len(head.stdout) == 5
    try:    # the reader went away: it stops, it does not make the million words
        assert generate.wait(timeout=30) == 0
    finally:
        generate.kill()
    assert generate.stderr.read() == ""


MIDDLE = [
    ("analyse_attractors.py", ["{sine}", "--steps", "2000000", "-o", "{out}"]),
    ("analyse_smoothness.py", ["{sine}", "--seq_lens", "200000", "--chunk_size", "2",
                               "-o", "{out}/s.png"]),
    ("word-language-model/generate.py", ["{lm}", "--data", "{corpus}", "--words", "10000000",
                                         "-o", "{out}/text.txt"]),
]


@pytest.fixture(scope="module")
def interrupted(runs, tmp_path_factory):
    """Each command of MIDDLE, started together, given Ctrl-C (SIGINT) well
    into its work: its output folder, stderr and exit status; and whether
    the runs it read are unchanged."""
    before = snapshot(runs["base"])
    outs = [tmp_path_factory.mktemp("middle") / "out" for _ in MIDDLE]
    processes = [start(ROOT / script, *[a.format(out=out, **runs) for a in args], "--threads",
                       "1", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for (script, args), out in zip(MIDDLE, outs)]
    try:
        time.sleep(4)     # well into the work (the imports take about 1.5 s, 3 s for three)
        for process in processes:
            process.send_signal(signal.SIGINT)
        ended = [(out, *process.communicate(timeout=60), process.returncode)
                 for out, process in zip(outs, processes)]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return ended, snapshot(runs["base"]) == before


@pytest.mark.parametrize("index", range(len(MIDDLE)),
                         ids=[f"{script}-args{k}" for k, (script, _) in enumerate(MIDDLE)])
def test_ctrl_c_in_the_middle_of_the_work_is_one_line_and_writes_nothing(interrupted, index):
    ended, unchanged = interrupted
    out, _, err, code = ended[index]
    lines = err.strip().splitlines()
    script = MIDDLE[index][0]
    assert code == 130 and lines == [f"{os.path.basename(script)}: interrupted"], err
    assert not out.exists() and unchanged


# ------------------------------------------------------------------ the defects found
def one_line(*args, code=2, cwd=None):
    return run_command(*map(str, args), cwd=cwd).one_line(code)


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs: must be an integer in [1, 1000000000]"),
    (["--milestones", "-5"], "--milestones: must be an integer in [1,"),
    (["--interval_orbit", "0"], "--interval_orbit: must be -1 or an integer in [1,"),
    (["--interval_orbit", "-2"], "--interval_orbit: must be -1 or an integer in [1,"),
    (["--init", "cayley"], "--init applies only to the orthogonal cells"),
    (["--K", "5"], "--K applies only to --rnn_type dtriv"),
    (["--rnn_type", "GRU", "--stabilize"], "--stabilize applies only to --rnn_type LSTM"),
    (["--folder", ""], "--folder: must name an output folder, got ''"),
    (["--resume", ""], "--resume: must name an input folder, got ''"),
    (["-c", ""], "-c/--config: must name an input file, got ''"),
])
def test_train_options_that_were_accepted_silently_are_refused(args, message, tmp_path):
    assert message in one_line("sine-generator/train.py", *args, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_orbit_option_without_orbit_sampling_is_warned_about_and_not_saved(tmp_path):
    result = run_command("sine-generator/train.py", *TINY_SINE, "--interval_orbit", "-1",
                         "--seq_len_orbit", "50", "--folder", tmp_path / "run")
    assert result.code == 0 and result.lines == [   # TINY_SINE's orbit options too
        "train.py: warning: --n_sequences_orbit, --seq_len_orbit, --burnout_orbit apply only "
        "with --interval_orbit N (N >= 1); ignored (saved as 4, 1600, 1200)"], result
    saved = json.loads((tmp_path / "run" / "train.pyconfig.json").read_text())
    assert saved["seq_len_orbit"] == 1600 and saved["interval_orbit"] == -1


@pytest.mark.parametrize("value", ["5", "-1"])
def test_language_model_verbose_is_0_1_or_2(value, tmp_path):
    line = one_line("word-language-model/train.py", "--verbose", value, cwd=tmp_path)
    assert "--verbose: must be an integer in [0, 2]" in line


def test_a_folder_of_other_files_is_not_called_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    line = one_line("sine-generator/train.py", *TINY_SINE, "--folder", tmp_path)
    assert "is not empty and holds no run" in line and "notes.txt" in line


def test_analysis_and_plot_options_that_were_accepted_silently_are_refused(runs, tmp_path):
    sine, orbit = runs["sine"], os.path.join(runs["sine"], "orbit_per_epoch_diagram.pth")
    assert "--newton_steps: must be an integer in [0," in one_line(
        "analyse_attractors.py", sine, "--newton_steps", "-1")
    assert "--word_ids applies only to word-language-model runs" in one_line(
        "analyse_attractors.py", sine, "--word_ids", "3", *ANALYSE, "-o", tmp_path / "a")
    for flag in ("-n", "-ie", "-i", "-j", "-b"):
        assert f"argument {flag}" in one_line("plot_orbit_diagram.py", orbit, flag, "-1")
    assert "--seq_len: must be an integer in [1, 10000000]" in one_line(
        "sine-generator/plot_generated.py", sine, "--seq_len", "1000000000000")
    assert "--words: must be an integer in [0, 10000000]" in one_line(
        "word-language-model/generate.py", runs["lm"], "--words", "100000000000")
    assert not (tmp_path / "a").exists()


def test_output_paths_are_checked_before_any_work(runs, tmp_path):
    sine = runs["sine"]
    before = snapshot(runs["base"])
    (tmp_path / "a_file").write_text("x")
    assert "exists and is not a folder" in one_line("analyse_attractors.py", sine,
                                                    "-o", tmp_path / "a_file")
    for name in ("s.txt", "s.xyz", "s"):
        assert "unknown file type" in one_line("analyse_smoothness.py", sine,
                                               "-o", tmp_path / name)
    assert "is a folder; give a file name" in one_line("analyse_smoothness.py", sine,
                                                       "-o", tmp_path)
    assert "would replace a run's history.csv" in one_line(
        "analyse_smoothness.py", sine, "-o", os.path.join(sine, "history.png"), "--n_points",
        "3", "--seq_lens", "2")
    assert "would replace a run's model.pth" in one_line(
        "word-language-model/generate.py", runs["lm"], "-o", os.path.join(runs["lm"],
                                                                          "model.pth"))
    assert sorted(os.listdir(tmp_path)) == ["a_file"] and snapshot(runs["base"]) == before


def test_a_model_with_nan_weights_and_a_remade_checksum_is_refused(runs, tmp_path):
    folder = tmp_path / "nan"
    os.makedirs(folder)
    saved = load_verified(os.path.join(runs["sine"], "model.pth"))
    saved["model"] = {k: v * float("nan") for k, v in saved["model"].items()}
    save_verified(saved, str(folder / "model.pth"))
    assert "weights are not finite" in one_line("analyse_attractors.py", folder, *ANALYSE)
    assert sorted(os.listdir(folder)) == ["model.pth"]


def test_a_model_pth_of_the_wrong_shape_or_another_task_is_named(runs, tmp_path):
    saved = load_verified(os.path.join(runs["sine"], "model.pth"))
    for name, change in (("list", {"config": [1, 2]}),
                         ("other", {"experiment_name": "temporal-order"})):
        folder = tmp_path / name
        os.makedirs(folder)
        save_verified({**saved, **change}, str(folder / "model.pth"))
        line = one_line("sine-generator/plot_generated.py", folder, "-o", tmp_path / "g.png")
        assert ("its 'config' is a list" if name == "list" else
                "is a temporal-order run; plot_generated.py draws sine-generator runs") in line
    assert not (tmp_path / "g.png").exists()


def test_a_broken_task_py_on_the_search_path_is_one_line(runs, tmp_path, monkeypatch):
    saved = load_verified(os.path.join(runs["sine"], "model.pth"))
    os.makedirs(tmp_path / "run")
    save_verified({**saved, "experiment_name": "custom"}, str(tmp_path / "run" / "model.pth"))
    os.makedirs(tmp_path / "tasks" / "custom")
    (tmp_path / "tasks" / "custom" / "task.py").write_text("import no_such_module\n")
    monkeypatch.setenv("ATTRACTORS_TASK_PATH", str(tmp_path / "tasks"))
    line = one_line("analyse_attractors.py", tmp_path / "run", *ANALYSE)
    assert "cannot load" in line and "ModuleNotFoundError" in line


def test_smoothness_towards_itself_or_another_size_says_what_is_wrong(runs):
    sine = runs["sine"]
    assert "the direction is zero" in one_line("analyse_smoothness.py", sine, "--towards", sine,
                                               "--n_points", "3", "--seq_lens", "2")
    line = one_line("analyse_smoothness.py", sine, "--towards", runs["small"])
    assert "is another model: hidden_size 6 there, 8 here" in line, line


def test_plot_orbit_diagram_without_a_display_saves_beside_the_file(runs, tmp_path):
    os.makedirs(tmp_path / "run")
    orbit = tmp_path / "run" / "orbit_per_epoch_diagram.pth"
    orbit.write_bytes(open(os.path.join(runs["sine"], orbit.name), "rb").read())
    result = run_command("plot_orbit_diagram.py", orbit)
    assert result.code == 0 and "No display: saved" in result.out, result
    assert (tmp_path / "run" / "orbit_diagram_orbit1d.png").read_bytes()[:4] == b"\x89PNG"


def test_a_csv_given_as_orbit_file_is_called_what_it_is(runs):
    line = one_line("plot_orbit_diagram.py", os.path.join(runs["sine"], "history.csv"))
    assert "is not a PyTorch file: it holds text" in line and "trust_pickle" not in line


def test_plot_training_dynamics_on_a_run_without_epochs_or_orbit(runs, tmp_path):
    (tmp_path / "history.csv").write_text(",epoch,loss\n")
    assert "has no rows yet" in one_line("plot_training_dynamics.py", tmp_path)
    (tmp_path / "history.csv").write_text(open(os.path.join(runs["sine"], "history.csv")).read())
    assert "train with --interval_orbit" in one_line("plot_training_dynamics.py", tmp_path)


def test_temporal_order_classes_count_in_the_memory_estimate(tmp_path):
    line = one_line("sequence-classification/train.py", "--n_symbols", "1000",
                    "--position_symbols_start", "1", "20", "40", "--position_symbols_len", "5",
                    "--seq_len", "50", "--seq_len_val", "50", cwd=tmp_path)
    assert "GiB" in line and list(tmp_path.iterdir()) == []


def test_the_resume_command_printed_can_be_pasted(tmp_path, monkeypatch):
    from attractors.training import TrainingStopped
    sine = load_script("sine-generator/train.py")
    real = sine.F.mse_loss
    calls = []

    def nan_in_epoch_2(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs) * (float("nan") if len(calls) > 4 else 1)
    monkeypatch.setattr(sine.F, "mse_loss", nan_in_epoch_2)
    with pytest.raises(TrainingStopped) as info:
        sine.main(TINY_SINE + ["--folder", str(tmp_path / "a b")])
    assert f"--resume '{tmp_path / 'a b'}'" in str(info.value)


def make_sweep(tmp_path, history):
    out = tmp_path / "sweep"
    os.makedirs(out / "seed=1")
    manifest = {"format": 1, "task": "sine-generator", "grids": [], "seeds": [1], "runs": {
        "seed=1": {"folder": "seed=1", "settings": {"seed": "1"}, "args": ["--seed", "1"],
                   "epochs": 3, "state": "not started"}}}
    (out / "sweep.json").write_text(json.dumps(manifest))
    (out / "seed=1" / "history.csv").write_bytes(history)
    return out, manifest


def test_sweep_status_with_damaged_files_and_its_exit_status(tmp_path):
    out, manifest = make_sweep(tmp_path, bytes(range(256)) * 8)
    result = run_command("sweep.py", "--status", out)
    assert result.escaped is None and result.code == 1, result   # not done: 1, as documented
    assert "1 of 1 runs are not done" in result.lines[-1]
    manifest["runs"]["seed=1"]["settings"] = "edited"
    (out / "sweep.json").write_text(json.dumps(manifest))
    assert "was it edited?" in one_line("sweep.py", "--status", out)


def test_sweep_refuses_a_training_run_as_out_and_bad_grid_values(runs):
    assert "holds a training run, not a sweep" in one_line(
        "sweep.py", "sine-generator", "--seeds", "1", "--out", runs["sine"])
    assert "--seeds: must be an integer in [0, 4294967295]" in one_line(
        "sweep.py", "sine-generator", "--seeds", "-1", "--out", runs["base"] / "sw")
    for item, message in (("lr=nan", "--grid lr=nan: must be a finite number"),
                          ("num_layers=abc", "--grid num_layers=abc: invalid int value")):
        assert message in one_line("sweep.py", "sine-generator", "--grid", item,
                                   "--out", runs["base"] / "sw")
    assert not (runs["base"] / "sw").exists()


def test_a_config_with_a_huge_integer_or_deep_nesting_is_one_line(tmp_path):
    for text in ('{"lr": %d}' % 10 ** 400, "[" * 50000 + "]" * 50000):
        (tmp_path / "c.json").write_text(text)
        one_line("sine-generator/train.py", "-c", tmp_path / "c.json", cwd=tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["c.json"]



def test_a_train_py_run_through_a_link_finds_its_task_files(tmp_path):
    """A link to a train.py (in ~/bin, say) looked for data.py beside the
    link: a traceback."""
    link = tmp_path / "sine-train"
    link.symlink_to(ROOT / "sine-generator" / "train.py")
    result = subprocess.run([sys.executable, str(link), "--help"], capture_output=True,
                            text=True, env=ENV)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
