"""Train an RNN to classify a sequence by a few relevant, widely separated
symbols hidden among distractors (the temporal-order problem)."""
import torch

from attractors.options import (build_parser, check_orbit_options, check_positive,
                                parse_options, run_cli, select_device, UsageError)
from attractors.orbit import OrbitSampler, add_orbit_options
from attractors.rnn import add_rnn_options, check_rnn_options
from attractors.training import Trainer, optimiser_options
from data import data_generator, windows
from model import SequenceClassifier, loss_and_correct

DESCRIPTION = ("Train a recurrent network to classify a few relevant, widely separated "
               "symbols among distractors (temporal order).")
COLUMNS = ["epoch", "train loss", "train acc.", "valid. loss", "valid. acc."]


def add_config_options(group):
    group.add_argument("--epochs", type=int, default=10000, help="number of epochs")
    group.add_argument("--seq_len", type=int, default=200, help="training sequence length")
    group.add_argument("--seq_len_val", type=int, default=200,
                       help="validation sequence length")
    group.add_argument("--batch_size", type=int, default=100, help="sequences per batch")
    group.add_argument("--n_sequences", type=int, default=1000, help="training sequences")
    group.add_argument("--n_sequences_val", type=int, default=1000,
                       help="validation sequences (drawn with seed + 1)")
    group.add_argument("--n_symbols", type=int, default=2,
                       help="relevant symbols; there are n_symbols ** (number of windows) "
                            "classes")
    group.add_argument("--n_distractors", type=int, default=4, help="distractor symbols")
    optimiser_options(group)
    group.add_argument("--gamma", type=float, default=0.25,
                       help="learning-rate decay factor at each milestone")
    group.add_argument("--milestones", nargs="+", type=int, default=[500, 1000, 2000],
                       help="epochs at which the learning rate decays")
    group.add_argument("--position_symbols_start", nargs="+", type=int, default=[9, 39],
                       help="first position of each window holding a relevant symbol")
    group.add_argument("--position_symbols_len", nargs="+", type=int, default=[10],
                       help="window length: one value for every window, or one per start")
    add_orbit_options(group, interval_save=100, n_sequences=10, seq_len=800, burnout=400)
    add_rnn_options(group, hidden_size=50)


def parse(argv=None):
    parser, config_dests = build_parser(add_config_options, DESCRIPTION, prog="train.py")
    config, system = parse_options(parser, config_dests, argv)
    check_positive(config, "seq_len", "seq_len_val", "batch_size", "n_sequences",
                   "n_sequences_val", "n_symbols", "n_distractors")
    if config["epochs"] < 0:
        raise UsageError("epochs must be >= 0")
    try:
        intervals = windows(config["position_symbols_start"], config["position_symbols_len"])
    except ValueError as e:
        raise UsageError(str(e)) from None
    for name in ("seq_len", "seq_len_val"):
        for start, end in intervals:
            if end > config[name]:
                raise UsageError(f"the window of positions {start}..{end - 1} does not fit "
                                 f"in {name} = {config[name]}")
    check_orbit_options(config)
    check_rnn_options(config)
    return config, system, intervals


def batches(data, n_sequences, batch_size):
    """``(u, y)`` of ``batch_size`` sequences at a time, in order."""
    for start in range(0, n_sequences, batch_size):
        end = min(start + batch_size, n_sequences)
        yield data["u"][:, start:end], data["y"][start:end]


def run_epoch(model, data, batch_size, trainer=None):
    """Loss and accuracy over ``data``, both divided by its number of
    sequences; with a ``trainer``, take an optimiser step on every batch."""
    n = data["y"].shape[0]
    total_loss = torch.zeros((), device=data["y"].device)
    correct = torch.zeros((), dtype=torch.int64, device=data["y"].device)
    model.train(trainer is not None)
    with torch.set_grad_enabled(trainer is not None):
        for u, y in batches(data, n, batch_size):
            logits, _ = model(u)            # zero initial state
            loss, right = loss_and_correct(logits, y)
            if trainer is not None:
                trainer.step(loss)
            total_loss += loss.detach()
            correct += right
    return total_loss / n, correct.float() / n


def make_data(config, intervals, device):
    """Training data from ``seed``, validation data from ``seed + 1``."""
    def generate(seq_len, n_sequences, seed):
        try:
            return data_generator(config["n_symbols"], config["n_distractors"], intervals,
                                  seq_len, n_sequences, seed, device)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return (generate(config["seq_len"], config["n_sequences"], config["seed"]),
            generate(config["seq_len_val"], config["n_sequences_val"], config["seed"] + 1))


def main(argv=None):
    config, system, intervals = parse(argv)
    device = select_device(system.cuda)
    # Build in the old code's order (data, model, optimiser, orbit states) so
    # that a seed gives the same numbers.
    torch.manual_seed(config["seed"])
    data, data_val = make_data(config, intervals, device)
    model_kwargs = {"n_classes": data["n_classes"], "input_size": data["input_size"],
                    **{k: config[k] for k in ("rnn_type", "hidden_size", "num_layers", "K",
                                              "init")}}
    model = SequenceClassifier(**model_kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), config["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config["milestones"],
                                                     config["gamma"])
    orbit = None
    if config["interval_orbit"] >= 1:
        # Each one-hot symbol held constant; the class logits are recorded.
        const_inputs = torch.eye(data["input_size"], device=device)
        orbit = OrbitSampler(model, const_inputs, config["n_sequences_orbit"],
                             config["seq_len_orbit"], config["burnout_orbit"],
                             config["std_orbit"])
    # The trainer makes the run folder (or resumes it) and steps the scheduler.
    trainer = Trainer(system, model, optimizer, config, "temporal-order", model_kwargs,
                      columns=COLUMNS, monitor="valid. acc.", save="last", orbit=orbit,
                      scheduler=scheduler)
    for epoch in trainer.epochs():
        train_loss, train_acc = run_epoch(model, data, config["batch_size"], trainer)
        val_loss, val_acc = run_epoch(model, data_val, config["batch_size"])
        row = dict(zip(COLUMNS, (epoch, train_loss, train_acc, val_loss, val_acc)))
        trainer.end_epoch(epoch, row, {"train_loss": train_loss, "val_loss": val_loss,
                                       "train_acc": train_acc, "val_acc": val_acc})
    trainer.finish()
    print(f"Run saved to {trainer.folder}")
    return trainer.folder


if __name__ == "__main__":
    run_cli(main)
