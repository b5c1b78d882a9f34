"""train.py --population K: K copies trained as one batched computation, each
copy's folder an ordinary run equal to the single run with its seed.

Tolerance. The batched products sum in another order than one model's, so
a copy's numbers equal its single run's up to rounding: at these tiny sizes
its history's losses agree to a relative 1e-5 over the first epochs (seen:
below 1e-6). Where the computation is the same operation for operation
(Adam, the projection, a resumed population, a copy among others) the
tests ask for bit-for-bit equality."""
import json
import math
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
import torch
from torch import nn

from attractors import functional
from attractors.options import UsageError
from attractors.population.lstm import lstm
from attractors.population.optim import StackedAdam, clip_per_copy
from attractors.population.stack import Population
from attractors.rnn import stabilize_lstm_
from attractors.run_files import load_verified
from attractors.training import TrainingStopped
from conftest import ROOT, TINY_SINE, run_script

RTOL = 1e-5
TINY_ORDER = ["--epochs", "3", "--seq_len", "12", "--seq_len_val", "12", "--n_sequences", "8",
              "--n_sequences_val", "4", "--batch_size", "4", "--hidden_size", "6",
              "--position_symbols_start", "2", "7", "--position_symbols_len", "3",
              "--interval_orbit", "1", "--seq_len_orbit", "20", "--burnout_orbit", "10",
              "--n_sequences_orbit", "2"]


def history(folder):
    return pd.read_csv(os.path.join(folder, "history.csv"), index_col=0)


def assert_copies_equal_single_runs(train, args, root, seeds, tmp_path, columns):
    for seed in seeds:
        single = train.main(args + ["--seed", str(seed), "--folder", str(tmp_path / f"s{seed}")])
        mine, theirs = history(os.path.join(root, f"seed-{seed}")), history(single)
        assert list(mine.columns) == list(theirs.columns)
        for column in columns:
            assert mine[column].values == pytest.approx(theirs[column].values, rel=RTOL), column


# ---------------------------------------------------------------- the LSTM
@pytest.mark.parametrize("I", [1, 2])   # one input: a product instead of a matrix product
def test_sequence_lstm_equals_the_functional_step_in_values_and_gradients(I):
    torch.manual_seed(0)
    K, T, B, H, layers = 3, 6, 4, 5, 2
    params = {}
    for layer in range(layers):
        for name, shape in (("weight_ih", (4 * H, I if layer == 0 else H)),
                            ("weight_hh", (4 * H, H)), ("bias_ih", (4 * H,)),
                            ("bias_hh", (4 * H,))):
            params[f"{name}_l{layer}"] = torch.randn(K, *shape, dtype=torch.float64,
                                                     requires_grad=True)
    x = torch.randn(K, T, B, I, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(layers, K, B, H, dtype=torch.float64, requires_grad=True)
                  for _ in range(2))
    weights = torch.randn(K, T, B, H, dtype=torch.float64)
    inputs = [x, *state, *params.values()]

    out, (h, c) = lstm(params, x, state)
    mine = torch.autograd.grad((out * weights).sum() + (h ** 2).sum() + c.sum(), inputs)
    expected, s = [], state
    for x_t in x.unbind(1):
        s = functional.lstm_step(params, x_t, s)
        expected.append(functional.output_of("LSTM", s))
    expected = torch.stack(expected, 1)
    theirs = torch.autograd.grad((expected * weights).sum() + (s[0] ** 2).sum() + s[1].sum(),
                                 inputs)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.allclose(h, s[0], atol=1e-12) and torch.allclose(c, s[1], atol=1e-12)
    for a, b in zip(mine, theirs):
        assert torch.allclose(a, b, atol=1e-11)
    with torch.no_grad():   # the forward alone (orbit samples, validation)
        out_only, _ = lstm(params, x, state)
    assert torch.allclose(out_only, expected, atol=1e-12)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@CUDA
