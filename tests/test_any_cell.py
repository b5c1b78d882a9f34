"""The analysis on any recurrent cell: a cell of one's own written in a few
lines, a model whose GRU sits at any attribute and a batch_first model go
through fixed points, Lyapunov exponents, orbit recording and smoothness,
each checked against the module itself."""
import contextlib
import math

import numpy as np
import pytest
import torch
from torch import nn

from attractors import (OrbitRecorder, as_step, fixed_points, lyapunov_exponents,
                        smoothness_vs_length, state_map)


class Elman(nn.Module):
    """A cell of one's own: ``step(input, state) -> state``."""

    def __init__(self, n_in=2, hidden=5):
        super().__init__()
        self.hidden_size = hidden
        self.inp, self.rec = nn.Linear(n_in, hidden), nn.Linear(hidden, hidden, bias=False)

    def forward(self, x, h):
        return torch.tanh(self.inp(x) + self.rec(h))


class GRUModel(nn.Module):
    """A GRU at ``.gru`` (not ``.rnn``) with a read-out."""

    def __init__(self):
        super().__init__()
        self.gru, self.readout = nn.GRU(2, 5), nn.Linear(5, 1)

    def forward(self, x, h=None):
        y, h = self.gru(x, h)
        return self.readout(y), h


class BatchFirst(nn.Module):
    """An LSTM taking (batch, time, input)."""

    def __init__(self):
        super().__init__()
        self.lstm, self.readout = nn.LSTM(2, 3, batch_first=True), nn.Linear(3, 1)

    def forward(self, x, state=None):
        y, state = self.lstm(x, state)
        return self.readout(y), state


def scaled(model, factor):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model.double()


def module_step(model, u, state):
    """One step of the module itself (not the analysis' step) from ``state``
    in the module's layout, batch of one."""
    if isinstance(model, Elman):
        return model(u.view(1, -1), state)
    if isinstance(model, GRUModel):
        return model.gru(u.view(1, 1, -1), state)[1]
    return model.lstm(u.view(1, 1, -1), state)[1]   # batch first: (batch 1, time 1, input)


MODELS = {"own cell": lambda: scaled(Elman(), 1.5), "GRU at .gru": lambda: scaled(GRUModel(), 1.5),
          "batch_first LSTM": lambda: scaled(BatchFirst(), 2.0)}


