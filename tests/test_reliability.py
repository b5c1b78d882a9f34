"""Resume, atomic files, interruptions, non-finite losses, refusing to
overwrite, and untrusted checkpoints (shared core, through the sine task)."""
import argparse
import os
import signal
import subprocess
import sys
import time

import pytest

from attractors.options import UsageError
import torch

from conftest import ROOT, TINY_SINE, load_script
from attractors.run_files import (atomic_write, capture_rng_state, load_verified,
                                  restore_rng_state, save_torch)
from attractors.training import TrainingStopped

RESUMABLE = TINY_SINE + ["--milestones", "2", "4", "--gamma", "0.5", "--interval_save_orbit", "2"]


def files_of(folder):
    history = open(os.path.join(folder, "history.csv")).read()
    model = torch.load(os.path.join(folder, "model.pth"), weights_only=True)
    orbit = torch.load(os.path.join(folder, "orbit_per_epoch_diagram.pth"), weights_only=True)
    return history, model, orbit


def assert_same_run(a, b):
    (history_a, model_a, orbit_a), (history_b, model_b, orbit_b) = files_of(a), files_of(b)
    assert history_a == history_b
    assert model_a["epoch"] == model_b["epoch"]
    for key, value in model_a["model"].items():
        other = model_b["model"][key]
        assert (torch.equal(value, other) if torch.is_tensor(value) else value == other), key
    assert torch.equal(orbit_a["trajectory"], orbit_b["trajectory"])


def test_stopped_and_resumed_equals_uninterrupted(sine, tmp_path):
    whole = sine.train.main(RESUMABLE + ["--epochs", "6", "--folder", str(tmp_path / "whole")])
    part = str(tmp_path / "part")
    sine.train.main(RESUMABLE + ["--epochs", "3", "--folder", part])
    sine.train.main(["--resume", part, "--epochs", "6"])
    assert_same_run(whole, part)
    config = "train.pyconfig.json"   # the resumed run's config gives its 6 epochs
    assert open(os.path.join(part, config)).read() == open(os.path.join(whole, config)).read()


