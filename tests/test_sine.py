import numpy as np
import pandas as pd
import torch
from torch import nn

from conftest import TINY_SINE


def test_data_values_and_shapes(sine):
    data = sine.data.data_generator(np.pi / 16, np.pi / 8, 5, 7, "cpu")
    assert data["u"].shape == data["y"].shape == (7, 5, 1)
    assert data["u"].dtype == data["y"].dtype == torch.float32
    w = np.linspace(np.pi / 16, np.pi / 8, 5)
    assert torch.equal(data["u"][3, :, 0], torch.tensor(w, dtype=torch.float32))
    assert torch.equal(data["y"][0, :, 0], torch.tensor(np.sin(w), dtype=torch.float32))
    # computed in float64, then rounded once: y[t] = sin((t + 1) w) up to cumsum rounding
    expected = np.sin(np.cumsum(np.tile(w, (7, 1)), axis=0)).astype(np.float32)
    assert np.array_equal(data["y"][:, :, 0].numpy(), expected)
    assert data["u"][0, 0, 0] == np.float32(np.pi / 16) and data["u"][0, -1, 0] == np.float32(np.pi / 8)


def test_orbit_inputs(sine):
    inputs = sine.data.orbit_inputs("cpu")
    assert inputs.shape == (10, 1)
    assert torch.allclose(inputs[[0, -1], 0], torch.tensor([np.pi / 16, np.pi / 8]))


def test_batches_cover_all_sequences_in_order(sine):
    data = sine.data.data_generator(0.1, 0.2, 5, 3, "cpu")
    parts = list(sine.data.batches(data, 2))
    assert [u.shape[1] for u, _ in parts] == [2, 2, 1]
    assert torch.equal(torch.cat([u for u, _ in parts], 1), data["u"])


def test_same_seed_same_starting_weights_as_old_build_order(sine):
    torch.manual_seed(2)
    model = sine.model.SineGenerator("LSTM", 6, 1)
    torch.manual_seed(2)
    lstm, linear = nn.LSTM(1, 6, 1), nn.Linear(6, 1)   # the old order: RNN, then read-out
    assert torch.equal(model.rnn.rnn.weight_hh_l0, lstm.weight_hh_l0)
    assert torch.equal(model.linear.weight, linear.weight)
    assert "rnn.rnn.weight_ih_l0" in model.state_dict()


def test_tiny_run_writes_the_four_files(sine, tmp_path):
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["checkpoint.pth", "history.csv", "model.pth",
                     "orbit_per_epoch_diagram.pth", "orbit_samples.bin", "train.pyconfig.json"]
    orbit = torch.load(f"{folder}/orbit_per_epoch_diagram.pth", weights_only=True)
    assert orbit["frequency"] == 1
    assert orbit["trajectory"].shape == (30 - 20, 2, 10, 1, 3)
    assert torch.isfinite(orbit["trajectory"]).all()
    history = pd.read_csv(f"{folder}/history.csv", index_col=0)
    assert list(history.columns) == ["epoch", "loss"] and list(history["epoch"]) == [0, 1, 2]
    checkpoint = torch.load(f"{folder}/model.pth", weights_only=True)
    assert checkpoint["experiment_name"] == "sine-generator"
    assert checkpoint["epoch"] == int(history["loss"].idxmin())
    assert checkpoint["config"]["hidden_size"] == 8
    model = sine.model.SineGenerator(**checkpoint["model_kwargs"])
    model.load_state_dict(checkpoint["model"])


def test_orbit_file_written_every_interval_save_orbit(sine, tmp_path):
    args = TINY_SINE + ["--epochs", "5", "--interval_orbit", "2", "--interval_save_orbit", "4"]
    sine.train.main(args + ["--folder", str(tmp_path / "run")])
    orbit = torch.load(tmp_path / "run" / "orbit_per_epoch_diagram.pth", weights_only=True)
    assert orbit["frequency"] == 2
    assert orbit["trajectory"].shape[-1] == 2      # after epochs 1 and 3


def test_stabilized_run_keeps_the_projection(sine, tmp_path):
    from attractors.rnn import STABLE_HH_NORMS
    folder = sine.train.main(TINY_SINE + ["--stabilize", "--folder", str(tmp_path / "run")])
    weights = torch.load(f"{folder}/model.pth", weights_only=True)["model"]
    for block, norm in zip(weights["rnn.rnn.weight_hh_l0"].chunk(4), STABLE_HH_NORMS):
        assert torch.allclose(block.abs().sum(0), torch.full((8,), norm), atol=1e-6)


def test_gru_and_rnn_types_run(sine, tmp_path):
    for rnn_type in ("GRU", "RNN"):
        folder = sine.train.main(TINY_SINE + ["--rnn_type", rnn_type, "--num_layers", "2",
                                              "--folder", str(tmp_path / rnn_type)])
        orbit = torch.load(f"{folder}/orbit_per_epoch_diagram.pth", weights_only=True)
        assert orbit["trajectory"].shape == (10, 2, 10, 1, 3)


def test_orthogonal_types_run_with_the_orbit_sampler(sine, tmp_path):
    for rnn_type in ("exprnn", "dtriv", "cayley"):
        dtriv = ["--K", "2"] if rnn_type == "dtriv" else []   # --K applies to dtriv only
        folder = sine.train.main(TINY_SINE + ["--rnn_type", rnn_type, *dtriv,
                                              "--folder", str(tmp_path / rnn_type)])
        names = sorted(p.name for p in (tmp_path / rnn_type).iterdir())
        assert names == ["checkpoint.pth", "history.csv", "model.pth",
                         "orbit_per_epoch_diagram.pth", "orbit_samples.bin", "train.pyconfig.json"]
        orbit = torch.load(f"{folder}/orbit_per_epoch_diagram.pth", weights_only=True)
        assert orbit["trajectory"].shape == (10, 2, 10, 1, 3)
        checkpoint = torch.load(f"{folder}/model.pth", weights_only=True)
        model = sine.model.SineGenerator(**checkpoint["model_kwargs"])
        model.load_state_dict(checkpoint["model"])
        B = model.rnn.rnn.recurrent_matrix()
        assert torch.allclose(B.T @ B, torch.eye(8), atol=1e-5)