@pytest.mark.parametrize("name", MODELS)
def test_fixed_points_and_stability_against_the_module(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    u = torch.tensor([0.4, -0.3], dtype=torch.float64)
    points = fixed_points(model, u, n_starts=8, settle=50)
    assert len(points) >= 1 and points.starts == 16
    fmap = state_map(model, u)
    for p in points:
        state = fmap.unflatten(p["x"].unsqueeze(0))
        moved = fmap.flatten(module_step(model, u, state))[0]
        assert (moved - p["x"]).norm() < 1e-6 and p["residual"] <= 1e-9

        def flat_step(x):
            return fmap.flatten(module_step(model, u, fmap.unflatten(x.unsqueeze(0))))[0]
        jac = torch.autograd.functional.jacobian(flat_step, p["x"])
        eig = torch.linalg.eigvals(jac)
        assert torch.allclose(eig.abs().sort().values, p["eigenvalues"].abs().sort().values,
                              atol=1e-10)
        assert p["stable"] == (eig.abs().max().item() < 1)
    # the largest Lyapunov exponent of trajectories that end on a stable point
    # (what remains of the start, here a rotation, falls as 1/steps)
    stable = [p for p in points if p["stable"]][0]
    steps = 400
    lam = lyapunov_exponents(model, u, states=stable["x"].unsqueeze(0) + 1e-3, steps=steps,
                             burnout=100, k=1)
    assert lam[0, 0].item() == pytest.approx(math.log(stable["spectral_radius"]), abs=1 / steps)


@pytest.mark.parametrize("name", MODELS)
def test_orbit_recording_against_the_module(name):
    torch.manual_seed(0)
    model = MODELS[name]().float()
    inputs = torch.tensor([[0.5, 0.0], [-0.5, 1.0]])
    if name == "own cell":  # one input at a time, through the same step as the analysis
        recorder = OrbitRecorder(as_step(model), inputs, 2, 12, 4, std=0.5)
    else:
        recorder = OrbitRecorder(model, inputs, 2, 12, 4, std=0.5)
    recorder.record()
    traj = recorder.trajectory()
    assert traj.shape == (8, 2, 2, 5 if name == "own cell" else 1, 1)
    for b in range(4):
        state = recorder.select_state(recorder.state0, slice(b, b + 1))
        u = inputs[b % 2]
        outputs = []
        for _ in range(12):
            state = module_step(model, u, state)
            h = state[0] if isinstance(state, tuple) else state
            outputs.append(h[-1] if h.dim() == 3 else h)
        expected = torch.cat(outputs)[4:]
        if name != "own cell":
            expected = model.readout(expected)
        expected = expected.detach()
        assert torch.allclose(traj[:, b // 2, b % 2, :, 0], expected, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_smoothness_of_a_loss_through_the_model(name):
    torch.manual_seed(0)
    model = MODELS[name]()

    def loss_fn(m, seq_len):
        t = torch.arange(seq_len, dtype=torch.float64)
        x = torch.stack([torch.sin(0.3 * t), torch.cos(0.3 * t)], dim=-1)
        if isinstance(m, Elman):
            h, outs = torch.zeros(1, 5, dtype=torch.float64), []
            for xt in x:
                h = m(xt.view(1, 2), h)
                outs.append(h[:, 0])
            y = torch.stack(outs).view(-1)
        elif isinstance(m, BatchFirst):
            y = m(x.unsqueeze(0))[0].view(-1)
        else:
            y = m(x.unsqueeze(1))[0].view(-1)
        return ((y - torch.sin(0.3 * t + 1)) ** 2).mean()
    s = np.linspace(-0.1, 0.1, 5)
    # vmap cannot batch nn.GRU/nn.LSTM: those fall back to a loop, with a warning
    with pytest.warns(UserWarning) if name != "own cell" else contextlib.nullcontext():
        results = smoothness_vs_length(model, loss_fn, seq_lens=(5, 10), s=s, curvature=False)
    with torch.no_grad():
        assert results["curves"][1, 2] == pytest.approx(float(loss_fn(model, 10)), rel=1e-12)
    assert np.isfinite(results["lipschitz"]).all()



# ---------------------------------------------------------------- one path
def test_a_function_of_a_few_lines_is_a_cell():
    def halve(x, h):            # h -> h / 2 + x: one fixed point, 2x, contracting by 1/2
        return 0.5 * h + x
    u = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    points = fixed_points(halve, u, state_shape=3, n_starts=4)
    assert len(points) == 1 and torch.allclose(points[0]["x"], 2 * u)
    assert torch.allclose(points[0]["eigenvalues"].real, torch.full((3,), 0.5, dtype=torch.float64))
    lam = lyapunov_exponents(halve, u, state_shape=3, steps=20, burnout=5, n_states=2)
    assert torch.allclose(lam, torch.full((2, 3), math.log(0.5), dtype=torch.float64))


def test_a_built_in_cell_and_the_same_cell_as_a_function_agree():
    """nn.LSTMCell through the built-in step and through its own forward as
    a cell of one's own (tuple state): one mechanism, the same answers."""
    torch.manual_seed(0)
    cell = scaled(nn.LSTMCell(2, 3), 2.0)
    u = torch.tensor([0.3, -0.2], dtype=torch.float64)
    builtin = fixed_points(cell, u, n_starts=6, settle=30)
    own = fixed_points(lambda x, s: cell(x, s), u, n_starts=6, settle=30, state_shape=((3,), (3,)))
    assert len(builtin) == len(own) >= 1
    for a, b in zip(builtin, own):
        assert torch.allclose(a["x"], b["x"], atol=1e-10) and a["stable"] == b["stable"]
        assert a["spectral_radius"] == pytest.approx(b["spectral_radius"], abs=1e-10)
        assert torch.allclose(a["output"], b["output"], atol=1e-10)   # h, the cell's output


def test_a_cell_of_word_ids_keeps_its_integer_inputs():
    class WordCell(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden_size, self.embed, self.rec = 4, nn.Embedding(10, 4), nn.Linear(4, 4)

        def forward(self, word, h):           # word (B, 1): ids
            return torch.tanh(self.embed(word[:, 0]) + 0.5 * self.rec(h))
    torch.manual_seed(0)
    cell = WordCell()
    found = fixed_points(cell, torch.tensor([[3], [7]]), n_starts=4)
    with torch.no_grad():
        h = found[1][0]["x"]
        assert torch.allclose(cell.double()(torch.tensor([[7]]), h.unsqueeze(0))[0], h)


# ------------------------------------------------------- Lyapunov exponents
def linear_rnn(blocks, seed=0):
    """A tanh RNN ``h -> tanh(W h)`` with ``W = V blocks V^-1``: near its
    fixed point 0 it is the linear map W, whose Lyapunov spectrum is
    log|eigenvalues of W|."""
    n = blocks.shape[0]
    V = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    rnn = nn.RNN(1, n).double()
    with torch.no_grad():
        for p in rnn.parameters():
            p.zero_()
        rnn.weight_hh_l0.copy_(V @ blocks @ torch.linalg.inv(V))
    exact = torch.linalg.eigvals(rnn.weight_hh_l0).abs().log().sort(descending=True).values
    return rnn, exact


def error(rnn, exact, steps, burnout):
    lam = lyapunov_exponents(rnn, torch.zeros(1), steps=steps, burnout=burnout, n_states=2,
                             std=1e-3)   # small states: the linear regime
    return (lam - exact).abs().max().item()


def rotation(r, angle):
    c, s = math.cos(angle), math.sin(angle)
    return r * torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def test_lyapunov_spectrum_of_a_linear_regime_rnn_error_falls_as_one_over_steps():
    # real eigenvalues: the frame carried through the burn-in has lined up
    # with the eigenvectors, nothing of the start is left, whatever the burn-in
    rnn, exact = linear_rnn(torch.diag(torch.tensor([0.9, -0.8, 0.7, 0.55, -0.5],
                                                    dtype=torch.float64)))
    for burnout in (200, 500):
        assert error(rnn, exact, 50, burnout) < 1e-9
    # averaged from the start instead, the frame's transient is an error C / steps
    first, later = error(rnn, exact, 100, 0), error(rnn, exact, 400, 0)
    assert first > 1e-3 and first / later == pytest.approx(4, rel=0.05)
    # complex pairs: the growth along a non-normal rotation oscillates; its
    # error is bounded, falls as 1/steps, and is no larger after a longer burn-in
    blocks = torch.zeros(6, 6, dtype=torch.float64)
    blocks[:2, :2], blocks[2, 2], blocks[3, 3] = rotation(0.9, 0.7), 0.75, -0.6
    blocks[4:, 4:] = rotation(0.5, 2.0)
    rnn, exact = linear_rnn(blocks)
    for burnout in (200, 500):
        for steps in (100, 400):
            assert error(rnn, exact, steps, burnout) * steps < 1.0


# ------------------------------------------------------------ fixed points
def two_roots(x, h):
    """h -> h + (h - 0.5)(3 - h) / 4: fixed points 0.5 (unstable) and 3 (stable)."""
    return h + (h - 0.5) * (3 - h) / 4 + 0 * x


def test_fixed_points_filter_by_tol_and_a_box_counts_what_it_leaves_out():
    starts = torch.linspace(-1, 5, 13, dtype=torch.float64).unsqueeze(1)
    both = fixed_points(two_roots, torch.zeros(1), starts=starts, state_shape=1)
    assert sorted(round(p["x"].item(), 9) for p in both) == [0.5, 3.0]
    assert all(p["residual"] <= 1e-9 for p in both) and both.outside == []
    inside = fixed_points(two_roots, torch.zeros(1), starts=starts, state_shape=1, box=(-1, 1))
    assert [round(p["x"].item(), 9) for p in inside] == [0.5] and not inside[0]["stable"]
    assert [round(p["x"].item(), 9) for p in inside.outside] == [3.0]
    assert inside.outside[0]["stable"] and inside.starts == 13
    # random starts in a box are drawn inside it (from [0, 1], Newton goes to 0.5 only)
    boxed = fixed_points(two_roots, torch.zeros(1), state_shape=1, box=(0, 1), n_starts=20)
    assert [round(p["x"].item(), 9) for p in boxed] == [0.5] and boxed.outside == []
    assert boxed.starts == 20 and boxed.unconverged == 0
    # one Newton step from far away does not reach tol: those points are not returned
    with pytest.warns(RuntimeWarning, match="settle") as caught:
        found = fixed_points(two_roots, torch.zeros(1), starts=torch.full((1, 1), 40.0),
                             state_shape=1, newton_steps=1)
    assert found == [] and found.unconverged == 1 and len(caught) == 1
    message = str(caught[0].message)
    assert "1 of 1 starts did not reach residual tol=1e-09 in 1 Newton steps" in message


def test_a_strongly_recurrent_lstm_without_settle_is_reported_not_silent():
    torch.manual_seed(0)
    lstm = scaled(nn.LSTM(1, 8), 12.0)       # saturated gates: Newton from random starts fails
    u = torch.zeros(1, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="try settle=200"):
        assert fixed_points(lstm, u, n_starts=16) == []
    found = fixed_points(lstm, u, n_starts=16, settle=200)
    assert any(p["stable"] for p in found)


# ---------------------------------------------------------- orbit recorder
def test_recorder_states_per_trajectory_or_shared_and_shapes_with_a_batch_dim():
    inputs = torch.tensor([[0.1], [0.2], [0.3]])
    gru = nn.GRU(1, 4)
    own = OrbitRecorder(gru, inputs, n_states=2, seq_len=5, burnout=0)
    assert own.state0.shape == (1, 6, 4) and len(set(own.state0[0, :, 0].tolist())) == 6
    asked = []
    shared = OrbitRecorder(gru, inputs, n_states=2, seq_len=5, burnout=0, shared_states=True,
                           state=lambda n: asked.append(n) or torch.randn(1, n, 4), batch_dim=1)
    assert asked == [2] and shared.state0.shape == (1, 6, 4)
    for b in range(6):   # trajectory b: input b % 3, state b // 3, the same for every input
        assert torch.equal(shared.state0[:, b], shared.state0[:, 3 * (b // 3)])

    def layered(x, h):   # a state (layers, batch, hidden), returned alone
        return torch.tanh(h + x)
    rec = OrbitRecorder(layered, inputs, 2, 5, 1, state=(2, 4), batch_dim=1)
    assert rec.state0.shape == (2, 6, 4)
    rec.record()
    assert rec.trajectory().shape == (4, 2, 3, 8, 1)   # the output: the state's 2 x 4 values

    def lstm_like(x, state):
        h, c = state
        c = 0.5 * c + x
        return h.sum(-1), (torch.tanh(c), c)
    rec = OrbitRecorder(lstm_like, inputs, 2, 5, 1, state=((3,), (3,)))
    assert [s.shape for s in rec.state0] == [(6, 3), (6, 3)]
    rec.record()
    assert rec.trajectory().shape == (4, 2, 3, 1, 1)


def test_a_step_in_the_recorder_follows_training():
    torch.manual_seed(0)
    cell, inputs = nn.GRUCell(1, 3), torch.tensor([[0.3], [-0.3]])
    stepped = OrbitRecorder(as_step(cell), inputs, 2, 8, 2)
    direct = OrbitRecorder(cell, inputs, 2, 8, 2, state=lambda n: stepped.state0.clone())
    for _ in range(2):
        stepped.record()
        direct.record()
        cell.weight_hh = nn.Parameter(2 * cell.weight_hh.detach())   # new tensors, not in place
    assert torch.allclose(stepped.trajectory(), direct.trajectory(), atol=1e-6)
    assert not torch.allclose(stepped.trajectory()[..., 0], stepped.trajectory()[..., 1])


# -------------------------------------------------------------- wrong calls
class TwoRNNs(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.GRU(3, 8), nn.LSTM(8, 4)


def on_meta():
    with torch.device("meta"):
        return nn.GRU(3, 8)


GRU = nn.GRU(3, 8)
U = torch.zeros(3)
WRONG_CALLS = {  # what was wrong -> (the call, words the message must hold)
    "no recurrent module": (lambda: fixed_points(nn.Linear(3, 3), U), "state_shape=(hidden,)"),
    "several recurrent modules": (lambda: fixed_points(TwoRNNs(), U),
                                  "model.encoder (nn.GRU(3, 8)), model.decoder"),
    "bidirectional": (lambda: fixed_points(nn.GRU(3, 8, bidirectional=True), U),
                      "bidirectional=True"),
    "projected LSTM": (lambda: lyapunov_exponents(nn.LSTM(3, 8, proj_size=2), U), "proj_size=2"),
    "input size": (lambda: fixed_points(GRU, torch.zeros(4)), "takes input_size=3"),
    "input size, own cell": (lambda: fixed_points(Elman(2, 4), U), "failed on an input (1, 3)"),
    "3-D inputs": (lambda: fixed_points(GRU, torch.zeros(2, 1, 3)), "(n_inputs, input_size)"),
    "two inputs for one": (lambda: lyapunov_exponents(GRU, torch.zeros(2, 3)),
                           "once per input"),
    "nan input": (lambda: state_map(GRU, torch.tensor([math.nan, 0, 0])), "nan or inf"),
    "k = 0": (lambda: lyapunov_exponents(GRU, U, k=0), "between 1 and 8"),
    "k > D": (lambda: lyapunov_exponents(GRU, U, k=9), "between 1 and 8"),
    "steps = 0": (lambda: lyapunov_exponents(GRU, U, steps=0), "steps must be an integer"),
    "std = nan": (lambda: fixed_points(GRU, U, std=math.nan), "std must be a finite"),
    "n_starts = 0": (lambda: fixed_points(GRU, U, n_starts=0), "n_starts must be"),
    "seed past a generator's": (lambda: lyapunov_exponents(GRU, U, seed=2 ** 64),
                                "seed must be an integer between 0 and"),
    "tol = 0": (lambda: fixed_points(GRU, U, tol=0), "tol must be a finite positive"),
    "meta device": (lambda: fixed_points(on_meta(), U), "meta device"),
    "starts' shape": (lambda: fixed_points(GRU, U, starts=torch.zeros(4, 7)), "(n_starts, 8)"),
    "states' shape": (lambda: lyapunov_exponents(GRU, U, states=torch.zeros(1, 4, 7)),
                      "layout (1, n, 8)"),
    "no state_shape": (lambda: fixed_points(lambda x, h: h, U), "state_shape="),
    "a state moved to the meta device": (
        lambda: lyapunov_exponents(lambda x, h: h.to("meta"), U, state_shape=3, steps=5),
        "returned a state on the meta device"),
    "bad state_shape": (lambda: fixed_points(lambda x, h: h, U, state_shape=(0,)),
                        "not a state's shape"),
    "step changes the shape": (lambda: fixed_points(lambda x, h: h[:, :2], U, state_shape=4),
                               "must keep the state's shape"),
    "step returns other things": (lambda: fixed_points(lambda x, h: (h, h, h), U, state_shape=4),
                                  "(output, new_state)"),
    "step of another dtype": (lambda: fixed_points(lambda x, h: h @ torch.eye(4), U,
                                                   state_shape=4), "dtype"),
    "not a cell": (lambda: fixed_points(3, U), "expected a recurrent module or a step"),
    "an integer dtype": (lambda: fixed_points(GRU, U, dtype=torch.long),
                         "dtype must be a real floating-point torch.dtype"),
    "a dtype's name": (lambda: fixed_points(GRU, U, dtype="float64"), "got 'float64'"),
    "the map on states of another dtype": (lambda: state_map(GRU, U)(torch.zeros(2, 8)),
                                           "flat states (*batch, 8) of torch.float64"),
    "the map on states of another size": (
        lambda: state_map(GRU, U)(torch.zeros(2, 7, dtype=torch.float64)), "got (2, 7)"),
    "box": (lambda: fixed_points(GRU, U, box=(1, -1)), "low < high"),
    "more starts than memory": (lambda: fixed_points(GRU, U, n_starts=10 ** 12),
                                "more than half of this machine's"),
    "more states than memory": (lambda: lyapunov_exponents(GRU, U, n_states=10 ** 12),
                                "more than half of this machine's"),
    "recorder, more states than memory": (lambda: OrbitRecorder(GRU, torch.zeros(2, 3), 10 ** 10,
                                                                10, 5),
                                          "more than half of this machine's"),
    "recorder, longer than memory": (lambda: OrbitRecorder(GRU, torch.zeros(2, 3), 2, 10 ** 12, 5),
                                     "more than half of this machine's"),
    "recorder, no state": (lambda: OrbitRecorder(nn.Linear(1, 1), torch.zeros(2, 1), 2, 10, 5),
                           "pass state="),
    "recorder, input size": (lambda: OrbitRecorder(GRU, torch.zeros(2, 4), 2, 10, 5),
                             "takes input_size=3"),
    "recorder, burnout": (lambda: OrbitRecorder(GRU, torch.zeros(2, 3), 2, 10, 10),
                          "between 0 and 9"),
    "recorder, state(n)": (lambda: OrbitRecorder(lambda x, h: h, torch.zeros(2, 1), 3, 10, 5,
                                                 state=lambda n: torch.zeros(n - 1, 4)),
                           "state(n) must return n states"),
    "recorder, a step that changes the shape": (
        lambda: OrbitRecorder(as_step(lambda x, h: h[:, :2], state_shape=4), torch.zeros(2, 1),
                              2, 10, 5), "must keep the state's shape"),
    "recorder, a function that changes the shape": (
        lambda: OrbitRecorder(lambda x, h: h[:, :2], torch.zeros(2, 1), 2, 10, 5,
                              state=(4,)).record(), "must keep the state's shape"),
    "recorder, a function that changes the dtype": (
        lambda: OrbitRecorder(lambda x, h: h.long(), torch.zeros(2, 1), 2, 10, 5,
                              state=(4,)).record(), "dtype"),
    "recorder, a step of another dtype": (
        lambda: OrbitRecorder(as_step(lambda x, h: h @ torch.eye(4, dtype=torch.float64),
                                      state_shape=4), torch.zeros(2, 1), 2, 10, 5), "dtype"),
    "smoothness, no loss": (lambda: smoothness_vs_length(GRU, None), "loss_fn(model, seq_len)"),
    "smoothness, lengths": (lambda: smoothness_vs_length(GRU, lambda m, n: 0, seq_lens=(10, 0)),
                            "every seq_len must be"),
    "smoothness, direction": (lambda: smoothness_vs_length(GRU, lambda m, n: 0,
                                                          direction={"weight": 1}),
                              "keyed and shaped like model.named_parameters()"),
}


@pytest.mark.parametrize("kind", WRONG_CALLS)
def test_a_wrong_call_is_one_line_in_the_library_words(kind):
    from attractors.steps import CellError
    call, words = WRONG_CALLS[kind]
    with pytest.raises(CellError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and words in message
    assert message.split(":")[0].split(" ")[0] in (
        "fixed_points", "lyapunov_exponents", "state_map", "OrbitRecorder", "smoothness_vs_length")


def test_custom_cell_example_runs_tiny(tmp_path):
    import os
    import subprocess
    import sys
    from conftest import ROOT
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "custom_cell.py"), "--tiny",
                           "-o", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(": 1 fixed point, stable") == 5
    for name in ("orbit_diagram.png", "smoothness.png", "orbit.pth"):
        assert (tmp_path / "out" / name).exists(), name


def test_a_step_that_changes_its_state_in_place():
    """h.mul_(0.5) then + x: the map x -> x/2 + u. Its state must not be the
    caller's (the recorder's initial states, a flat state's views under
    autograd)."""
    def halve(x, h):
        h.mul_(0.5)
        return h + x
    u = torch.ones(4, dtype=torch.float64)
    point = fixed_points(halve, u, state_shape=4, n_starts=2)[0]
    assert torch.allclose(point["x"], 2 * u)
    exps = lyapunov_exponents(halve, u, state_shape=4, steps=20, burnout=5, k=1)
    assert torch.allclose(exps, torch.full_like(exps, math.log(0.5)))
    for model, state in ((halve, (4,)), (as_step(halve, state_shape=4), None)):
        recorder = OrbitRecorder(model, torch.ones(1, 4), 2, 3, 0, state=state)
        before = recorder.state0.clone()
        recorder.record()
        assert torch.equal(recorder.state0, before)
