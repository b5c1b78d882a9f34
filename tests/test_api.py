"""The public API on models built here (not the task folders): fixed points
and their stability, Lyapunov exponents, the orbit recorder and its file,
the loss along a line of a model of one's own, and the example script."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from conftest import ROOT
from attractors import (OrbitRecorder, fixed_points, loss_along_line, loss_on_slice,
                        lyapunov_exponents, smoothness_vs_length, state_map)
from attractors.chaos import INITIAL_VALUE, chaotic_lstm
from attractors.run_files import load_orbit_file
from expRNN import OrthogonalRNN


def shrunk(module, factor=0.6):
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(factor)
    return module.double()


CELLS = {
    "GRU": lambda: shrunk(nn.GRU(3, 5), 1.5),
    "LSTM 2 layers": lambda: shrunk(nn.LSTM(3, 4, 2), 1.5),
    "RNN relu": lambda: shrunk(nn.RNN(3, 5, nonlinearity="relu")),
    "LSTMCell": lambda: shrunk(nn.LSTMCell(3, 4), 1.5),
    "orthogonal": lambda: dead_zone(OrthogonalRNN(3, 5, "exprnn").double()),
}


def dead_zone(cell):
    """An orthogonal cell whose modReLU zeroes small states: 0 is a stable
    fixed point for small inputs (an orthogonal cell has no other kind)."""
    with torch.no_grad():
        cell.nonlinearity.b.fill_(-0.5)
        cell.input_kernel.weight.mul_(0.1)
    return cell


def module_step(cell, fmap, u, flat):
    """One step of the module itself (not the functional step) on a flat state."""
    state = fmap.unflatten(flat.unsqueeze(0))
    with torch.no_grad():
        if isinstance(cell, nn.RNNCellBase):
            new = cell(u.unsqueeze(0), state)
        else:
            _, new = cell(u.view(1, 1, -1), state)
    return fmap.flatten(new)[0]


def finite_difference_jacobian(f, x, eps=1e-6):
    columns = []
    for k in range(len(x)):
        e = torch.zeros_like(x)
        e[k] = eps
        columns.append((f(x + e) - f(x - e)) / (2 * eps))
    return torch.stack(columns, dim=1)


@pytest.mark.parametrize("name", CELLS)
def test_fixed_points_are_fixed_and_their_stability_agrees_with_finite_differences(name):
    torch.manual_seed(0)
    cell = CELLS[name]()
    inputs = 0.5 * torch.randn(2, 3, dtype=torch.float64)
    found = fixed_points(cell, inputs, n_starts=8, std=0.5, settle=100)
    assert len(found) == 2 and all(len(points) >= 1 for points in found)
    for u, points in zip(inputs, found):
        fmap = state_map(cell, u)
        for p in points:
            moved = module_step(cell, fmap, u, p["x"])
            assert (moved - p["x"]).norm() < 1e-6
            jac = finite_difference_jacobian(lambda x: module_step(cell, fmap, u, x), p["x"])
            radius = torch.linalg.eigvals(jac).abs().max().item()
            assert radius == pytest.approx(p["spectral_radius"], abs=1e-4)
            if abs(radius - 1) > 1e-3:
                assert p["stable"] == (radius < 1)
    single = fixed_points(cell, inputs[0], n_starts=8, std=0.5, settle=100)
    assert isinstance(single, list) and torch.allclose(single[0]["x"], found[0][0]["x"])


def test_largest_lyapunov_exponent_of_contractive_and_chaotic_networks():
    torch.manual_seed(0)
    contractive = shrunk(nn.GRU(2, 6), 0.3)
    lam = lyapunov_exponents(contractive, torch.zeros(2), steps=300, burnout=50, k=2,
                             n_states=3)
    assert lam.shape == (3, 2) and (lam[:, 0] < 0).all() and (lam[:, 0] >= lam[:, 1]).all()
    lstm = chaotic_lstm(torch.float64)
    h = torch.full((1, 2, 2), INITIAL_VALUE, dtype=torch.float64)
    lam = lyapunov_exponents(lstm, torch.zeros(1), states=(h, h), steps=2000, burnout=200, k=1)
    assert (lam[:, 0] > 0.05).all()


class Tiny(nn.Module):
    """A GRU with a linear read-out: the recorder infers its state."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, inp, state=None):
        h, state = self.gru(inp, state)
        return self.out(h), state


