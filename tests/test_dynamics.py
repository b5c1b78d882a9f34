import pytest
import torch

from attractors.dynamics import (StateMap, classify_trajectories, find_fixed_points,
                                 lyapunov_exponents)
from attractors.rnn import RecurrentLayer

CHAOTIC_W = [[-1, -4], [-3, -2], [-2, 6], [0, -6], [-1, -6], [6, -9], [4, 1], [-9, -7]]


def chaotic_lstm():
    layer = RecurrentLayer(1, 2, "LSTM")
    with torch.no_grad():
        for name, p in layer.rnn.named_parameters():
            p.zero_()
        layer.rnn.weight_hh_l0.copy_(torch.tensor(CHAOTIC_W, dtype=torch.float32))
    return layer


@pytest.mark.parametrize("rnn_type, layers", [("LSTM", 2), ("GRU", 2), ("RNN", 1), ("exprnn", 1)])
def test_state_map_is_one_step_of_the_module(rnn_type, layers):
    torch.manual_seed(0)
    layer = RecurrentLayer(3, 4, rnn_type, num_layers=layers).double()
    u = torch.randn(3, dtype=torch.float64)
    fmap = StateMap(layer, u)
    x = torch.randn(5, fmap.dim, dtype=torch.float64)
    assert torch.equal(fmap.flatten(fmap.unflatten(x)), x)
    _, state = layer(u.expand(1, 5, 3), fmap.unflatten(x))
    assert torch.allclose(fmap(x), fmap.flatten(state), atol=1e-12)


def small_rnn(scale):
    torch.manual_seed(1)
    layer = RecurrentLayer(2, 3, "RNN")
    with torch.no_grad():
        layer.rnn.weight_hh_l0.mul_(scale)
    return layer


def test_fixed_point_of_a_contraction_is_unique_and_stable():
    fmap = StateMap(small_rnn(0.5), torch.tensor([0.3, -0.2]))
    points = find_fixed_points(fmap, fmap.random_states(8, std=3.0))
    assert len(points) == 1
    point = points[0]
    assert point["stable"] and point["residual"] < 1e-9
    far = fmap.iterate(torch.zeros(1, fmap.dim, dtype=torch.float64), 500)[0]
    assert torch.allclose(point["x"], far, atol=1e-9)


def test_lyapunov_exponent_at_a_stable_point_is_log_spectral_radius():
    fmap = StateMap(small_rnn(0.5), torch.tensor([0.3, -0.2]))
    point = find_fixed_points(fmap, fmap.random_states(2))[0]
    lam = lyapunov_exponents(fmap, fmap.random_states(3), steps=400, burnout=300)
    expected = torch.log(torch.tensor(point["spectral_radius"], dtype=torch.float64))
    assert torch.allclose(lam[:, 0], expected.expand(3), atol=5e-3)
    both = lyapunov_exponents(fmap, fmap.random_states(1), steps=400, burnout=300, k=2)
    assert both[0, 0] >= both[0, 1]


def test_bistable_rnn_has_two_stable_points_and_a_saddle():
    layer = RecurrentLayer(1, 1, "RNN")
    with torch.no_grad():
        layer.rnn.weight_hh_l0.fill_(2.0)  # x = tanh(2x): -x*, 0 (unstable), +x*
        layer.rnn.weight_ih_l0.zero_()
        layer.rnn.bias_hh_l0.zero_()
        layer.rnn.bias_ih_l0.zero_()
    fmap = StateMap(layer, torch.zeros(1))
    starts = torch.linspace(-2, 2, 9, dtype=torch.float64).unsqueeze(1)
    points = sorted(find_fixed_points(fmap, starts), key=lambda p: p["x"].item())
    assert [p["stable"] for p in points] == [True, False, True]
    assert abs(points[1]["x"].item()) < 1e-9
    assert points[0]["x"].item() == pytest.approx(-points[2]["x"].item())


def test_chaotic_lstm_has_a_positive_exponent():
    fmap = StateMap(chaotic_lstm(), torch.zeros(1))
    x0 = torch.full((1, 4), 0.5, dtype=torch.float64)
    result = classify_trajectories(fmap, x0, steps=1500, record=300, lyapunov_steps=1500)[0]
    assert result["kind"] == "chaotic" and result["lyapunov"] > 0.01


def test_a_quasi_periodic_orbit_is_not_called_chaotic():
    """Rotation by 1 radian on an ellipse ten times as long as it is wide,
    which attracts its surroundings: the exponent is 0, but the tangent
    vector's length changes tenfold around the orbit, so a finite average
    strays from 0 by up to log(10) / steps."""
    def ellipse(u, h):
        x, y = h[..., 0], h[..., 1] / 10
        r, theta = torch.sqrt(torch.sqrt(x * x + y * y)), torch.atan2(y, x) + 1.0
        return torch.stack([r * torch.cos(theta), 10 * r * torch.sin(theta)], -1)
    fmap = StateMap(ellipse, torch.zeros(1), state_shape=2)
    x0 = fmap.random_states(16, generator=torch.Generator().manual_seed(0))
    results = classify_trajectories(fmap, x0, steps=1000, record=200, lyapunov_steps=500)
    assert max(r["lyapunov"] for r in results) > 1e-3    # above the old threshold alone
    assert all(r["kind"] == "quasi-periodic" and abs(r["lyapunov"]) < 2 / 500 for r in results)


def test_classification_of_fixed_and_periodic_behaviour():
    fmap = StateMap(small_rnn(0.5), torch.tensor([0.3, -0.2]))
    assert classify_trajectories(fmap, fmap.random_states(2), steps=600, record=60,
                                 lyapunov_steps=50)[0]["kind"] == "fixed point"
    layer = RecurrentLayer(1, 1, "RNN")
    with torch.no_grad():  # x -> tanh(-3x): a stable period-2 orbit
        for p in layer.rnn.parameters():
            p.zero_()
        layer.rnn.weight_hh_l0.fill_(-3.0)
    result = classify_trajectories(StateMap(layer, torch.zeros(1)),
                                   torch.full((1, 1), 0.5, dtype=torch.float64),
                                   steps=600, record=60, lyapunov_steps=100)[0]
    assert result["kind"] == "periodic" and result["period"] == 2 and result["lyapunov"] < 0


def test_analyse_attractors_script_on_a_run(sine, tmp_path):
    import json
    import pandas as pd
    from conftest import TINY_SINE, run_script
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    result = run_script("analyse_attractors.py", folder, "--n_starts", "3", "--steps", "60",
                        "--record", "20", "--lyapunov_steps", "20", "--newton_steps", "20")
    assert result.returncode == 0, result.stderr
    summary = pd.read_csv(tmp_path / "run" / "attractors.csv")
    assert len(summary) == 10 and summary["fixed points"].min() >= 0
    kinds = summary[["fixed point", "periodic", "quasi-periodic", "chaotic"]].sum(axis=1)
    assert (kinds == 3).all()
    result = json.loads((tmp_path / "run" / "attractors.json").read_text())
    assert "bifurcations" in result and result["epoch"] >= 0
    assert (tmp_path / "run" / "bifurcations.csv").exists()
    for args, message in [([tmp_path], "has no model.pth"), ([folder, "--record", "1"], "--record")]:
        result = run_script("analyse_attractors.py", *args)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("analyse_attractors.py: error:") and message in result.stderr
