"""Train an RNN to classify a sequence by a few relevant, widely separated
symbols hidden among distractors (the temporal-order problem)."""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (BIG, COUNT, add_optimiser_options, add_run_options,
                                build_parser, check_memory, check_orbit_options,
                                estimate_training_bytes, parse_options, run_cli, select_device,
                                Integer, Number, UsageError)
import torch

from attractors import population
from attractors.orbit import OrbitSampler, add_orbit_options
from attractors.rnn import add_rnn_options, check_rnn_options
from attractors.tasks import import_sibling

data = import_sibling(__file__, "data")
model_py = import_sibling(__file__, "model")
SequenceClassifier, loss_and_correct = model_py.SequenceClassifier, model_py.loss_and_correct

DESCRIPTION = ("Train a recurrent network to classify a few relevant, widely separated "
               "symbols among distractors (temporal order).")
COLUMNS = ["epoch", "train loss", "train acc.", "valid. loss", "valid. acc."]


def add_config_options(group):
    group.add_argument("--epochs", type=COUNT, default=10000, help="number of epochs")
    group.add_argument("--seq_len", type=COUNT, default=200, help="training sequence length")
    group.add_argument("--seq_len_val", type=COUNT, default=200,
                       help="validation sequence length")
    group.add_argument("--batch_size", type=COUNT, default=100, help="sequences per batch")
    group.add_argument("--n_sequences", type=COUNT, default=1000, help="training sequences")
    group.add_argument("--n_sequences_val", type=COUNT, default=1000,
                       help="validation sequences (drawn with seed + 1)")
    group.add_argument("--n_symbols", type=COUNT, default=2,
                       help="relevant symbols; there are n_symbols ** (number of windows) "
                            "classes")
    group.add_argument("--n_distractors", type=COUNT, default=4, help="distractor symbols")
    add_optimiser_options(group)
    add_run_options(group)
    group.add_argument("--gamma", type=Number(0, 1, low_open=True), default=0.25,
                       help="learning-rate decay factor at each milestone")
    group.add_argument("--milestones", nargs="+", type=COUNT, default=[500, 1000, 2000],
                       help="epochs at which the learning rate decays")
    group.add_argument("--position_symbols_start", nargs="+", type=Integer(0, BIG),
                       default=[9, 39],
                       help="first position of each window holding a relevant symbol")
    group.add_argument("--position_symbols_len", nargs="+", type=COUNT, default=[10],
                       help="window length: one value for every window, or one per start")
    add_orbit_options(group, interval_save=100, n_sequences=10, seq_len=800, burnout=400)
    add_rnn_options(group, hidden_size=50)


def parse(argv=None):
    parser, config_dests = build_parser(add_config_options, DESCRIPTION, prog="train.py",
                                        add_extra_system=population.add_population_option)
    config, system = parse_options(parser, config_dests, argv)
    if config["seed"] > 2 ** 32 - 2:  # the validation data use seed + 1
        raise UsageError(f"seed must be at most {2 ** 32 - 2} (validation uses seed + 1), "
                         f"got {config['seed']}")
    try:
        intervals = data.windows(config["position_symbols_start"],
                                 config["position_symbols_len"])
    except ValueError as e:
        raise UsageError(str(e)) from None
    for name in ("seq_len", "seq_len_val"):
        for start, end in intervals:
            if end > config[name]:
                raise UsageError(f"the window of positions {start}..{end - 1} does not fit "
                                 f"in {name} = {config[name]}")
    # the classes (n_symbols ** windows) size the read-out, the symbols the data
    n_inputs = config["n_symbols"] + config["n_distractors"]
    n_classes = (config["n_symbols"] ** len(intervals)
                 if len(intervals) * config["n_symbols"].bit_length() < 62 else 2 ** 62)
    check_memory(estimate_training_bytes(config, n_inputs=n_inputs, n_outputs=n_classes),
                 "this run")
    check_orbit_options(config)
    check_rnn_options(config)
    return config, system, intervals


