"""The bookkeeping of a population: its root folder, and one
:class:`~attractors.training.Trainer` per copy, which writes the copy's
folder ``FOLDER/seed-<seed>`` exactly as a single run writes its own.

The root holds ``population.json`` (the seeds) and the population's config
(that of its first copy), so that ``--resume FOLDER`` continues every copy.
"""
import argparse
import atexit
import json
import os
import shutil

import torch
from tqdm import tqdm

from ..atomic import write_json
from ..options import UsageError, first_line
from ..run_files import (CHECKPOINT_FILE, CONFIG_FILE, RUN_FILES, capture_rng_state,
                         load_checkpoint_file, restore_rng_state, write_config)
from ..training import Trainer, TrainingStopped, open_run_folder
from .optim import clip_per_copy

MANIFEST = "population.json"
FORMAT = 1
SEED_MAX = 2 ** 32 - 1   # as --seed


def copy_folder(root, seed):
    return os.path.join(root, f"seed-{seed}")


def read_manifest(root):
    """The seeds of the population in ``root``; None if it holds none."""
    try:
        with open(os.path.join(root, MANIFEST)) as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {os.path.join(root, MANIFEST)}: {e}") from None
    seeds = data.get("seeds") if isinstance(data, dict) else None
    if (not isinstance(seeds, list) or not seeds
            or not all(type(s) is int and 0 <= s <= SEED_MAX for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise UsageError(f"{os.path.join(root, MANIFEST)} is not a population manifest "
                         "(a list of different seeds)")
    if data.get("format") != FORMAT:   # written by another version of this code
        raise UsageError(f"{os.path.join(root, MANIFEST)} has format {data.get('format')!r}; "
                         f"this version reads format {FORMAT}")
    return seeds


def resumable_seeds(root, seeds, epochs_wanted):
    """The seeds whose copies resume together: those whose checkpoint is at
    the latest epoch. A copy behind them (it stopped early on a non-finite
    number) or without a checkpoint is left out, with a line saying how to
    resume it alone."""
    epochs = {}
    for seed in seeds:
        folder = copy_folder(root, seed)
        if os.path.isfile(os.path.join(folder, CHECKPOINT_FILE)):
            try:
                epochs[seed] = load_checkpoint_file(folder)["epoch"]
            except ValueError as e:
                raise UsageError(str(e)) from None
    if not epochs:
        raise UsageError(f"nothing to resume in {root}: none of its copies has a "
                         f"{CHECKPOINT_FILE}")
    # A copy resumed alone may have gone further than the others, even to
    # --epochs: the copies still short of it resume, from the latest epoch.
    behind = [e for e in epochs.values() if e + 1 < epochs_wanted]
    if not behind:
        last = max(epochs.values())
        raise UsageError(f"{root} already finished its {last + 1} epochs; give a larger "
                         "--epochs to train further")
    last = max(behind)
    for seed in seeds:
        if seed in epochs and epochs[seed] + 1 >= epochs_wanted:
            print(f"seed {seed} is left out of the resumed population: it has finished its "
                  f"{epochs[seed] + 1} epochs", flush=True)
        elif epochs.get(seed) != last:
            where = (f"its checkpoint is at epoch {epochs[seed]}, the others' at {last}"
                     if seed in epochs else "it has no checkpoint")
            print(f"seed {seed} is left out of the resumed population: {where}; it resumes "
                  f"alone with train.py --resume {copy_folder(root, seed)}", flush=True)
    return [seed for seed in seeds if epochs.get(seed) == last]


def _pick(values, k):
    """Copy ``k``'s part of a row: tensors with a copy dimension are indexed."""
    return {key: value[k] if isinstance(value, torch.Tensor) and value.dim() else value
            for key, value in values.items()}


class PopulationTrainer(Trainer):
    """Runs the epochs of a :class:`~attractors.population.stack.Population`
    and writes its folders. Called by the task's loop as a Trainer is:
    :meth:`epochs`, :meth:`backward` (the loss of every copy, ``(K,)``),
    :meth:`end_epoch` (rows whose tensors have a copy dimension),
    :meth:`finish`.

    The loop over epochs and its handling of Ctrl-C and SIGTERM are
    Trainer's own (``epochs``, ``_on_signal``, ``_stop_interrupted``); they
    reach the population through the methods overridden here. A copy whose
    loss, gradient or weights become non-finite is handled by its own
    trainer (``--on_nan stop`` ends that copy, with its message, and its
    folder stays resumable; ``skip`` skips its update), not by stopping
    the others.
    """

    def __init__(self, system, population, config, experiment_name, model_kwargs, columns,
                 monitor, save="best", desc=None, quiet=False, data=None):
        self.population, self.config, self.monitor = population, config, monitor
        root = argparse.Namespace(folder=system.folder, resume=None,
                                  overwrite=bool(system.overwrite or system.resume))
        self.folder, self.lock, self.created = open_run_folder(root)
        atexit.register(self.release)
        self.begun, self.root_written = bool(system.resume), False
        self.seeds = (read_manifest(self.folder) if system.resume else None) or population.seeds
        self.replaced = self._replaced() if system.overwrite and not system.resume else set()
        self.copies, self.stopped = [], {}
        try:
            for k, (seed, run) in enumerate(zip(population.seeds, population.runs)):
                folder = copy_folder(self.folder, seed)
                copy_system = argparse.Namespace(**{**vars(system), "folder": folder,
                                                    "resume": folder if system.resume else None})
                self.copies.append(Trainer(
                    copy_system, run.model, run.optimizer, {**config, "seed": seed},
                    experiment_name, model_kwargs, columns, monitor, save=save, orbit=run.orbit,
                    scheduler=run.scheduler, quiet=True, data=data))
                if system.resume:  # the copy's random state, as its checkpoint restored it
                    population.rng[k] = capture_rng_state()
            population.stack()
        except BaseException:
            self.release()
            raise
        first = self.copies[0]
        self.start_epoch, self.last_checkpoint = first.start_epoch, first.last_checkpoint
        self.epoch, self.skipped, self.stop_requested = self.start_epoch, 0, None
        # What Trainer's handling of signals reads (a population stops after an epoch).
        self.stepwise, self._carry, self.resumed_within = False, None, None
        self.quiet, self.lines = quiet, first.lines
        self.progress = tqdm(total=config["epochs"], initial=self.start_epoch,
                             desc=desc or f"{experiment_name} x{len(population)}", unit="epoch",
                             dynamic_ncols=True, mininterval=0.5, disable=quiet or self.lines)

    def _replaced(self):
        """With --overwrite: what the root held of an earlier run (a single
        run's files, the folders of copies this population does not have)."""
        old = read_manifest(self.folder) or []
        names = {n for n in RUN_FILES if os.path.isfile(os.path.join(self.folder, n))}
        return names | {os.path.basename(copy_folder(self.folder, s)) for s in old
                        if s not in self.seeds}

    def _live(self):
        """``(k, trainer)`` of the copies still training."""
        return [(k, self.copies[k]) for k in self.population.active.nonzero().flatten().tolist()]

    # -- the loop -----------------------------------------------------------
    def epochs(self):
        for epoch in super().epochs():
            for _, copy in self._live():
                copy.epoch, copy.skipped = epoch, 0
            yield epoch

    def backward(self, loss):
        """Back-propagate the copies' losses ``(K,)`` and clip each copy's
        gradient; True when some copy may step (``population.stepping``
        marks which). A copy's non-finite loss or gradient norm goes to its
        own trainer."""
        pop = self.population
        for p in pop.params.values():
            p.grad = None
        values = loss.detach().cpu()   # the masks are on the CPU
        for _, copy in self._live():
            copy.batches += 1
        finite = torch.isfinite(values)
        for k in (pop.active & ~finite).nonzero().flatten().tolist():
            self._copy_non_finite(k, f"the loss became {values[k].item()}")
        ok = pop.active & finite
        if ok.any():
            # The copies are independent: each one's gradient is that of its own loss.
            loss.sum().backward()
            norms = clip_per_copy(pop.params.values(), self.config["clip_value"]).cpu()
            bad = ok & ~torch.isfinite(norms)
            for k in bad.nonzero().flatten().tolist():
                self._copy_non_finite(k, f"the gradient norm became {norms[k].item()}")
            ok &= ~bad
        pop.stepping = ok & pop.active
        self._check_live()
        return bool(pop.stepping.any())

    def _copy_non_finite(self, k, what):
        try:
            self.copies[k]._non_finite(what)   # skip: counted in its history; stop: ends it
        except TrainingStopped as e:
            self._stop_copy(k, e)

    def _stop_copy(self, k, error):
        self.population.active[k] = False
        seed = self.population.seeds[k]
        self.stopped[seed] = first_line(error)
        self.write(f"seed {seed}: {first_line(error)}")

    def _check_live(self):
        if not self.population.active.any():
            self.finish(check=False)
            raise TrainingStopped(f"every copy stopped early ({self._stopped_seeds()}); see the "
                                  "lines above", code=3)

    def _stopped_seeds(self):
        return "seed" + ("s " if len(self.stopped) > 1 else " ") + \
            ", ".join(map(str, sorted(self.stopped)))

    # -- end of an epoch ----------------------------------------------------
    def end_epoch(self, epoch, row, losses=None, line=None):
        """Each copy's trainer writes its model, history row, orbit file and
        checkpoint; one line (or the bar) for the population."""
        pop = self.population
        self._begin()
        for k, copy in self._live():
            pop.sync(k)
            restore_rng_state(pop.rng[k])  # the checkpoint keeps the copy's own
            try:
                copy.end_epoch(epoch, _pick(row, k), None if losses is None else _pick(losses, k))
            except TrainingStopped as e:     # its weights became non-finite
                self._stop_copy(k, e)
        self._check_live()
        self.last_checkpoint = self._live()[0][1].last_checkpoint
        values = torch.as_tensor(row[self.monitor]).detach().float().cpu()
        values = values[pop.active] if values.dim() else values.reshape(1)
        finite = values[torch.isfinite(values)]
        low, mid, high = ((finite.min().item(), finite.median().item(), finite.max().item())
                          if len(finite) else (float("nan"),) * 3)
        if self.lines and not self.quiet:
            print(line or f"epoch {epoch + 1}/{self.config['epochs']}: {self.monitor} median "
                  f"{mid:.6g} (min {low:.6g}, max {high:.6g}) of {len(values)} copies"
                  + (f", {len(values) - len(finite)} not finite" if len(finite) < len(values)
                     else ""), flush=True)
        self.progress.set_postfix({self.monitor: f"{mid:.4g}"}, refresh=False)
        self.progress.update()

    def _begin(self):
        """The root's first writes: the manifest and the config (a resumed
        population rewrites its config, which may give more epochs)."""
        if self.root_written:
            return
        write_json({"format": FORMAT, "seeds": self.seeds}, os.path.join(self.folder, MANIFEST))
        write_config(self.config, self.folder)
        for name in self.replaced - {CONFIG_FILE}:
            path = os.path.join(self.folder, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        self.replaced, self.begun, self.root_written = set(), True, True

    def write_checkpoint(self, epoch):
        for k, copy in self._live():
            if copy.last_checkpoint != epoch:
                self.population.sync(k)
                restore_rng_state(self.population.rng[k])
                copy.write_checkpoint(epoch)
        self.last_checkpoint = epoch

    def finish(self, check=True):
        """Finish every copy (its last orbit samples, its lock) and the root.
        ``check``: the population ends normally; copies that stopped early
        (or whose every batch was skipped) then make the exit status 3."""
        if check:
            self._begin()
        for k, copy in self._live():
            try:
                copy.finish(check)
            except TrainingStopped as e:
                self._stop_copy(k, e)
        self.progress.close()
        self.release()
        if check and self.stopped:
            raise TrainingStopped(f"{len(self.stopped)} of {len(self.copies)} copies stopped "
                                  f"early ({self._stopped_seeds()}); the others finished",
                                  code=3)

    def release(self):
        for copy in getattr(self, "copies", []):
            copy.release()
        super().release()

    def _last_good(self):
        if self.last_checkpoint is None:
            return "no epoch had completed, so there is nothing to resume"
        checkpoints = os.path.join(self.folder, "seed-*", CHECKPOINT_FILE)
        return (f"the last good checkpoints are {checkpoints} (epoch {self.last_checkpoint}); "
                f"continue with: {self.resume_command()}")
