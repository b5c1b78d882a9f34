import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from attractors.options import UsageError
import torch
import torch.nn.functional as F
from torch import nn

from conftest import ROOT, load_script, task_files

# Two windows of 3 positions in 12 steps: 2 symbols, 4 distractors, 4 classes.
TINY = ["--epochs", "3", "--seq_len", "12", "--seq_len_val", "10", "--n_sequences", "6",
        "--n_sequences_val", "5", "--batch_size", "4", "--hidden_size", "8",
        "--position_symbols_start", "1", "5", "--position_symbols_len", "3",
        "--interval_orbit", "1", "--seq_len_orbit", "15", "--burnout_orbit", "10",
        "--n_sequences_orbit", "2"]
RUN_FILES = {"history.csv", "model.pth", "orbit_per_epoch_diagram.pth", "train.pyconfig.json"}


def files_in(folder):
    """The names in a run folder, less the resume checkpoint and the orbit
    samples file the core writes for it."""
    return {p.name for p in folder.iterdir()} - {"checkpoint.pth", "orbit_samples.bin"}




@pytest.fixture
def task():
    """The temporal-order task: ``task.train``, ``task.data``, ``task.model``."""
    return task_files("sequence-classification")


def load(path):
    return torch.load(path, weights_only=True)


def test_loss_and_accuracy_on_hand_made_logits(task):
    # Only the last step counts: the first step's logits would get every class right.
    first = torch.tensor([[9.0, 0, 0], [0, 9.0, 0], [0, 0, 9.0]])
    last = torch.tensor([[2.0, 0, 0], [0, 1.0, 3.0], [0, 0, 0]])
    target = torch.tensor([0, 1, 2])
    loss, correct = task.model.loss_and_correct(torch.stack([first, last]), target)
    expected = (-math.log(math.exp(2) / (math.exp(2) + 2))
                - math.log(math.exp(1) / (1 + math.exp(1) + math.exp(3)))
                + math.log(3))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # argmax: class 0 (right), class 2 (wrong), a tie read as class 0 (wrong)
    assert correct.item() == 1 and correct.dtype == torch.int64


def test_same_seed_same_starting_weights_as_old_build_order(task):
    torch.manual_seed(2)
    model = task.model.SequenceClassifier(4, 6, "LSTM", 8)
    torch.manual_seed(2)
    lstm, linear = nn.LSTM(6, 8, 1), nn.Linear(8, 4)   # the old order: RNN, then read-out
    assert torch.equal(model.rnn.rnn.weight_hh_l0, lstm.weight_hh_l0)
    assert torch.equal(model.linear.weight, linear.weight)
    assert list(model.state_dict()) == ["rnn.rnn.weight_ih_l0", "rnn.rnn.weight_hh_l0",
                                        "rnn.rnn.bias_ih_l0", "rnn.rnn.bias_hh_l0",
                                        "linear.weight", "linear.bias"]


def reference_first_epoch(task, config):
    """The old procedure written out by hand: seed, data, LSTM then linear,
    Adam, batches in order, clipped steps, summed losses over the set size."""
    torch.manual_seed(config["seed"])
    windows = task.data.windows(config["position_symbols_start"], config["position_symbols_len"])
    args = (config["n_symbols"], config["n_distractors"], windows)
    data = task.data.data_generator(*args, config["seq_len"], config["n_sequences"],
                                    config["seed"], "cpu")
    val = task.data.data_generator(*args, config["seq_len_val"], config["n_sequences_val"],
                                   config["seed"] + 1, "cpu")
    lstm = nn.LSTM(data["input_size"], config["hidden_size"])
    linear = nn.Linear(config["hidden_size"], data["n_classes"])
    params = list(lstm.parameters()) + list(linear.parameters())
    optimizer = torch.optim.Adam(params, config["lr"])
    results = []
    for d, learn in ((data, True), (val, False)):
        n, total, right = d["y"].shape[0], 0.0, 0
        for start in range(0, n, config["batch_size"]):
            u, y = d["u"][:, start:start + config["batch_size"]], d["y"][start:start + config["batch_size"]]
            with torch.set_grad_enabled(learn):
                logits = linear(lstm(u)[0])[-1]
                loss = F.cross_entropy(logits, y, reduction="sum")
            if learn:
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, config["clip_value"])
                optimizer.step()
            total += loss.item()
            right += (logits.argmax(1) == y).sum().item()
        results += [total / n, right / n]
    return results