def test_a_checkpoint_of_the_previous_layout_resumes_bit_for_bit(sine, tmp_path):
    """The previous version stored the checkpoint serialised again, as bytes."""
    import hashlib
    import io
    whole = sine.train.main(RESUMABLE + ["--epochs", "6", "--folder", str(tmp_path / "whole")])
    part = str(tmp_path / "part")
    sine.train.main(RESUMABLE + ["--epochs", "3", "--folder", part])
    path = os.path.join(part, "checkpoint.pth")
    buffer = io.BytesIO()
    torch.save(load_verified(path), buffer)
    payload = buffer.getvalue()
    torch.save({"sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}, path)
    sine.train.main(["--resume", part, "--epochs", "6"])
    assert_same_run(whole, part)
    assert "payload" not in torch.load(path, weights_only=True)     # written anew


def test_resume_with_dropout_rng_and_checkpoint_interval(sine, tmp_path):
    args = RESUMABLE + ["--rnn_type", "dtriv", "--K", "3"]
    whole = sine.train.main(args + ["--epochs", "5", "--folder", str(tmp_path / "whole")])
    part = str(tmp_path / "part")
    sine.train.main(args + ["--epochs", "2", "--folder", part])
    sine.train.main(["--resume", part, "--epochs", "5", "--checkpoint_interval", "2"])
    assert_same_run(whole, part)


@pytest.mark.parametrize("earlier", [False, True])
def test_random_states_restore_and_earlier_checkpoints_python_state_as_a_list(earlier):
    import random
    state = capture_rng_state()
    expected = [random.random(), torch.rand(2).tolist()]
    if earlier:   # how versions before this one stored Python's state
        state["python"]["internal"] = state["python"]["internal"].tolist()
    restore_rng_state(state)
    assert [random.random(), torch.rand(2).tolist()] == expected


@pytest.mark.parametrize("args, message", [
    (["--resume", "{missing}"], "--resume: no such folder"),
    (["--resume", "{run}", "--lr", "0.5", "--epochs", "9"], "settings other than the run's: lr"),
    (["--resume", "{run}"], "already finished its 3 epochs"),
    (["--resume", "{run}", "-c", "x.json"], "drop --config"),
    (["--folder", "{run}"], "already holds a run"),
])
def test_bad_resume_or_folder_is_refused_and_changes_nothing(sine, tmp_path, args, message):
    run = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    before = {name: open(os.path.join(run, name), "rb").read() for name in os.listdir(run)}
    args = [a.format(run=run, missing=tmp_path / "missing") for a in args]
    with pytest.raises(sine.train.UsageError, match=message):
        sine.train.main(args)
    after = {name: open(os.path.join(run, name), "rb").read() for name in os.listdir(run)}
    assert before == after


def test_overwrite_allows_reusing_a_folder(sine, tmp_path):
    run = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    no_orbit = TINY_SINE + ["--interval_orbit", "-1"]   # the last value wins
    sine.train.main(no_orbit + ["--epochs", "2", "--folder", run, "--overwrite"])
    assert open(os.path.join(run, "history.csv")).read().count("\n") == 3
    assert not os.path.exists(os.path.join(run, "orbit_per_epoch_diagram.pth"))  # not stale


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "model.pth"
    save_torch({"a": torch.ones(3)}, path)

    def broken(f):
        f.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(3))
    assert os.listdir(tmp_path) == ["model.pth"]  # no temporary file left behind


def nan_after(calls, monkeypatch, module):
    """Make the sine loss NaN from the ``calls``-th batch on."""
    real = module.F.mse_loss
    count = {"n": 0}

    def loss(*args, **kwargs):
        count["n"] += 1
        value = real(*args, **kwargs)
        return value * float("nan") if count["n"] > calls else value
    monkeypatch.setattr(module.F, "mse_loss", loss)


def test_nan_stops_with_the_last_good_checkpoint(sine, tmp_path, monkeypatch):
    nan_after(5, monkeypatch, sine.train)    # 2 batches per epoch: NaN in epoch 2
    folder = str(tmp_path / "run")
    with pytest.raises(TrainingStopped) as info:
        sine.train.main(TINY_SINE + ["--epochs", "5", "--folder", folder])
    assert info.value.code == 3
    message = str(info.value)
    assert "the loss became nan in epoch 2" in message and "(epoch 1)" in message
    assert "--resume" in message
    weights = torch.load(os.path.join(folder, "model.pth"), weights_only=True)["model"]
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert load_verified(os.path.join(folder, "checkpoint.pth"))["epoch"] == 1


def test_nan_skip_drops_the_update_and_counts_it(sine, tmp_path, monkeypatch):
    nan_after(5, monkeypatch, sine.train)
    folder = sine.train.main(TINY_SINE + ["--epochs", "4", "--on_nan", "skip",
                                          "--folder", str(tmp_path / "run")])
    import pandas as pd
    history = pd.read_csv(os.path.join(folder, "history.csv"), index_col=0)
    assert list(history["skipped batches"]) == [0, 0, 1, 2]
    weights = load_verified(os.path.join(folder, "checkpoint.pth"))["model"]
    assert all(torch.isfinite(w).all() for w in weights.values())


def start_long_run(folder):
    args = TINY_SINE + ["--epochs", "100000", "--folder", str(folder)]
    return subprocess.Popen([sys.executable, str(ROOT / "sine-generator" / "train.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(folder, rows, timeout=60):
    path = folder / "history.csv"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().count("\n") > rows:
            return
        time.sleep(0.05)
    raise AssertionError("the run did not start in time")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_a_checkpoint_and_says_how_to_resume(tmp_path, signum):
    folder = tmp_path / "run"
    process = start_long_run(folder)
    wait_for_rows(folder, 3)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "--resume" in err and "Traceback" not in err
    checkpoint = load_verified(folder / "checkpoint.pth")
    rows = (folder / "history.csv").read_text().count("\n") - 1
    assert checkpoint["epoch"] == rows - 1
    assert torch.load(folder / "orbit_per_epoch_diagram.pth", weights_only=True)["trajectory"].shape[-1] == rows


def test_second_ctrl_c_stops_at_once_and_leaves_loadable_files(sine, tmp_path):
    folder = tmp_path / "run"
    process = start_long_run(folder)
    wait_for_rows(folder, 3)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    # Either both reached Python at once (it stops after the epoch) or the
    # second found the default action in place (stopped by the signal).
    assert process.returncode in (130, -signal.SIGINT) and "Traceback" not in err
    for name in ("checkpoint.pth", "model.pth"):
        torch.load(folder / name, weights_only=True)
    rows = (folder / "history.csv").read_text().count("\n") - 1
    sine.train.main(["--resume", str(folder), "--epochs", str(rows + 1)])   # resumable
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_second_ctrl_c_does_not_wait_for_a_long_step(tmp_path):
    """Epochs of 100000 steps take seconds, mostly inside single PyTorch
    calls; once the first Ctrl-C has been seen, the second ends the process
    without waiting for the epoch to end."""
    args = ["--seq_len", "100000", "--n_sequences", "2", "--batch_size", "2",
            "--hidden_size", "128", "--epochs", "1000", "--folder", str(tmp_path / "run"),
            "--threads", "1"]
    process = subprocess.Popen([sys.executable, str(ROOT / "sine-generator" / "train.py"), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ends = []
    while len(ends) < 2:                            # the time an epoch takes
        assert process.stdout.readline().startswith("epoch"), process.stderr.read()
        ends.append(time.time())
    epoch = ends[1] - ends[0]
    process.send_signal(signal.SIGINT)
    line = process.stdout.readline()                # printed once Python has seen it
    assert "stopping after epoch" in line, line
    start = time.time()
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=120)[1]
    assert process.returncode == 130 and err.count("\n") == 1
    assert "stopped at once by SIGINT" in err and "--resume" in err
    assert time.time() - start < epoch / 2, (time.time() - start, epoch)


def test_a_failed_write_is_one_line_and_keeps_the_last_checkpoint(sine, tmp_path):
    """A full disk, simulated by a file-size limit: the checkpoint write fails,
    the user gets one line, and the previous checkpoint stays whole."""
    import resource
    folder = tmp_path / "run"
    sine.train.main(TINY_SINE + ["--epochs", "2", "--folder", str(folder)])
    before = (folder / "checkpoint.pth").read_bytes()

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, len(before) // 2))
    result = subprocess.run([sys.executable, str(ROOT / "sine-generator" / "train.py"),
                             "--resume", str(folder), "--epochs", "4"],
                            capture_output=True, text=True, preexec_fn=small_files)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "File too large" in result.stderr
    assert (folder / "checkpoint.pth").read_bytes() == before
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


def _obey_permissions():
    """In a child process: root loses its right to ignore file permissions
    (dropped from the bounding set, so also after exec), as any user lacks it."""
    if os.geteuid() == 0:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):                  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            libc.prctl(24, capability, 0, 0, 0)    # PR_CAPBSET_DROP


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "new folder inside"])
def test_a_read_only_folder_is_one_line_and_changes_nothing(sine, tmp_path, resume):
    folder = tmp_path / "run"
    sine.train.main(TINY_SINE + ["--epochs", "2", "--folder", str(folder)])
    before = {n: (folder / n).read_bytes() for n in os.listdir(folder)}
    os.chmod(folder, 0o555)
    try:
        probe = subprocess.run([sys.executable, "-c", f"open({str(folder / 'probe')!r}, 'w')"],
                               preexec_fn=_obey_permissions, capture_output=True)
        if probe.returncode == 0:
            pytest.skip("this machine lets the tests write into a read-only folder")
        args = (["--resume", str(folder), "--epochs", "4"] if resume
                else TINY_SINE + ["--folder", str(folder / "new")])
        result = subprocess.run([sys.executable, str(ROOT / "sine-generator" / "train.py"), *args],
                                capture_output=True, text=True, preexec_fn=_obey_permissions)
    finally:
        os.chmod(folder, 0o755)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and (
        "Permission denied" in result.stderr or "is not writable" in result.stderr)
    assert before == {n: (folder / n).read_bytes() for n in os.listdir(folder)}


# ------------------------------------------------------------ checksummed files
def test_checksum_finds_a_change_inside_a_tensor(tmp_path):
    from attractors.run_files import RunFolderError, save_verified
    path = tmp_path / "c.pth"
    save_verified({"epoch": 3, "weights": torch.arange(100000, dtype=torch.float32)}, path)
    assert torch.equal(load_verified(path)["weights"], torch.arange(100000.0))
    data = bytearray(path.read_bytes())
    at = data.index(torch.tensor([50000.0]).numpy().tobytes())   # one stored float
    data[at:at + 4] = torch.tensor([-1.0]).numpy().tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(RunFolderError, match="do not match their checksum"):
        load_verified(path)


def test_checksummed_file_is_plain_and_costs_no_serialised_copy(tmp_path):
    """The file is an ordinary torch file (with a "sha256" key) of about the
    size of its tensors; writing it makes no Python copy of its contents (the
    earlier layout stored the file serialised again, as text)."""
    import tracemalloc
    from attractors.run_files import save_verified
    weights = torch.randn(2 ** 21)                     # 8 MiB
    path = tmp_path / "c.pth"
    tracemalloc.start()
    save_verified({"model": {"w": weights}}, path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 ** 20, peak
    assert path.stat().st_size < 1.01 * weights.numel() * 4
    plain = torch.load(path, weights_only=True)
    assert set(plain) == {"model", "sha256"} and torch.equal(plain["model"]["w"], weights)


def test_checkpoint_of_the_earlier_wrapped_layout_still_loads(tmp_path):
    import hashlib
    import io
    from attractors.run_files import RunFolderError
    buffer = io.BytesIO()
    torch.save({"epoch": 2, "w": torch.ones(3)}, buffer)
    payload = buffer.getvalue()
    path = tmp_path / "old.pth"
    torch.save({"sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}, path)
    assert load_verified(path)["epoch"] == 2
    torch.save({"sha256": "0" * 64, "payload": payload}, path)
    with pytest.raises(RunFolderError, match="do not match their checksum"):
        load_verified(path)


def test_content_digest_tells_types_and_order_apart():
    import numpy as np
    from attractors.run_files import content_digest
    same = content_digest({"a": torch.ones(2), "b": [1, 2.5, None]})
    assert same == content_digest({"a": torch.ones(2), "b": [1, 2.5, None]})
    others = [{"b": [1, 2.5, None], "a": torch.ones(2)}, {"a": torch.ones(2), "b": (1, 2.5, None)},
              {"a": torch.ones(2, dtype=torch.float64), "b": [1, 2.5, None]},
              {"a": torch.ones(1, 2), "b": [1, 2.5, None]}, {"a": torch.ones(2), "b": [1.0, 2.5, None]},
              {"a": torch.ones(2), "b": [True, 2.5, None]}, {"a": np.ones(2), "b": [1, 2.5, None]}]
    assert len({same, *map(content_digest, others)}) == 1 + len(others)
    assert content_digest(torch.ones(4, 4).t()) == content_digest(torch.ones(4, 4))
    with pytest.raises(TypeError, match="cannot checksum"):
        content_digest({"x": object()})
