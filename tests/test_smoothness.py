import math

import numpy as np
import pandas as pd
import pytest
import torch

from attractors import smoothness
from attractors.tasks import load_run
from conftest import ROOT, load_script, run_script, task_files
from test_chaotic_lstm import printed_lipschitz

TINY_RUN = ["--epochs", "2", "--seq_len", "12", "--n_sequences", "3", "--batch_size", "3",
            "--hidden_size", "4"]
FAST = ["--seq_lens", "5", "15", "--n_points", "7", "--threads", "1", "--no_curvature"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny sine runs trained with sine-generator/train.py: two LSTMs and a dtriv."""
    train = load_script("sine-generator/train.py")
    root = tmp_path_factory.mktemp("smooth")
    folders = {}
    for name, extra in [("lstm", []), ("lstm_seed3", ["--seed", "3"]),
                        ("dtriv", ["--rnn_type", "dtriv", "--K", "1"])]:
        folders[name] = train.main(TINY_RUN + extra + ["--folder", str(root / name)])
    return folders


def test_lipschitz_of_a_quadratic_is_exact_on_any_grid():
    s = np.linspace(-1, 2, 31)
    assert smoothness.derivative_lipschitz(s, 3 * s ** 2 - s + 4) == pytest.approx(6, rel=1e-10)
    uneven = np.sort(np.random.default_rng(0).uniform(-1, 1, 40))
    assert smoothness.derivative_lipschitz(uneven, -0.5 * uneven ** 2) == pytest.approx(1, rel=1e-8)
    assert smoothness.derivative_lipschitz(s, 2 * s + 1) == pytest.approx(0, abs=1e-12)


def test_lipschitz_of_a_sine_tends_to_the_largest_second_derivative():
    s = np.linspace(0, 2 * np.pi, 2001)
    estimate = smoothness.derivative_lipschitz(s, np.sin(3 * s))   # max |f''| = 9
    assert estimate == pytest.approx(9, rel=1e-3) and estimate <= 9


def test_lipschitz_edge_cases():
    assert math.isnan(smoothness.derivative_lipschitz([0, 1, 2], [0, np.inf, 1]))
    with pytest.raises(ValueError):
        smoothness.derivative_lipschitz([0, 1], [0, 1])
    with pytest.raises(ValueError):
        smoothness.derivative_lipschitz([0, 2, 1], [0, 1, 2])


def test_grid_limit_bounds_the_estimate():
    s = np.linspace(-1, 1, 11)
    noisy = np.random.default_rng(1).normal(size=11)
    assert smoothness.derivative_lipschitz(s, noisy) <= smoothness.grid_limit(s, noisy)
    zigzag = np.tile([0.0, 1.0], 6)[:11]
    limit = smoothness.grid_limit(s, zigzag)
    assert smoothness.derivative_lipschitz(s, zigzag) == pytest.approx(limit)


def test_random_direction_is_normalised_per_tensor_and_seeded():
    theta = {"a": torch.randn(4, 3), "b": torch.zeros(5), "c": 7 * torch.ones(2)}
    d = smoothness.random_direction(theta, seed=1)
    assert torch.allclose(d["a"].norm(), theta["a"].norm())
    assert torch.equal(d["b"], torch.zeros(5))
    assert torch.allclose(d["c"].norm(), theta["c"].norm())
    again, other = smoothness.random_direction(theta, 1), smoothness.random_direction(theta, 2)
    assert all(torch.equal(d[k], again[k]) for k in d)
    assert not torch.equal(d["a"], other["a"])


def test_line_grid_contains_zero():
    s = smoothness.line_grid(-0.1, 0.1, 200)
    assert len(s) == 200 and 0.0 in s and s[0] == -0.1 and s[-1] == 0.1


def test_script_writes_figure_and_csv(runs, tmp_path):
    output = tmp_path / "out" / "smooth.png"
    result = run_script("analyse_smoothness.py", runs["lstm"], *FAST, "-o", output)
    assert result.returncode == 0, result.stderr
    assert output.is_file() and output.stat().st_size > 1000
    table = pd.read_csv(tmp_path / "out" / "smooth.csv")
    assert list(table["seq_len"]) == [5, 15]
    seq_lens, lipschitz = printed_lipschitz(result.stdout)   # printed with 4 digits
    assert seq_lens == [5, 15]
    assert np.allclose(table["lipschitz"], lipschitz, rtol=1e-3, atol=0)
    assert np.all(table["lipschitz"] >= 0)
    curves = pd.read_csv(tmp_path / "out" / "smooth_curves.csv")
    assert list(curves.columns) == ["s", "loss_T5", "loss_T15"] and len(curves) == 7
    assert 0.0 in set(curves["s"])
    for seq_len, lip in zip(table["seq_len"], table["lipschitz"]):   # the estimate of its curve
        assert lip == pytest.approx(smoothness.derivative_lipschitz(
            curves["s"].to_numpy(), curves[f"loss_T{seq_len}"].to_numpy()), rel=1e-9)


def loss_of(folder):
    """The smoothness loss of a run, as analyse_smoothness.py builds it."""
    task, model, saved = load_run(folder, [ROOT])
    return task.smoothness_loss(model, saved["config"], None), saved


def test_loss_is_the_sine_training_loss(runs):
    task, checkpoint = loss_of(runs["lstm"])
    sine = task_files("sine-generator")
    data = sine.data
    net = sine.model.SineGenerator(**checkpoint["model_kwargs"])
    net.load_state_dict(checkpoint["model"])
    c = checkpoint["config"]
    d = data.data_generator(c["min_freq"], c["max_freq"], c["n_sequences"], 20, "cpu")
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(net(d["u"])[0], d["y"], reduction="sum") / (20 * 3)
    assert task.loss(20) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("name", ["lstm", "dtriv"])
def test_batched_equals_point_by_point(runs, name):
    task, _ = loss_of(runs[name])
    theta = smoothness.parameters_of(task.model)
    direction = smoothness.random_direction(theta, 0)
    s = smoothness.line_grid(-0.5, 0.5, 5)
    batched = smoothness.line_losses(task, theta, direction, s, 9, batched=True, chunk_size=2)
    loop = smoothness.line_losses(task, theta, direction, s, 9, batched=False)
    assert np.allclose(batched, loop, rtol=1e-10, atol=1e-14)
    # the loop put the weights back
    assert all(torch.equal(p, theta[k]) for k, p in task.model.named_parameters())


@pytest.mark.parametrize("name", ["lstm", "dtriv"])
def test_exact_curvature_matches_second_differences(runs, name):
    task, _ = loss_of(runs[name])
    theta = smoothness.parameters_of(task.model)
    direction = smoothness.random_direction(theta, 1)
    h = 1e-4
    left, middle, right = smoothness.line_losses(task, theta, direction, [-h, 0, h], 10)
    exact = smoothness.curvature_at_zero(task, theta, direction, 10)
    assert exact == pytest.approx((left - 2 * middle + right) / h ** 2, rel=1e-4)


def test_towards_another_run_reaches_it_at_s_equal_one(runs, tmp_path):
    result = run_script("analyse_smoothness.py", runs["lstm"], "--towards", runs["lstm_seed3"],
                        "--s_range", "0", "1", "--n_points", "3", "--seq_lens", "8",
                        "--no_curvature", "-o", tmp_path / "t.png")
    assert result.returncode == 0, result.stderr
    curves = pd.read_csv(tmp_path / "t_curves.csv")
    assert list(curves["s"]) == [0.0, 0.5, 1.0]
    other, _ = loss_of(runs["lstm_seed3"])
    assert curves["loss_T8"].iloc[-1] == pytest.approx(other.loss(8), rel=1e-10)


@pytest.mark.parametrize("args,message", [
    (["/no/such/folder"], "no such folder"),
    (["/tmp"], "has no model.pth"),
    (["{lstm}", "--towards", "{dtriv}"], "is another model: rnn_type dtriv there, LSTM here"),
    (["{lstm}", "--n_points", "2"], "n_points"),
    (["{lstm}", "--s_range", "1", "0"], "s_range"),
])
def test_bad_input_is_one_line_and_non_zero(runs, args, message):
    args = [a.format(**runs) for a in args]
    result = run_script("analyse_smoothness.py", *args)
    assert result.returncode == 2
    err = result.stderr
    assert err.count("\n") == 1 and err.startswith("analyse_smoothness.py: error:")
    assert message in err


def test_unknown_experiment_is_refused(runs, tmp_path):
    checkpoint = torch.load(f"{runs['lstm']}/model.pth", weights_only=True)
    checkpoint["experiment_name"] = "not-yet"
    del checkpoint["sha256"]                      # changed on purpose, as the error says
    (tmp_path / "x").mkdir()
    torch.save(checkpoint, tmp_path / "x" / "model.pth")
    result = run_script("analyse_smoothness.py", tmp_path / "x")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("analyse_smoothness.py:")
    assert "no task folder describes 'not-yet' runs" in result.stderr