def test_first_epoch_matches_the_old_procedure_and_validation_uses_its_own_size(task, tmp_path):
    folder = task.train.main(TINY + ["--epochs", "1", "--folder", str(tmp_path / "run")])
    config = json.loads((tmp_path / "run" / "train.pyconfig.json").read_text())
    history = pd.read_csv(f"{folder}/history.csv", index_col=0)
    got = history.loc[0, ["train loss", "train acc.", "valid. loss", "valid. acc."]]
    expected = reference_first_epoch(task, config)
    assert list(got) == pytest.approx(expected, rel=1e-5)
    # 5 validation sequences (not the 6 training ones): accuracy in fifths
    assert (history["valid. acc."] * 5).round(4).apply(float.is_integer).all()


def test_tiny_run_writes_the_four_files(task, tmp_path):
    folder = task.train.main(TINY + ["--folder", str(tmp_path / "run")])
    assert files_in(tmp_path / "run") == RUN_FILES
    orbit = load(f"{folder}/orbit_per_epoch_diagram.pth")
    assert orbit["frequency"] == 1
    # (seq_len_orbit - burnout_orbit, n_sequences_orbit, 2 + 4 symbols, 4 classes, 3 samples)
    assert orbit["trajectory"].shape == (15 - 10, 2, 6, 4, 3)
    assert torch.isfinite(orbit["trajectory"]).all()
    history = pd.read_csv(f"{folder}/history.csv", index_col=0)
    assert list(history.columns) == ["epoch", "train loss", "train acc.", "valid. loss",
                                     "valid. acc."]
    assert list(history["epoch"]) == [0, 1, 2]
    assert history[["train acc.", "valid. acc."]].stack().between(0, 1).all()
    checkpoint = load(f"{folder}/model.pth")
    assert checkpoint["experiment_name"] == "temporal-order"
    assert checkpoint["epoch"] == 2                         # the last model, not the best
    assert checkpoint["val_acc"].item() == pytest.approx(history.loc[2, "valid. acc."])
    assert checkpoint["train_loss"].item() == pytest.approx(history.loc[2, "train loss"])
    assert checkpoint["config"]["hidden_size"] == 8
    assert checkpoint["model_kwargs"]["n_classes"] == 4
    assert checkpoint["model_kwargs"]["input_size"] == 6
    model = task.model.SequenceClassifier(**checkpoint["model_kwargs"])
    model.load_state_dict(checkpoint["model"])
    assert model.rnn.rnn.weight_hh_l0.shape == (4 * 8, 8)


def test_default_orbit_layout_and_window_lengths_per_start(task, tmp_path):
    # Three windows of lengths 2, 3, 1 with 3 symbols: 27 classes, 3 + 2 inputs.
    args = TINY + ["--epochs", "2", "--n_symbols", "3", "--n_distractors", "2",
                   "--position_symbols_start", "0", "3", "8",
                   "--position_symbols_len", "2", "3", "1"]
    folder = task.train.main(args + ["--folder", str(tmp_path / "run")])
    orbit = load(f"{folder}/orbit_per_epoch_diagram.pth")
    assert orbit["trajectory"].shape == (5, 2, 5, 27, 2)


def test_saved_config_repeats_the_run(task, tmp_path):
    task.train.main(TINY + ["--epochs", "2", "--folder", str(tmp_path / "a")])
    saved = tmp_path / "a" / "train.pyconfig.json"
    assert json.loads(saved.read_text())["position_symbols_len"] == [3]
    task.train.main(["-c", str(saved), "--folder", str(tmp_path / "b")])
    first, second = (pd.read_csv(tmp_path / f / "history.csv") for f in "ab")
    pd.testing.assert_frame_equal(first, second)