def test_sequence_lstm_on_the_gpu_matches_the_cpu():
    torch.manual_seed(0)
    K, T, B, H = 3, 7, 4, 5
    params = {"weight_ih_l0": torch.randn(K, 4 * H, 1), "weight_hh_l0": torch.randn(K, 4 * H, H),
              "bias_ih_l0": torch.randn(K, 4 * H), "bias_hh_l0": torch.randn(K, 4 * H)}
    x = torch.randn(K, T, B, 1)
    results = []
    for device in ("cpu", "cuda"):
        mine = {k: v.double().to(device).requires_grad_() for k, v in params.items()}
        out, (h, c) = lstm(mine, x.double().to(device))
        grads = torch.autograd.grad(out.sum() + c.sum(), list(mine.values()))
        results.append([t.cpu() for t in (out, h, c, *grads)])
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-10)


@CUDA
def test_a_population_trains_on_the_gpu_as_on_the_cpu(sine, tmp_path):
    folders = [sine.train.main(TINY_SINE + ["--population", "2", "--folder",
                                            str(tmp_path / device), *extra])
               for device, extra in (("cpu", []), ("gpu", ["--cuda"]))]
    for seed in (2, 3):   # the default seed is 2
        a, b = (history(os.path.join(f, f"seed-{seed}")) for f in folders)
        assert a["loss"].values == pytest.approx(b["loss"].values, rel=1e-4)


# ------------------------------------------------- per-copy optimiser pieces
def test_stacked_adam_is_torch_adam_bit_for_bit_with_per_copy_steps_and_rates():
    torch.manual_seed(0)
    models = [nn.Linear(3, 2) for _ in range(3)]
    optimizers = [torch.optim.Adam(m.parameters(), lr) for m, lr in zip(models, (0.1, 0.01, 1))]
    pop = type("Pop", (), {})()
    pop.runs = [type("Run", (), {"optimizer": o})() for o in optimizers]
    pop.params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models])
                  for n, _ in models[0].named_parameters()}
    pop.after_step = lambda stepped: None
    adam = StackedAdam(pop, optimizers[0])
    adam.stack(optimizers, [m.parameters() for m in models])
    for step in range(5):
        skip = step % 3 == 1                # copy 1 skips some batches: its own step count
        pop.stepping = torch.tensor([True, not skip, True])
        for name, stacked in pop.params.items():
            stacked.grad = torch.randn_like(stacked)
            for k, (model, optimizer) in enumerate(zip(models, optimizers)):
                dict(model.named_parameters())[name].grad = stacked.grad[k].clone()
        for k, optimizer in enumerate(optimizers):
            if pop.stepping[k]:
                optimizer.step()
        adam.step()
    for k, model in enumerate(models):
        for name, p in model.named_parameters():
            assert torch.equal(pop.params[name][k], p.detach()), (k, name)
    assert adam.steps == [5, 3, 5]


def test_clipping_is_per_copy():
    torch.manual_seed(0)
    grads = [torch.randn(3, 4, 5) * 3, torch.randn(3, 4)]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    norms = clip_per_copy(params, 0.5)
    for k in range(3):
        copies = [torch.zeros_like(g[k], requires_grad=True) for g in grads]
        for p, g in zip(copies, grads):
            p.grad = g[k].clone()
        norm = torch.nn.utils.clip_grad_norm_(copies, 0.5)
        assert norms[k].item() == pytest.approx(norm.item(), rel=1e-6)
        for p, q in zip(params, copies):
            assert torch.allclose(p.grad[k], q.grad, rtol=1e-6)


def test_stable_projection_of_a_stack_is_each_copy_s():
    torch.manual_seed(0)
    lstms = [nn.LSTM(2, 4, 2) for _ in range(3)]
    stacked = type("Stack", (), {"num_layers": 2, **{
        n: torch.stack([getattr(m, n).detach() for m in lstms])
        for n in ("weight_hh_l0", "weight_ih_l0", "weight_hh_l1", "weight_ih_l1")}})
    stabilize_lstm_(stacked)
    for k, m in enumerate(lstms):
        stabilize_lstm_(m)
        for n in ("weight_hh_l0", "weight_ih_l0", "weight_hh_l1", "weight_ih_l1"):
            assert torch.allclose(getattr(stacked, n)[k], getattr(m, n), rtol=1e-6, atol=1e-7)


