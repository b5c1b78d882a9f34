"""How a run stops on signals (attractors/stopping.py, Trainer.epochs): a
scheduler's burst of signals asks once and the epoch is kept; a deliberate
second signal stops at once, in one line, exit status 130, also while the
process exits; SIGUSR2 asks like SIGTERM unless it was ignored; the language
model stops within its epoch and resumes from there bit for bit."""
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from attractors.run_files import load_checkpoint_file
from attractors.stopping import BURST_S
from attractors.training import Trainer, TrainingStopped
from conftest import ROOT, load_script, task_files

SINE = ROOT / "sine-generator" / "train.py"
# Epochs of 100 short steps (about 0.4 s here): Python runs a signal
# handler within milliseconds, as in a real run. LONG: epochs of 4 s.
SLOW = ["--seq_len", "1000", "--n_sequences", "100", "--batch_size", "1", "--hidden_size", "32",
        "--epochs", "1000", "--threads", "1"]
LONG = [*SLOW[:2], "--n_sequences", "1000", *SLOW[4:]]


def start(folder, *extra, preexec_fn=None, argv=None, options=SLOW):
    command = argv or [str(SINE)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *command, *options, "--folder", str(folder), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=preexec_fn)


def wait_for_epoch(process):
    line = process.stdout.readline()
    assert line.startswith("epoch "), line + process.stderr.read()


def wait_for_line(stream, text):
    """Read ``stream`` up to a line holding ``text`` (epoch lines come between)."""
    for line in stream:
        if text in line:
            return line
    raise AssertionError(f"no line with {text!r}")


def rows(folder):
    return (folder / "history.csv").read_text().count("\n") - 1


def test_a_schedulers_burst_of_signals_asks_once(tmp_path):
    """Slurm preempting a job: SIGTERM, SIGCONT, SIGTERM within milliseconds.
    The run ends its epoch, writes the checkpoint and exits with 130."""
    folder = tmp_path / "run"
    process = start(folder)
    wait_for_epoch(process)
    for signum, pause in ((signal.SIGTERM, 0), (signal.SIGCONT, 0.1), (signal.SIGTERM, 0)):
        time.sleep(pause)
        process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "stopped by SIGTERM after epoch" in err and "at once" not in err.split("\n", 1)[1]
    assert load_checkpoint_file(folder)["epoch"] == rows(folder) - 1


