"""check_robustness.py runs a command under math-library settings and seeds;
--portable_numerics gives the same history whatever the libraries may use."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from conftest import ROOT, TINY_SINE, run_script, together
from attractors.robustness import MATH_VARIABLES

TINY = ["--epochs", "3", "--seq_len", "20", "--n_sequences", "4", "--batch_size", "2",
        "--hidden_size", "8", "--interval_orbit", "1", "--seq_len_orbit", "30",
        "--burnout_orbit", "20", "--n_sequences_orbit", "2"]


def test_check_robustness_runs_every_setting_and_seed(tmp_path):
    out = tmp_path / "check"
    args = ["sine-generator", "--out", out, "--seeds", "3", "--settings", "default", "avx2",
            "--jobs", "2", "--expect", "oscillation", "--threshold", "0.3", "--", *TINY]
    result = run_script("check_robustness.py", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[2/2]" in result.stdout and "Wrote" in result.stdout
    table = pd.read_csv(out / "robustness.csv")
    assert list(table["setting"]) == ["default", "avx2"] and list(table["seed"]) == [3, 3]
    assert all(len(letters) == 10 and set(letters) <= set("FPQCfpqc")
               for letters in table["final"])   # one letter per orbit frequency
    assert table["verdict"].str.startswith("no: ").all()   # 3 epochs: nothing is born
    assert (out / "avx2" / "seed3" / "history.csv").is_file()
    again = run_script("check_robustness.py", *args)
    assert again.returncode == 0 and again.stdout.count("(reused)") == 2


def test_a_column_history_csv_lacks_is_refused_after_the_first_epoch(tmp_path):
    # 1000 epochs of about 0.05 s: refused within seconds, not after the training
    args = ["sine-generator", "--out", tmp_path / "c", "--seeds", "1", "--settings", "default",
            "--column", "loss", "--column", "accuracy", "--", *TINY[2:], "--epochs", "1000"]
    start = time.monotonic()
    result = run_script("check_robustness.py", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "check_robustness.py: error: --column accuracy: history.csv has no such column "
        "(it has epoch, loss)"]
    assert time.monotonic() - start < 40
    lines = (tmp_path / "c" / "default" / "seed1" / "history.csv").read_text().splitlines()
    assert 1 < len(lines) < 1001   # the training stopped after its epoch


REFUSED = [
    (["--", "--seed", "4"], "--seed cannot be given after --: give the seeds with --seeds"),
    (["--", "--folder", "x"], "--folder cannot be given after --"),
    (["--", "--population", "2"], "--population cannot be given after --: each run is one seed"),
    (["--", "--no_such_option", "1"], "unknown option --no_such_option"),
    (["--", "--help"], "--help after --: the options after -- are those of sine-generator/train.py"),
    (["--jobs", "0"], "argument --jobs: must be an integer in [1, 4096], got '0'"),
    (["--settings", "avx9"], "invalid choice: 'avx9'"),
    (["--seeds", "1", "1"], "--seeds repeats a value: 1 1"),     # they shared a folder
    (["--out", "{run}"], "holds a training run (model.pth)"),
    (["--settings", "avx2", "avx2"], "--settings repeats a value"),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """For each case of REFUSED: its scratch folder and the finished command
    (the commands run together). Each folder holds a run's folder, which
    the runs of the check went inside."""
    cases = []
    for args, _ in REFUSED:
        base = tmp_path_factory.mktemp("refused")
        run = base / "run"
        run.mkdir()
        (run / "model.pth").write_bytes(b"")
        args = [str(run) if a == "{run}" else a for a in args]
        cases.append((base, ["sine-generator", "--out", base / "c", *args]))
    results = together(*[lambda args=args: run_script("check_robustness.py", *args)
                         for _, args in cases])
    return [(base, result) for (base, _), result in zip(cases, results)]


@pytest.mark.parametrize("index", range(len(REFUSED)),
                         ids=[f"args{k}-{m}" for k, (_, m) in enumerate(REFUSED)])
def test_check_robustness_refuses_bad_input_in_one_line(refused, index):
    base, result = refused[index]
    message = REFUSED[index][1]
    assert result.returncode == 2
    assert result.stderr.startswith("check_robustness.py: error:") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (base / "c").exists() and os.listdir(base / "run") == ["model.pth"]


def train_history(tmp_path, name, limits, *extra):
    """history.csv of a tiny sine run under the environment ``limits``."""
    env = {k: v for k, v in os.environ.items() if k not in MATH_VARIABLES}
    env.update(limits, PYTHONPATH=str(ROOT))
    folder = tmp_path / name
    subprocess.run([sys.executable, str(ROOT / "sine-generator" / "train.py"), *TINY,
                    "--threads", "1", "--folder", str(folder), *extra],
                   env=env, check=True, capture_output=True)
    return (folder / "history.csv").read_bytes()


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="--portable_numerics pins the libraries to AVX2")
def test_portable_numerics_gives_the_same_history_under_any_instruction_limits(tmp_path):
    low = {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41",
           "ATEN_CPU_CAPABILITY": "default"}
    plain, plain_low, *portable = together(
        lambda: train_history(tmp_path, "plain", {}),
        lambda: train_history(tmp_path, "plain-low", low),
        *[lambda k=k, limits=limits: train_history(tmp_path, f"portable{k}", limits,
                                                   "--portable_numerics")
          for k, limits in enumerate([{}, low])])
    # the control: without the option, these limits change the numbers
    assert plain != plain_low
    assert portable[0] == portable[1]


def test_portable_numerics_needs_a_process_of_its_own(sine, tmp_path, capsys):
    from attractors.options import UsageError
    with pytest.raises(UsageError, match="must be given on the command line"):
        sine.train.main(TINY_SINE + ["--portable_numerics", "--folder", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_portable_numerics_abbreviated_restarts_too():
    """argparse takes --portable for --portable_numerics; the restart then
    said the option was not on the command line."""
    result = run_script("sine-generator/train.py", "--portable", "--help")
    assert result.returncode == 0 and "--portable_numerics" in result.stdout, result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_check_alone_stops_its_trainings(tmp_path, signum):
    """kill -INT (or -TERM) of check_robustness.py from another terminal:
    its train.py processes stop too, and it ends with one line, exit 130."""
    out = tmp_path / "check"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "check_robustness.py"), "sine-generator", "--out", str(out),
         "--seeds", "1", "--settings", "default", "--", "--epochs", "1000", "--seq_len", "50",
         "--n_sequences", "200", "--hidden_size", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    log, deadline = out / "default" / "seed1.log", time.monotonic() + 90
    while not (log.is_file() and "epoch 1/" in log.read_text()):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.2)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip().splitlines() == [
        "check_robustness.py: interrupted"], err
    assert "stopped by SIGTERM after epoch" in log.read_text()
    assert not (out / "default" / "seed1.pid").exists()
