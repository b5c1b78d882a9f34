"""The original code's files and habits: its configs, pickled model files,
orbit-plot indices and per-epoch log lines."""
import argparse
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, TINY_SINE, load_script, task_files, together
from test_sequence_classification import TINY as TINY_ORDER
from test_word_language_model import TINY as TINY_LM, write_corpus


def pickled_like_the_original(folder):
    """Rewrite ``folder/model.pth`` as the original code saved it: the config as a
    pickled argparse.Namespace (so a safe load refuses it)."""
    path = os.path.join(folder, "model.pth")
    saved = torch.load(path, weights_only=True)
    del saved["sha256"]                           # the original wrote no checksum
    saved["config"] = argparse.Namespace(**saved["config"])
    torch.save(saved, path)


def script(relpath, *args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / relpath), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_original_temporal_order_config_with_a_number_runs(tmp_path):
    order = task_files("sequence-classification")
    config = order.train.parse(TINY_ORDER)[0]
    config["position_symbols_len"] = 3            # what the original code saved
    path = tmp_path / "original.json"
    path.write_text(json.dumps(config))
    folder = order.train.main(["-c", str(path), "--folder", str(tmp_path / "run")])
    saved = json.loads((tmp_path / "run" / "train.pyconfig.json").read_text())
    assert saved["position_symbols_len"] == [3]
    assert os.path.isfile(os.path.join(folder, "model.pth"))


def test_a_log_file_gets_one_plain_line_per_epoch(tmp_path):
    result = script("sine-generator/train.py", *TINY_SINE, "--folder", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "loss" in lines[0] and "\r" not in result.stdout + result.stderr


def test_every_model_reader_takes_trust_pickle(sine, tmp_path):
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "sine")])
    pickled_like_the_original(folder)
    cases = [("analyse_attractors.py", ["--n_starts", "2", "--steps", "30", "--record", "10",
                                        "--lyapunov_steps", "5", "-o", tmp_path / "att"]),
             ("analyse_smoothness.py", ["--seq_lens", "5", "--n_points", "5",
                                        "--no_curvature", "-o", tmp_path / "s.png"]),
             ("sine-generator/plot_generated.py", ["-o", tmp_path / "g.png"])]
    refused = together(*[lambda r=r, e=e: script(r, folder, *e) for r, e in cases])
    for (relpath, _), result in zip(cases, refused):
        assert result.returncode != 0 and "--trust_pickle" in result.stderr, relpath
        assert "weights_only" not in result.stderr
    # after the refusals, which must not have written the outputs the trusted runs write
    trusted = together(*[lambda r=r, e=e: script(r, folder, *e, "--trust_pickle")
                         for r, e in cases])
    for (relpath, _), result in zip(cases, trusted):
        assert result.returncode == 0, (relpath, result.stderr)


def test_generate_takes_trust_pickle(tmp_path, capsys):
    wlm = task_files("word-language-model")
    corpus = write_corpus(tmp_path / "corpus")
    folder = wlm.train.main(TINY_LM + ["--data", str(corpus), "--folder", str(tmp_path / "lm")])
    pickled_like_the_original(folder)
    generate = load_script("word-language-model/generate.py")
    with pytest.raises(SystemExit):
        generate.run_cli(generate.main, [folder, "--data", str(corpus), "--words", "3"])
    capsys.readouterr()
    generate.main([folder, "--data", str(corpus), "--words", "3", "--trust_pickle"])
    assert len(capsys.readouterr().out.split()) >= 3


@pytest.fixture
def orbit_file(tmp_path):
    """Six samples taken every 5 epochs, sample k holding the value k."""
    trajectory = torch.arange(6.0).expand(4, 1, 1, 1, 6).contiguous()
    path = tmp_path / "orbit.pth"
    torch.save({"frequency": 5, "trajectory": trajectory}, path)
    return path


@pytest.mark.parametrize("ie, fe, epochs", [
    (0, -1, [5, 30]),      # the default: every sample
    (0, 3, [5, 15]),       # -fe is excluded
    (2, 100, [15, 30]),    # past the end: the end
    (1, -7, [10, 30]),     # negative: through the last sample
])
def test_initial_and_final_epoch_mean_what_they_meant(orbit_file, ie, fe, epochs):
    import matplotlib.pyplot as plt
    from attractors.plotting import plot_orbit
    from attractors.run_files import load_orbit_file
    trajectory, interval = load_orbit_file(orbit_file)
    fig, ax = plt.subplots()
    plot_orbit(ax, trajectory, interval, "orbit1d", initial=ie, final=fe)
    x = ax.collections[0].get_offsets()[:, 0]
    assert [x.min(), x.max()] == epochs
    plt.close(fig)


def test_model_file_keeps_the_original_keys(sine, tmp_path):
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "orbit")])
    saved = torch.load(os.path.join(folder, "model.pth"), weights_only=True)
    assert {"epoch", "model", "model_kwargs", "optimizer", "config", "experiment_name",
            "state", "total_loss"} <= set(saved)
    h, c = saved["state"]                               # the orbit's initial states
    assert h.shape == c.shape == (1, 2 * 10, 8) and 50 < float(h.std()) < 200
    no_orbit = TINY_SINE[:TINY_SINE.index("--interval_orbit")]
    folder = sine.train.main(no_orbit + ["--folder", str(tmp_path / "plain")])
    assert torch.load(os.path.join(folder, "model.pth"), weights_only=True)["state"] is None


def test_original_exprnn_model_file_through_the_scripts(sine, tmp_path):
    """An original exprnn sine model.pth (original keys, pickled config) loads
    in the scripts and computes what the original formula computes."""
    from attractors.tasks import load_run
    from test_exprnn_original import HIDDEN, original_B, original_outputs, original_state_dict
    folder = sine.train.main(TINY_SINE + ["--rnn_type", "exprnn", "--hidden_size", str(HIDDEN),
                                          "--folder", str(tmp_path / "run")])
    ours = torch.load(os.path.join(folder, "model.pth"), weights_only=True)
    A = 0.3 * torch.randn(HIDDEN, HIDDEN, generator=torch.Generator().manual_seed(5))
    ours["model"] = original_state_dict(A)
    torch.save(ours, os.path.join(folder, "model.pth"))
    pickled_like_the_original(folder)
    _, model, saved = load_run(folder, [str(ROOT)], trust_pickle=True)   # float64
    u = torch.full((30, 2, 1), 0.3, dtype=torch.float64)
    with torch.no_grad():
        out = model(u)[0].numpy()
    expected = original_outputs(saved["model"], original_B("exprnn", A, None), u)
    assert abs(out - expected).max() < 1e-9
    cases = [("sine-generator/plot_generated.py", ["-o", tmp_path / "g.png"]),
             ("analyse_attractors.py", ["--n_starts", "2", "--steps", "30", "--record", "10",
                                        "--lyapunov_steps", "5", "-o", tmp_path / "att"])]
    results = together(*[lambda r=r, e=e: script(r, folder, *e, "--trust_pickle")
                         for r, e in cases])
    for (relpath, _), result in zip(cases, results):
        assert result.returncode == 0, (relpath, result.stderr)