def test_a_second_sigterm_well_after_the_first_stops_at_once(tmp_path):
    folder = tmp_path / "run"
    process = start(folder, options=LONG)
    wait_for_epoch(process)         # epoch 0's line: the loss before training
    time.sleep(0.5)                 # into epoch 1 (4 s), past epoch 0's checkpoint
    begun = time.monotonic()
    process.send_signal(signal.SIGTERM)
    # epoch 1 as a rule; a later one if this test read the first line late
    line = wait_for_line(process.stdout, "SIGTERM: stopping after epoch")
    epoch = int(line.split("after epoch")[1].split()[0])
    time.sleep(BURST_S + 0.3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err
    assert err.count("\n") == 1 and f"stopped at once by SIGTERM during epoch {epoch}" in err, err
    assert rows(folder) == epoch and load_checkpoint_file(folder)["epoch"] == epoch - 1
    assert time.monotonic() - begun < BURST_S + 1.5   # not at the end of the 4 s epoch


def test_second_ctrl_c_while_exiting_is_one_line(tmp_path):
    """The second Ctrl-C comes while the process exits after the first
    (here, during a slow exit handler): one line, exit status 130."""
    code = ("import atexit, runpy, sys, time\n"
            "atexit.register(time.sleep, 3)\n"
            f"sys.argv = [{str(SINE)!r}] + sys.argv[1:]\n"
            f"runpy.run_path({str(SINE)!r}, run_name='__main__')\n")
    folder = tmp_path / "run"
    process = start(folder, argv=["-c", code])
    wait_for_epoch(process)
    process.send_signal(signal.SIGINT)
    wait_for_line(process.stderr, "stopped by SIGINT after epoch")
    process.send_signal(signal.SIGINT)   # in the exit handler's sleep
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.count("\n") == 1 and "stopped at once by SIGINT" in err, err


def test_sigusr2_asks_to_stop_unless_it_was_ignored(tmp_path):
    """SIGUSR2 is Slurm's time-limit warning: it stops the run after its
    epoch. A sweep's train.py inherits it ignored (its job handles it)."""
    process = start(tmp_path / "a")
    wait_for_epoch(process)
    process.send_signal(signal.SIGUSR2)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "stopped by SIGUSR2 after epoch" in err, err

    process = start(tmp_path / "b",
                    preexec_fn=lambda: signal.signal(signal.SIGUSR2, signal.SIG_IGN))
    wait_for_epoch(process)
    process.send_signal(signal.SIGUSR2)
    wait_for_epoch(process)                 # still training
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "SIGUSR2" not in err, err


# -- the language model: a stop within its epoch ------------------------------------
@pytest.fixture
def signals_restored():
    """Trainer.epochs keeps its handlers after a stop (the process is
    exiting); these tests stop in-process, so put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
    signal.set_wakeup_fd(wakeup)


@pytest.fixture(scope="module")
def wlm():
    task = task_files("word-language-model")
    task.evaluation = load_script("word-language-model/evaluation.py")
    return task


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from test_word_language_model import write_corpus
    return write_corpus(tmp_path_factory.mktemp("wikitext"))


LM = ["--epochs", "3", "--batch_size", "4", "--seq_len", "12", "--embed_size", "8",
      "--hidden_size", "8", "--dropout", "0.1", "--verbose", "0", "--interval_orbit", "1",
      "--seq_len_orbit", "9", "--burnout_orbit", "3", "--n_sequences_orbit", "2",
      "--interval_save_orbit", "2", "--threads", "1"]


@pytest.mark.parametrize("epoch, where", [(1, "step"), (0, "step"), (1, "evaluation")])
def test_language_model_stops_within_its_epoch_and_resumes_bit_for_bit(
        wlm, corpus, tmp_path, monkeypatch, signals_restored, epoch, where):
    whole = wlm.train.main(LM + ["--data", str(corpus), "--folder", str(tmp_path / "whole")])
    stopped = str(tmp_path / "stopped")
    end_step, evaluate = Trainer.end_step, wlm.train.evaluation.evaluate

    def ask_at_step(self, step, **carry):   # as if SIGTERM came during window 5
        if self.epoch == epoch and step == 5:
            self.stop_requested = "SIGTERM"
        end_step(self, step, **carry)

    def ask_in_evaluation(model, source, seq_len, between):   # ... or during the validation
        trainer = between.__self__
        if trainer.epoch == epoch:
            trainer.stop_requested = "SIGTERM"
        return evaluate(model, source, seq_len, between)
    if where == "step":
        monkeypatch.setattr(Trainer, "end_step", ask_at_step)
    else:
        monkeypatch.setattr(wlm.train.evaluation, "evaluate", ask_in_evaluation)
    with pytest.raises(TrainingStopped, match=f"in epoch {epoch} after") as info:
        wlm.train.main(LM + ["--data", str(corpus), "--folder", stopped])
    assert info.value.code == 130
    saved = load_checkpoint_file(stopped)
    assert saved["epoch"] == epoch - 1 and saved["within"]["epoch"] == epoch
    source = wlm.data.batchify(wlm.data.load_corpus(str(corpus)).train, 4)
    last = math.ceil((source.size(0) - 1) / 12) - 1       # the epoch's last window
    assert saved["within"]["step"] == (5 if where == "step" else last)
    monkeypatch.undo()
    wlm.train.main(["--resume", stopped, "--data", str(corpus), "--verbose", "0",
                    "--threads", "1"])
    for name in ("history.csv", "model.pth", "orbit_per_epoch_diagram.pth"):
        assert open(os.path.join(whole, name), "rb").read() == \
            open(os.path.join(stopped, name), "rb").read(), name
    final = load_checkpoint_file(stopped)
    assert "within" not in final and final["epoch"] == 2
    assert all(torch.equal(a, b) for a, b in
               zip(final["model"].values(), load_checkpoint_file(whole)["model"].values()))


def test_sigterm_before_the_epochs_is_one_line_and_writes_nothing(tmp_path):
    """SIGTERM while train.py imports (before the run's own handlers): as a
    Ctrl-C, one line and exit status 130, not a silent death by the signal."""
    folder = tmp_path / "run"
    process = start(folder)
    time.sleep(0.8)     # past the project's first import, within torch's (about 1.5 s)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip().splitlines() == ["train.py: interrupted"], err
    assert not folder.exists()