# ---------------------------------------------- copies do not leak into each other
def tiny_sine_config(sine, extra=()):
    config, _ = sine.train.parse(TINY_SINE + list(extra))
    return config


def copy_gradients(pop, batch):
    for p in pop.params.values():
        p.grad = None
    u, y = batch
    prediction, _ = pop.model(u)
    loss = pop.each(nn.functional.mse_loss)(prediction, y, reduction="sum")
    loss.sum().backward()
    return {name: p.grad.clone() for name, p in pop.params.items()}


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU", "exprnn"])
def test_a_copy_s_gradient_does_not_depend_on_the_other_copies(sine, rnn_type):
    config = tiny_sine_config(sine, ["--rnn_type", rnn_type])
    pop = Population(sine.train.build, config, [2, 3, 4], torch.device("cpu"))
    batch = next(sine.data.batches(pop.data, 2))
    before = copy_gradients(pop, batch)
    with torch.no_grad():       # the other copies' weights changed, one of them to nan
        for p in pop.params.values():
            p[1] = torch.randn_like(p[1]) * 10
            p[2] = float("nan")
    after = copy_gradients(pop, batch)
    for name in before:
        assert torch.equal(before[name][0], after[name][0]), name
        assert torch.isfinite(after[name][0]).all()
    alone = Population(sine.train.build, config, [2], torch.device("cpu"))
    alone_batch = next(sine.data.batches(alone.data, 2))
    for name, grad in copy_gradients(alone, alone_batch).items():   # = a population of one
        assert torch.allclose(grad[0], before[name][0], rtol=1e-4, atol=1e-5), name


# ------------------------------------------------------------ whole runs
def test_each_copy_equals_the_single_run_with_its_seed(sine, tmp_path):
    root = sine.train.main(TINY_SINE + ["--population", "3", "--folder", str(tmp_path / "pop")])
    assert sorted(os.listdir(root)) == ["population.json", "seed-2", "seed-3", "seed-4",
                                        "train.pyconfig.json"]
    assert json.load(open(os.path.join(root, "population.json")))["seeds"] == [2, 3, 4]
    assert_copies_equal_single_runs(sine.train, TINY_SINE, root, [2, 3, 4], tmp_path, ["loss"])
    # Each copy's folder is an ordinary run: the same files, keys and config.
    single, copy = str(tmp_path / "s3"), os.path.join(root, "seed-3")
    assert sorted(os.listdir(copy)) == sorted(n for n in os.listdir(single) if n != ".lock")
    assert json.load(open(os.path.join(copy, "train.pyconfig.json"))) == \
        json.load(open(os.path.join(single, "train.pyconfig.json")))
    for name in ("model.pth", "checkpoint.pth"):
        a, b = load_verified(os.path.join(copy, name)), load_verified(os.path.join(single, name))
        assert sorted(a) == sorted(b)
        assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
        assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
        for key, value in b["model"].items():
            assert torch.allclose(a["model"][key], value, rtol=1e-4, atol=1e-6), key
    orbit = torch.load(os.path.join(copy, "orbit_per_epoch_diagram.pth"), weights_only=True)
    theirs = torch.load(os.path.join(single, "orbit_per_epoch_diagram.pth"), weights_only=True)
    assert torch.allclose(orbit["trajectory"], theirs["trajectory"], rtol=1e-4, atol=1e-5)
    done = run_script("plot_orbit_diagram.py", os.path.join(copy, "orbit_per_epoch_diagram.pth"),
                      "-o", str(tmp_path / "orbit.png"))
    assert done.returncode == 0, done.stderr
    done = run_script("analyse_attractors.py", copy, "--n_starts", "2", "--steps", "40",
                      "--record", "20", "--lyapunov_steps", "20")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("extra", [["--rnn_type", "GRU"], ["--rnn_type", "RNN"],
                                   ["--rnn_type", "dtriv", "--K", "3"], ["--rnn_type", "cayley"],
                                   ["--rnn_type", "exprnn"], ["--stabilize"],
                                   ["--num_layers", "2"]])
