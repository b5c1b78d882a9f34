"""Train an RNN to generate sine waves from a constant frequency input."""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (COUNT, add_optimiser_options, add_run_options, build_parser,
                                check_orbit_options, parse_options, run_cli, select_device,
                                Number, UsageError)
import numpy as np
import torch
import torch.nn.functional as F

from attractors import population
from attractors.orbit import OrbitSampler, add_orbit_options
from attractors.rnn import add_rnn_options, check_rnn_options
from attractors.tasks import import_sibling

data = import_sibling(__file__, "data")
SineGenerator = import_sibling(__file__, "model").SineGenerator

DESCRIPTION = "Train a recurrent network to generate sin(w t) from the constant input w."


def add_config_options(group):
    group.add_argument("--epochs", type=COUNT, default=10000, help="number of epochs")
    group.add_argument("--seq_len", type=COUNT, default=400, help="training sequence length")
    group.add_argument("--batch_size", type=COUNT, default=10, help="sequences per batch")
    group.add_argument("--n_sequences", type=COUNT, default=100,
                       help="training sequences (frequencies)")
    add_optimiser_options(group)
    add_run_options(group)
    group.add_argument("--min_freq", type=Number(0, 1000), default=np.pi / 16,
                       help="lowest training frequency (pi/16)")
    group.add_argument("--max_freq", type=Number(0, 1000), default=np.pi / 8,
                       help="highest training frequency (pi/8)")
    group.add_argument("--gamma", type=Number(0, 1, low_open=True), default=0.1,
                       help="learning-rate decay factor at each milestone")
    group.add_argument("--milestones", nargs="+", type=COUNT,
                       default=[500, 1000, 2000, 8000, 15000, 25000],
                       help="epochs at which the learning rate decays")
    add_orbit_options(group, interval_save=500, n_sequences=4, seq_len=1600, burnout=1200)
    add_rnn_options(group, hidden_size=200)


def parse(argv=None):
    parser, config_dests = build_parser(add_config_options, DESCRIPTION, prog="train.py",
                                        add_extra_system=population.add_population_option)
    config, system = parse_options(parser, config_dests, argv)
    if not config["min_freq"] <= config["max_freq"]:
        raise UsageError(f"need 0 <= min_freq <= max_freq, got {config['min_freq']} "
                         f"and {config['max_freq']}")
    check_orbit_options(config)
    check_rnn_options(config)
    return config, system


def model_kwargs(config):
    return {k: config[k] for k in ("rnn_type", "hidden_size", "num_layers", "K", "init")}


def build(config, device):
    """One run's data, model, optimiser, scheduler and orbit sampler, made in
    the old code's order (data, model, optimiser, orbit states) so that a
    seed gives the same numbers."""
    torch.manual_seed(config["seed"])
    waves = data.data_generator(config["min_freq"], config["max_freq"], config["n_sequences"],
                                config["seq_len"], device)
    model = SineGenerator(**model_kwargs(config)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), config["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config["milestones"],
                                                     config["gamma"])
    orbit = None
    if config["interval_orbit"] >= 1:
        orbit = OrbitSampler(model, data.orbit_inputs(device), config["n_sequences_orbit"],
                             config["seq_len_orbit"], config["burnout_orbit"],
                             config["std_orbit"])
    return population.Run(model, optimizer, scheduler, orbit, waves)


def main(argv=None):
    config, system = parse(argv)
    device = select_device(system.cuda)
    # One run, or with --population K its copies stacked: every tensor below
    # then has a leading copy dimension, and each copy has its own loss.
    run = population.build(build, config, system, device)
    trainer = run.trainer(system, config, "sine-generator", model_kwargs(config),
                          columns=["epoch", "loss"], monitor="loss", save="best")
    model, optimizer, orbit = run.model, run.optimizer, run.orbit
    n_points = config["seq_len"] * config["n_sequences"]
    for epoch in trainer.epochs():
        model.train()
        total = torch.zeros((), device=device)
        for u, y in data.batches(run.data, config["batch_size"]):
            prediction, _ = model(u)                  # from a zero state
            loss = run.each(F.mse_loss)(prediction, y, reduction="sum")
            if trainer.backward(loss):                # clipped; False: skip (--on_nan)
                optimizer.step()
                if config["stabilize"]:
                    model.rnn.stabilize_()            # back onto the stable set
            total = total + loss.detach()
        if orbit is not None and (epoch + 1) % config["interval_orbit"] == 0:
            orbit.sample()                            # the orbit diagram at this epoch
        loss = total / n_points
        trainer.end_epoch(epoch, {"epoch": epoch, "loss": loss}, {"total_loss": loss})
    trainer.finish()
    print(f"Run saved to {trainer.folder}")
    return trainer.folder


if __name__ == "__main__":
    run_cli(main)