def test_recorder_file_is_drawn_by_plot_orbit_diagram(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    recorder = OrbitRecorder(model, torch.tensor([[0.5], [-0.5], [1.0]]), n_states=2,
                             seq_len=30, burnout=10, std=2.0)
    for _ in range(3):
        recorder.record()
    path = tmp_path / "orbit.pth"
    recorder.save(path, interval=5)
    trajectory, interval = load_orbit_file(path)
    assert trajectory.shape == (20, 2, 3, 2, 3) and interval == 5
    png = tmp_path / "orbit.png"
    done = subprocess.run([sys.executable, str(ROOT / "plot_orbit_diagram.py"), str(path),
                           "-o", str(png)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert png.stat().st_size > 0


def test_recorder_with_a_step_function_and_a_cell_agree():
    torch.manual_seed(0)
    cell = nn.GRUCell(1, 3)
    inputs = torch.tensor([[0.3], [-0.3]])
    by_cell = OrbitRecorder(cell, inputs, 2, 12, 4)
    by_step = OrbitRecorder(lambda x, h: (cell(x, h), cell(x, h)), inputs, 2, 12, 4,
                            state=lambda n: by_cell.state0.clone())
    by_cell.record()
    by_step.record()
    assert by_cell.trajectory().shape == (8, 2, 2, 3, 1)
    assert torch.equal(by_cell.trajectory(), by_step.trajectory())
    shaped = OrbitRecorder(lambda x, h: (h.sum(-1), torch.tanh(h + x)), inputs, 3, 5, 0,
                           state=(4,))
    shaped.record()
    assert shaped.trajectory().shape == (5, 3, 2, 1, 1)


class Elman(nn.Module):
    """A hand-written RNN that torch.vmap can batch."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(1, 4)
        self.rec = nn.Linear(4, 4, bias=False)
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        h = torch.zeros(x.shape[1], 4, dtype=x.dtype)
        outputs = []
        for xt in x:
            h = torch.tanh(self.inp(xt) + self.rec(h))
            outputs.append(self.out(h))
        return torch.stack(outputs)


def toy_loss(model, seq_len):
    t = torch.arange(seq_len, dtype=torch.float64)
    x = torch.sin(0.3 * t).reshape(seq_len, 1, 1)
    y = torch.cos(0.3 * t).reshape(seq_len, 1, 1)
    out = model(x) if not isinstance(model, LSTMModel) else model(x)
    return ((out - y) ** 2).mean()


class LSTMModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 3)
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        return self.out(self.lstm(x)[0])


@pytest.mark.parametrize("make", [Elman, LSTMModel])
def test_loss_along_line_batched_or_not_agrees_with_the_loop(make):
    torch.manual_seed(0)
    model = make().double()
    s = np.linspace(-0.1, 0.1, 7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batched = loss_along_line(model, toy_loss, 15, s, seed=1, progress=False)
    loop = loss_along_line(model, toy_loss, 15, s, seed=1, batched=False, progress=False)
    assert np.allclose(batched, loop, rtol=1e-10)
    assert bool(caught) == (make is LSTMModel)  # the LSTM module falls back, with a warning
    assert batched[3] == pytest.approx(float(toy_loss(model, 15)))
    grid = loss_on_slice(model, toy_loss, 10, s[:3], s, seed=1, progress=False)
    assert grid.shape == (3, 7)


def test_smoothness_vs_length_gives_what_plot_results_draws(tmp_path):
    from attractors import plot_results
    torch.manual_seed(0)
    results = smoothness_vs_length(Elman().double(), toy_loss, seq_lens=(5, 10),
                                   s=np.linspace(-0.1, 0.1, 9))
    assert results["curves"].shape == (2, 9) and len(results["lipschitz"]) == 2
    assert np.isfinite(results["curvature"]).all()
    plot_results(results, str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fixed_points_on_the_gpu_match_the_cpu():
    torch.manual_seed(0)
    cell = CELLS["GRU"]()
    inputs = torch.randn(2, 3, dtype=torch.float64)
    cpu = fixed_points(cell, inputs, n_starts=4, settle=50)
    gpu = fixed_points(cell.cuda(), inputs.cuda(), n_starts=4, settle=50)
    assert torch.allclose(cpu[0][0]["x"], gpu[0][0]["x"].cpu(), atol=1e-8)


def test_example_runs_tiny(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "your_own_model.py"),
                           "--tiny", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("orbit_diagram.png", "smoothness.png", "orbit.pth"):
        assert (tmp_path / "out" / name).exists(), name
    assert "fixed point" in done.stdout and "Lyapunov" in done.stdout