def test_every_cell_type_equals_its_single_runs(sine, tmp_path, extra):
    args = TINY_SINE + extra
    root = sine.train.main(args + ["--population", "2", "--folder", str(tmp_path / "pop")])
    # the second copy: its seed, not the first's (the first is the test above's case)
    assert_copies_equal_single_runs(sine.train, args, root, [3], tmp_path, ["loss"])


def test_temporal_order_copies_equal_their_single_runs(tmp_path):
    from conftest import task_files
    order = task_files("sequence-classification")
    root = order.train.main(TINY_ORDER + ["--population", "2", "--seed", "5",
                                          "--folder", str(tmp_path / "pop")])
    assert_copies_equal_single_runs(order.train, TINY_ORDER, root, [5, 6], tmp_path,
                                    ["train loss", "train acc.", "valid. loss", "valid. acc."])


def test_resume_continues_bit_for_bit_and_a_copy_resumes_alone(sine, tmp_path, capsys):
    whole = sine.train.main(TINY_SINE + ["--epochs", "4", "--population", "2",
                                         "--folder", str(tmp_path / "whole")])
    part = str(tmp_path / "part")
    sine.train.main(TINY_SINE + ["--epochs", "2", "--population", "2", "--folder", part])
    sine.train.main(["--resume", part, "--epochs", "4"])
    for seed in (2, 3):
        for name in ("history.csv", "orbit_per_epoch_diagram.pth"):
            a, b = (open(os.path.join(f, f"seed-{seed}", name), "rb").read() for f in (whole, part))
            assert a == b, (seed, name)
    with pytest.raises(UsageError, match="population of 2, not 3"):
        sine.train.main(["--resume", part, "--epochs", "6", "--population", "3"])
    alone = os.path.join(part, "seed-3")      # a copy's checkpoint resumes as a single run
    sine.train.main(["--resume", alone, "--epochs", "6"])
    assert len(history(alone)) == 6
    capsys.readouterr()
    # the copy that went ahead is left out; the other one catches up
    sine.train.main(["--resume", part, "--epochs", "6"])
    assert "seed 3 is left out of the resumed population: it has finished its 6 epochs" \
        in capsys.readouterr().out
    assert len(history(os.path.join(part, "seed-2"))) == 6
    with pytest.raises(UsageError, match="already finished its 6 epochs"):
        sine.train.main(["--resume", part, "--epochs", "6"])


def inject_nan(monkeypatch, train, seed):
    """Copy ``seed``'s first training sequence has a NaN target: its first
    batch of every epoch has a NaN loss."""
    build = train.build

    def patched(config, device):
        run = build(config, device)
        if config["seed"] == seed:
            run.data["y"][0, 0, 0] = math.nan
        return run
    monkeypatch.setattr(train, "build", patched)


def test_on_nan_skip_is_per_copy(sine, tmp_path, monkeypatch):
    clean = sine.train.main(TINY_SINE + ["--population", "3", "--on_nan", "skip",
                                         "--folder", str(tmp_path / "clean")])
    inject_nan(monkeypatch, sine.train, 3)
    root = sine.train.main(TINY_SINE + ["--population", "3", "--on_nan", "skip",
                                        "--folder", str(tmp_path / "nan")])
    assert list(history(os.path.join(root, "seed-3"))["skipped batches"]) == [1, 1, 1]
    for seed in (2, 4):   # the others exactly as without it
        a, b = (open(os.path.join(f, f"seed-{seed}", "history.csv")).read() for f in (clean, root))
        assert a == b
    steps = [load_verified(os.path.join(root, f"seed-{s}", "checkpoint.pth"))
             ["optimizer"]["state"][0]["step"].item() for s in (2, 3, 4)]
    assert steps == [6, 3, 6]        # 2 batches in each of 3 epochs; seed 3 skipped one a time


