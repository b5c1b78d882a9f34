import numpy as np
import pandas as pd
import pytest
import torch

from attractors import chaos as core
from attractors.smoothness import derivative_lipschitz, grid
from conftest import run_script

TINY = ["--attractor_steps", "60", "--burnout_attractor", "10", "--steps", "30", "--burnout", "10",
        "--n_points", "40", "--grid", "7", "6", "--levels", "5", "--dpi", "40"]
FIGURES = ["chaotic_lstm_attractor.png", "chaotic_lstm_bifurcation.png",
           "chaotic_lstm_loss_line.png", "chaotic_lstm_loss_slice.png"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The folder chaotic_lstm.py wrote with TINY, and the line and the slice
    it plotted: the script writes only figures, so they are recomputed here
    through attractors.chaos with the grids and sizes TINY gives the script."""
    folder = tmp_path_factory.mktemp("chaos")
    result = run_script("chaotic_lstm.py", *TINY, "-o", folder)
    assert result.returncode == 0, result.stderr
    s = grid(0.5, 2.0, 40, required=(1.0,))                     # --s_range default, --n_points
    line = s, core.line(s, 30, 10, 25000, torch.float32)[0]      # --steps, --burnout
    s1 = grid(0.0, 2.0, 7, required=(0.0, 1.0))                  # --s1_range default, --grid
    s2 = grid(-0.5, 0.5, 6, required=(0.0,))                     # --s2_range default
    R = core.random_weights(0, torch.float32)                    # --seed default
    losses = core.loss_slice(s1, s2, R, 30, 10, 25000, torch.float32)
    return folder, {"line": line, "slice": (s1, s2, losses)}


def test_writes_the_four_figures(tiny_run):
    folder, _ = tiny_run
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(FIGURES)
    assert all((folder / n).stat().st_size > 1000 for n in names)


def test_line_includes_one_and_has_its_minimum_there(tiny_run):
    _, results = tiny_run
    s, losses = results["line"]
    assert len(s) == 40 and s[0] == 0.5 and s[-1] == 2.0 and np.all(np.diff(s) > 0)
    one = int(np.flatnonzero(s == 1.0)[0])
    assert losses[one] == 0.0 and losses.min() == 0.0
    assert np.sum(losses == 0.0) == 1


def test_slice_grid_and_its_orientation(tiny_run):
    _, results = tiny_run
    s1, s2, losses = results["slice"]
    assert losses.shape == (len(s1), len(s2)) == (7, 6)
    assert 0.0 in s1 and 1.0 in s1 and 0.0 in s2
    i1, j0 = int(np.flatnonzero(s1 == 1.0)[0]), int(np.flatnonzero(s2 == 0.0)[0])
    assert losses[i1, j0] == 0.0
    # Each entry [i, j] is the point (s1[i], s2[j]); the old script wrote point k
    # into column k - 1, so its first point landed in the last column.
    W, R = core.chaotic_params(), core.random_weights(0)
    reference = core.simulate(W, 30, burnout=10)
    for i, j in [(0, 0), (len(s1) - 1, len(s2) - 1), (2, 4)]:
        point = {k: s1[i] * W[k] + s2[j] * R[k] for k in W}
        out = core.simulate(point, 30, burnout=10)
        expected = float(((out - reference) ** 2).mean())
        assert losses[i, j] == pytest.approx(expected, rel=1e-4, abs=1e-9)


def test_batched_line_equals_the_module_point_by_point():
    s = np.array([0.6, 0.9, 1.0, 1.3])
    losses, first = core.line(s, steps=25, burnout=5, chunk_size=3)  # chunks of 3: two chunks
    lstm = core.chaotic_lstm()
    h0 = torch.full((1, 1, 2), 0.5)
    outputs = []
    for value in s:
        with torch.no_grad():
            lstm.weight_hh_l0.copy_(value * torch.tensor(core.CHAOTIC_WEIGHT))
            out, _ = lstm(torch.zeros(25, 1, 1), (h0, h0))
        outputs.append(out[5:, 0])
    for k, out in enumerate(outputs):
        assert np.allclose(first[:, k], out[:, 0].numpy(), atol=1e-5)
        expected = float(((out - outputs[2]) ** 2).mean())   # s = 1 is the reference
        assert losses[k] == pytest.approx(expected, rel=1e-3, abs=1e-9)


def test_same_seed_same_direction():
    a, b, c = core.random_weights(3), core.random_weights(3), core.random_weights(4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["weight_hh_l0"], c["weight_hh_l0"])


def test_grid_keeps_its_size_and_includes_the_required_values():
    cases = [(0, 2, 150, (0.0, 1.0)), (-0.5, 0.5, 150, (0.0,)), (0.5, 2, 5000, (1.0,)),
             (0, 2, 2, (0.0, 1.0)), (0.9, 1.1, 3, (1.0,))]
    for lo, hi, n, required in cases:
        g = grid(lo, hi, n, required)
        assert g[0] == lo and g[-1] == hi and np.all(np.diff(g) > 0)
        assert all(r in g for r in required)
        assert len(g) in (n, n + 1)
    assert len(grid(0, 2, 150, (0.0, 1.0))) == 150


def printed_lipschitz(stdout):
    """The Lipschitz column of the table the smoothness scripts print
    (attractors.smoothness.format_results: T, Lipschitz, |L''(0)|, seconds)."""
    lines = stdout.splitlines()
    start = next(k for k, line in enumerate(lines) if "Lipschitz (grid)" in line) + 1
    rows = [line.split() for line in lines[start:] if line.strip()]
    return [int(r[0]) for r in rows], np.array([float(r[1]) for r in rows])


def test_smoothness_part(tmp_path):
    result = run_script("chaotic_lstm.py", "--parts", "smoothness", "--seq_lens", "5", "40",
                        "--smooth_points", "9", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "chaotic_lstm_smoothness.png").is_file()
    table = pd.read_csv(tmp_path / "chaotic_lstm_smoothness.csv")
    assert list(table["seq_len"]) == [5, 40]
    seq_lens, lipschitz = printed_lipschitz(result.stdout)   # printed with 4 digits
    assert seq_lens == [5, 40]
    assert np.allclose(table["lipschitz"], lipschitz, rtol=1e-3, atol=0)
    assert table["loss_at_s0"].abs().max() < 1e-20   # the model fits its own output
    curves = pd.read_csv(tmp_path / "chaotic_lstm_smoothness_curves.csv")
    assert list(curves.columns) == ["s", "loss_T5", "loss_T40"] and len(curves) == 9
    for seq_len, lip in zip(table["seq_len"], table["lipschitz"]):   # the estimate of its curve
        assert lip == pytest.approx(derivative_lipschitz(
            curves["s"].to_numpy(), curves[f"loss_T{seq_len}"].to_numpy()), rel=1e-9)


@pytest.mark.parametrize("args", [["--burnout", "300"], ["--s_range", "1.5", "2"],
                                  ["--grid", "1", "5"], ["--parts", "nothing"]])
def test_bad_options_exit_with_one_line(args, tmp_path):
    result = run_script("chaotic_lstm.py", *args, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("chaotic_lstm.py: error:")
    assert not (tmp_path / "out").exists()