def batches(sequences, batch_size):
    """``(u, y)`` of ``batch_size`` sequences at a time, in order (the
    sequences are u's second dimension from the end and y's last, so that a
    population's data, with a leading copy dimension, slices alike)."""
    n_sequences = sequences["y"].shape[-1]
    for start in range(0, n_sequences, batch_size):
        end = min(start + batch_size, n_sequences)
        yield sequences["u"][..., start:end, :], sequences["y"][..., start:end]


def run_epoch(run, sequences, batch_size, trainer=None, stabilize=False):
    """Loss and accuracy over ``sequences``, both divided by their number;
    with a ``trainer``, an optimiser step on every batch."""
    training = trainer is not None
    model, y_all = run.model, sequences["y"]
    total_loss = torch.zeros((), device=y_all.device)
    correct = torch.zeros((), dtype=torch.int64, device=y_all.device)
    model.train(training)
    with torch.set_grad_enabled(training):
        for u, y in batches(sequences, batch_size):
            logits, _ = model(u)                      # from a zero state
            loss, right = run.each(loss_and_correct)(logits, y)
            if training and trainer.backward(loss):   # clipped; False: skip (--on_nan)
                run.optimizer.step()
                if stabilize:
                    model.rnn.stabilize_()            # back onto the stable set
            total_loss = total_loss + loss.detach()
            correct = correct + right
    return total_loss / y_all.shape[-1], correct.float() / y_all.shape[-1]


def make_data(config, intervals, device):
    """Training data from ``seed``, validation data from ``seed + 1``."""
    def generate(seq_len, n_sequences, seed):
        try:
            return data.data_generator(config["n_symbols"], config["n_distractors"], intervals,
                                       seq_len, n_sequences, seed, device)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return (generate(config["seq_len"], config["n_sequences"], config["seed"]),
            generate(config["seq_len_val"], config["n_sequences_val"], config["seed"] + 1))


def build(config, intervals, device):
    """One run's data, model, optimiser, scheduler and orbit sampler, made in
    the old code's order (data, model, optimiser, orbit states) so that a
    seed gives the same numbers."""
    torch.manual_seed(config["seed"])
    train_set, valid_set = make_data(config, intervals, device)
    model = SequenceClassifier(**model_kwargs(config, train_set)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), config["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config["milestones"],
                                                     config["gamma"])
    orbit = None
    if config["interval_orbit"] >= 1:
        # Each one-hot symbol held constant; the class logits are recorded.
        const_inputs = torch.eye(train_set["input_size"], device=device)
        orbit = OrbitSampler(model, const_inputs, config["n_sequences_orbit"],
                             config["seq_len_orbit"], config["burnout_orbit"],
                             config["std_orbit"])
    return population.Run(model, optimizer, scheduler, orbit, (train_set, valid_set))


def model_kwargs(config, train_set):
    return {"n_classes": train_set["n_classes"], "input_size": train_set["input_size"],
            **{k: config[k] for k in ("rnn_type", "hidden_size", "num_layers", "K", "init")}}


def main(argv=None):
    config, system, intervals = parse(argv)
    device = select_device(system.cuda)
    # One run, or with --population K its copies stacked: every tensor below
    # then has a leading copy dimension, and each copy has its own loss.
    run = population.build(lambda c, d: build(c, intervals, d), config, system, device)
    train_set, valid_set = run.data
    # The trainer makes the run folder (or resumes it) and steps the scheduler.
    trainer = run.trainer(system, config, "temporal-order", model_kwargs(config, train_set),
                          columns=COLUMNS, monitor="valid. acc.", save="last")
    for epoch in trainer.epochs():
        train_loss, train_acc = run_epoch(run, train_set, config["batch_size"], trainer,
                                          config["stabilize"])
        val_loss, val_acc = run_epoch(run, valid_set, config["batch_size"])
        if run.orbit is not None and (epoch + 1) % config["interval_orbit"] == 0:
            run.orbit.sample()                        # the orbit diagram at this epoch
        row = dict(zip(COLUMNS, (epoch, train_loss, train_acc, val_loss, val_acc)))
        trainer.end_epoch(epoch, row, {"train_loss": train_loss, "val_loss": val_loss,
                                       "train_acc": train_acc, "val_acc": val_acc})
    trainer.finish()
    print(f"Run saved to {trainer.folder}")
    return trainer.folder


if __name__ == "__main__":
    run_cli(main)
