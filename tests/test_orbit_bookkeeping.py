"""Orbit samples are written once, to an append-only file; the checkpoint
only counts them, so its size does not grow with the run, and a
run killed at any moment resumes bit-identically, orbit file included."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, TINY_SINE
from attractors.orbit import OrbitRecorder, SamplesFile
from attractors.run_files import load_checkpoint_file

# A sample of 200 steps x 2 states x 4 frequencies x 1 output: 6.4 kB.
BIG_SAMPLES = TINY_SINE + ["--seq_len_orbit", "210", "--burnout_orbit", "10"]


def test_checkpoint_size_does_not_depend_on_the_number_of_samples(sine, tmp_path):
    sizes = {}
    for epochs in (3, 8):
        folder = sine.train.main(BIG_SAMPLES + ["--epochs", str(epochs),
                                                "--folder", str(tmp_path / f"e{epochs}")])
        sizes[epochs] = os.path.getsize(os.path.join(folder, "checkpoint.pth"))
        checkpoint = load_checkpoint_file(folder)
        assert checkpoint["orbit"]["n_samples"] == epochs and "samples" not in checkpoint["orbit"]
        assert len(SamplesFile(os.path.join(folder, "orbit_samples.bin"))) == epochs
    one_sample = 200 * 2 * 4 * 4
    # Only the five more history lines (a few bytes each) may differ.
    assert abs(sizes[8] - sizes[3]) < one_sample / 10, sizes


def test_samples_file_round_trip_and_truncation(tmp_path):
    path = str(tmp_path / "s.bin")
    f = SamplesFile.create(path)
    assert len(f) == 0 and f.read() == []
    samples = [torch.randn(3, 4, 2) for _ in range(5)]
    for s in samples:
        f.append(s)
    again = SamplesFile(path)
    assert len(again) == 5 and all(torch.equal(a, b) for a, b in zip(again.read(), samples))
    again.truncate(2)
    assert len(SamplesFile(path)) == 2


def test_old_checkpoint_with_samples_still_resumes(tmp_path):
    gru = torch.nn.GRU(1, 3)
    recorder = OrbitRecorder(gru, torch.ones(2, 1), 2, 6, 2)
    recorder.record()
    recorder.record()
    old = recorder.state_dict()                      # no file: the samples themselves
    assert old["samples"].shape[-1] == 2
    other = OrbitRecorder(gru, torch.ones(2, 1), 2, 6, 2)
    other.load_state_dict(old)
    other.attach(str(tmp_path / "s.bin"))            # written into the new file
    assert len(SamplesFile(str(tmp_path / "s.bin"))) == 2
    assert other.state_dict()["n_samples"] == 2


def test_killed_run_resumes_bit_identically_orbit_file_included(sine, tmp_path):
    folder = tmp_path / "killed"
    args = TINY_SINE + ["--interval_save_orbit", "1000"]
    process = subprocess.Popen([sys.executable, str(ROOT / "sine-generator" / "train.py"), *args,
                                "--epochs", "100000", "--folder", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        history = folder / "history.csv"
        while time.time() < deadline:
            if history.exists() and history.read_text().count("\n") > 4:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the run did not start in time")
    finally:
        process.send_signal(signal.SIGKILL)          # no handler, no last checkpoint
        process.wait(timeout=60)
    done = load_checkpoint_file(str(folder))["epoch"] + 1
    epochs = str(done + 3)
    sine.train.main(["--resume", str(folder), "--epochs", epochs])
    whole = sine.train.main(args + ["--epochs", epochs, "--folder", str(tmp_path / "whole")])
    for name in ("history.csv", "orbit_per_epoch_diagram.pth", "orbit_samples.bin"):
        a, b = (folder / name).read_bytes(), (tmp_path / "whole" / name).read_bytes()
        if name.endswith(".pth"):
            a = torch.load(folder / name, weights_only=True)
            b = torch.load(tmp_path / "whole" / name, weights_only=True)
            assert a["frequency"] == b["frequency"]
            assert torch.equal(a["trajectory"], b["trajectory"])
            assert a["trajectory"].shape[-1] == int(epochs)
        else:
            assert a == b, name
    model_a = torch.load(folder / "model.pth", weights_only=True)["model"]
    model_b = torch.load(tmp_path / "whole" / "model.pth", weights_only=True)["model"]
    assert all(torch.equal(model_a[k], model_b[k]) for k in model_a)


def test_damaged_samples_file_is_refused_on_resume(sine, tmp_path, capsys):
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    path = tmp_path / "run" / "orbit_samples.bin"
    data = bytearray(path.read_bytes())
    data[-8:] = b"\x00\x00\xc0\x7f" * 2                  # two samples' values become NaN
    path.write_bytes(bytes(data))
    with pytest.raises(SystemExit) as e:
        sine.train.run_cli(sine.train.main, ["--resume", folder, "--epochs", "5"])
    assert e.value.code == 2
    assert "orbit_samples.bin is damaged" in capsys.readouterr().err