def test_on_nan_stop_ends_that_copy_only(sine, tmp_path, monkeypatch):
    inject_nan(monkeypatch, sine.train, 3)
    root = str(tmp_path / "pop")
    with pytest.raises(TrainingStopped, match=r"1 of 3 copies stopped early \(seed 3\)") as info:
        sine.train.main(TINY_SINE + ["--population", "3", "--folder", root])
    assert info.value.code == 3
    assert not os.path.exists(os.path.join(root, "seed-3"))   # no epoch: nothing to keep
    for seed in (2, 4):
        assert len(history(os.path.join(root, f"seed-{seed}"))) == 3


@pytest.mark.parametrize("args, message", [
    (["--population", "0"], "--population: must be an integer in [1, 4096]"),
    (["--population", "3", "--seed", str(2 ** 32 - 2)], "goes past the largest seed"),
    (["--resume", "{single}", "--population", "2"], "holds no population"),
])
def test_bad_population_options_are_one_line(sine, tmp_path, args, message):
    single = sine.train.main(TINY_SINE + ["--epochs", "1", "--folder", str(tmp_path / "single")])
    args = [a.replace("{single}", single) for a in args]
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        sine.train.main(TINY_SINE + args + ["--folder", str(tmp_path / "new")]
                        if "--resume" not in args else args)


def test_one_writer_per_copy_folder(sine, tmp_path):
    from attractors.training import lock_run_folder
    root = tmp_path / "pop"
    sine.train.main(TINY_SINE + ["--epochs", "1", "--population", "2", "--folder", str(root)])
    held = lock_run_folder(str(root / "seed-3"))   # a copy resumed alone, say
    try:
        with pytest.raises(UsageError, match="seed-3 is in use by pid"):
            sine.train.main(["--resume", str(root), "--epochs", "2"])
    finally:
        held.close()
    assert len(history(root / "seed-2")) == 1   # nothing was written


def test_sigterm_checkpoints_every_copy_and_the_population_resumes(sine, tmp_path):
    root = tmp_path / "pop"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "sine-generator" / "train.py"), *TINY_SINE, "--epochs",
         "100000", "--population", "2", "--folder", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    path = root / "seed-3" / "history.csv"
    while not (path.exists() and path.read_text().count("\n") > 3):
        assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and f"--resume {root}" in err and "Traceback" not in err
    rows = [len(history(root / f"seed-{s}")) for s in (2, 3)]
    assert rows[0] == rows[1]
    assert all(load_verified(root / f"seed-{s}" / "checkpoint.pth")["epoch"] == rows[0] - 1
               for s in (2, 3))
    sine.train.main(["--resume", str(root), "--epochs", str(rows[0] + 1)])
    assert len(history(root / "seed-2")) == rows[0] + 1



def test_an_edited_manifest_is_one_line(sine, tmp_path):
    """A repeated seed made the population lock its own copy twice ('in use
    by pid <its own>'); a bool, a negative seed or another format resumed
    without a word."""
    from attractors.population.trainer import read_manifest
    root = tmp_path / "pop"
    sine.train.main(TINY_SINE + ["--epochs", "1", "--population", "2", "--folder", str(root)])
    before = (root / "seed-2" / "history.csv").read_text()
    for manifest, message in [('{"format": 1, "seeds": [true, 3]}', "not a population manifest"),
                              ('{"format": 1, "seeds": [-1, 2]}', "not a population manifest"),
                              ('{"seeds": [2, 3]}', "has format None")]:
        (root / "population.json").write_text(manifest)
        with pytest.raises(UsageError, match=message):
            read_manifest(str(root))
    (root / "population.json").write_text('{"format": 1, "seeds": [2, 2, 3]}')
    result = run_script("sine-generator/train.py", "--resume", root, "--epochs", "2")
    assert result.returncode == 2 and "not a population manifest" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (root / "seed-2" / "history.csv").read_text() == before