def test_resumed_run_matches_an_uninterrupted_one(task, tmp_path):
    """The task builds everything before the trainer, so a resume can restore it."""
    parser, _ = task.train.build_parser(task.train.add_config_options, "")
    if "--resume" not in parser.format_help():
        pytest.skip("the core has no --resume")
    task.train.main(TINY + ["--epochs", "4", "--folder", str(tmp_path / "whole")])
    task.train.main(TINY + ["--epochs", "2", "--folder", str(tmp_path / "part")])
    task.train.main(["--resume", str(tmp_path / "part"), "--epochs", "4"])
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert (part / "history.csv").read_text() == (whole / "history.csv").read_text()
    orbit = "orbit_per_epoch_diagram.pth"
    assert torch.equal(load(part / orbit)["trajectory"], load(whole / orbit)["trajectory"])


@pytest.mark.parametrize("rnn_type", ["GRU", "RNN", "exprnn", "dtriv", "cayley"])
def test_other_rnn_types_run(task, tmp_path, rnn_type):
    args = TINY + ["--epochs", "2", "--rnn_type", rnn_type,
                   *(["--K", "1"] if rnn_type == "dtriv" else [])]   # --K: dtriv only
    folder = task.train.main(args + ["--folder", str(tmp_path / "run")])
    assert files_in(tmp_path / "run") == RUN_FILES
    assert load(f"{folder}/orbit_per_epoch_diagram.pth")["trajectory"].shape == (5, 2, 6, 4, 2)
    checkpoint = load(f"{folder}/model.pth")
    model = task.model.SequenceClassifier(**checkpoint["model_kwargs"])
    model.load_state_dict(checkpoint["model"])
    if rnn_type in ("exprnn", "dtriv", "cayley"):
        B = model.rnn.rnn.recurrent_matrix()
        assert torch.allclose(B.T @ B, torch.eye(8), atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--position_symbols_start", "1", "10"], "positions 10..12 does not fit in seq_len = 12"),
    (["--seq_len_val", "7"], "positions 5..7 does not fit in seq_len_val = 7"),
    (["--position_symbols_start", "1", "2"], "overlap"),
    (["--position_symbols_len", "3", "3", "3"], "position_symbols_len needs 1 or 2 values"),
    (["--position_symbols_len", "0"], "--position_symbols_len: must be an integer in [1,"),
    (["--n_sequences_val", "0"], "--n_sequences_val: must be an integer in [1,"),
    (["--hidden_size", "0"], "--hidden_size: must be an integer in [1,"),
])
def test_bad_input_is_one_line_and_leaves_nothing(task, tmp_path, monkeypatch, capsys,
                                                  args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        task.train.run_cli(task.train.main, TINY + args + ["--folder", "out"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_bad_input_from_the_shell(tmp_path):
    script = ROOT / "sequence-classification" / "train.py"
    result = subprocess.run([sys.executable, str(script), "--position_symbols_start", "195",
                             "--folder", "out"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("train.py: error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_option_with_its_default(task, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        task.train.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [("--hidden_size", "50"), ("--seq_len_val", "200"),
                            ("--n_sequences_val", "1000"), ("--gamma", "0.25"),
                            ("--interval_save_orbit", "100"), ("--burnout_orbit", "400"),
                            ("--position_symbols_start", "[9, 39]"), ("--K", "100")]:
        assert option in text and f"(default: {default})" in text
    assert list(tmp_path.iterdir()) == []


def test_plot_history_writes_a_png(task, tmp_path):
    folder = task.train.main(TINY + ["--epochs", "2", "--interval_orbit", "-1",
                                     "--folder", str(tmp_path / "run")])
    plot = load_script("sequence-classification/plot_history.py")
    plot.main([folder])                                     # default: inside the run folder
    plot.main([folder, "-o", str(tmp_path / "figs" / "h.png")])
    assert (tmp_path / "run" / "history.png").stat().st_size > 1000
    assert (tmp_path / "figs" / "h.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(UsageError, match="has no history.csv"):
        plot.main([str(tmp_path)])
