"""Many seeds in one process: ``train.py --population K`` trains K copies of
a run, seeds ``seed, ..., seed + K - 1``, as one batched computation, each
copy written to ``FOLDER/seed-<seed>`` as an ordinary run (docs/population.md).

A task's ``train.py`` makes one run with a function ``build(config,
device)`` returning a :class:`Run`; :func:`build` calls it once, or once
per copy and stacks the copies (:class:`~.stack.Population`). Both give the
loop the same names: ``model``, ``optimizer``, ``orbit``, ``data``,
``each`` (a loss for every copy) and ``trainer(...)``.

- ``stack``: the copies as stacked tensors, their batched forward, the
  stable-LSTM projection, dtriv's change of base, the orbit samples;
- ``lstm``: the LSTM over a whole sequence for K parameter sets, with its
  own backward;
- ``optim``: per-copy gradient clipping and Adam;
- ``trainer``: :class:`~.trainer.PopulationTrainer`, one Trainer per copy.
"""
from typing import NamedTuple

from ..options import UsageError, bounded_int, check_memory, estimate_training_bytes
from ..training import Trainer

MAX_POPULATION = 4096
LAST_SEED = 2 ** 32 - 1   # what NumPy's seed accepts, as --seed


class Run(NamedTuple):
    """One run's pieces, as a task's ``build(config, device)`` returns them."""
    model: object
    optimizer: object
    scheduler: object
    orbit: object
    data: object

    @staticmethod
    def each(fn):
        """A population's loss of every copy; for one run, ``fn`` itself."""
        return fn

    def trainer(self, system, config, experiment_name, model_kwargs, **options):
        """The run's :class:`~attractors.training.Trainer`."""
        return Trainer(system, self.model, self.optimizer, config, experiment_name, model_kwargs,
                       orbit=self.orbit, scheduler=self.scheduler, **options)


def add_population_option(group):
    """``--population K``, a system option (not saved in the copies' configs)."""
    group.add_argument("--population", type=bounded_int(1, MAX_POPULATION), default=None,
                       metavar="K",
                       help="train K copies, seeds seed .. seed+K-1, as one batched "
                            "computation, each in FOLDER/seed-<seed> (docs/population.md)")


def seeds_of(system, config):
    """The seeds of the copies to train, or None for a single run. A
    resumed population takes its seeds from its folder."""
    from .trainer import read_manifest, resumable_seeds
    given = getattr(system, "population", None)
    if system.resume:
        seeds = read_manifest(system.resume)
        if seeds is None:
            if given:
                raise UsageError(f"{system.resume} holds no population (it has no "
                                 "population.json); resume a single run without --population")
            return None
        if given not in (None, len(seeds)):
            raise UsageError(f"{system.resume} holds a population of {len(seeds)}, not {given}")
        return resumable_seeds(system.resume, seeds, config["epochs"])
    if not given:
        return None
    last = config["seed"] + given - 1
    if last > LAST_SEED:
        raise UsageError(f"--population {given} from seed {config['seed']} goes past the "
                         f"largest seed, {LAST_SEED}")
    return list(range(config["seed"], last + 1))


def build(build_run, config, system, device):
    """``build_run(config, device)``: one run; with ``--population K`` (or
    resuming a population) a :class:`~.stack.Population` of the copies."""
    seeds = seeds_of(system, config)
    if seeds is None:
        return build_run(config, device)
    from .stack import Population
    check_memory(len(seeds) * estimate_training_bytes(config), f"a population of {len(seeds)}")
    return Population(build_run, config, seeds, device)
