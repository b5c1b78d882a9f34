"""The bookkeeping of a training run, which every task leaves to
:class:`Trainer`: the run folder and its files, the epoch loop with its
progress (a bar on a terminal, a line per epoch in a log file), resuming,
interruptions and non-finite losses. The method itself (loss, optimiser
step, projection, orbit sample) stays in each task's ``train.py``."""
import atexit
import fcntl
import os
import shlex
import shutil
import socket
import sys

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm import tqdm

from .options import CommandError, UsageError, default_folder, first_line
from .run_files import (CHECKPOINT_FILE, CONFIG_FILE, HISTORY_FILE, MODEL_FILE, ORBIT_FILE,
                        ORBIT_SAMPLES_FILE, RUN_FILES, CheckpointError, History,
                        load_checkpoint_file, restore_rng_state, save_checkpoint_file,
                        save_model_file, write_config)
from .stopping import StopSignals


class TrainingStopped(CommandError):
    """Training ended early for a reason the user must see; ``code`` is the exit status."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


LOCK_FILE = ".lock"


def lock_run_folder(folder):
    """Hold ``FOLDER/.lock`` (flock) so that one process writes the folder;
    returns the open lock file. The kernel drops the lock when the process
    dies, so a killed run leaves nothing that blocks the next."""
    try:
        f = open(os.path.join(folder, LOCK_FILE), "a+")
    except OSError as e:
        raise UsageError(f"cannot write to the output folder {folder}: {e.strerror}") from None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise UsageError(f"{folder} is in use by {holder}: one process writes a run folder "
                         "at a time") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    f.flush()
    return f


def open_run_folder(system):
    """``(folder, lock, created)``: the output folder (default
    ``./output-<date>``), made if needed and locked. An existing run is
    refused unless resuming or overwriting; nothing in it is changed here."""
    folder = system.folder or default_folder()
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"--folder {folder} exists and is not a folder")
    if system.resume and not os.path.isfile(os.path.join(folder, CHECKPOINT_FILE)):
        raise UsageError(f"nothing to resume in {folder}: it has no {CHECKPOINT_FILE}")
    created = not os.path.exists(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the output folder {folder}: {e.strerror}") from None
    try:
        lock = lock_run_folder(folder)
    except UsageError:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    for name in os.listdir(folder):  # left by a run stopped in the middle of a write
        if name.startswith(".") and name.endswith(".tmp") and name[1:].startswith(RUN_FILES):
            os.remove(os.path.join(folder, name))
    others = [n for n in os.listdir(folder) if n != LOCK_FILE]
    if others and not (system.resume or system.overwrite):
        _unlock(folder, lock, created)
        if not set(others) & set(RUN_FILES):
            raise UsageError(f"output folder {folder} is not empty and holds no run "
                             f"({len(others)} other file(s), e.g. {sorted(others)[0]}); choose "
                             "an empty or new --folder")
        raise UsageError(f"output folder {folder} already holds a run; choose another "
                         "--folder, continue it with --resume, or replace it with --overwrite")
    return folder, lock, created


def _unlock(folder, lock, remove_folder):
    """Release the lock; ``remove_folder``: the folder was made for a run
    that failed before writing anything, so it goes too."""
    if remove_folder:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        try:
            os.remove(os.path.join(folder, LOCK_FILE))
        except OSError:
            pass
    lock.close()


def weights_finite(model):
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


class Trainer:
    """Runs the epochs of one training run and writes its folder.

    ``save`` is ``"best"`` (keep the model with the lowest ``monitor``
    value) or ``"last"``. ``orbit`` is an :class:`OrbitSampler` or None:
    the task's loop takes the samples; the trainer attaches the append-only
    samples file to it and writes the orbit file.
    Build it after the model, optimiser, scheduler and orbit sampler: with
    ``system.resume`` it restores all of them from ``checkpoint.pth``. It
    steps the scheduler at the end of each epoch (``ReduceLROnPlateau`` with
    the monitored value), so the task's loop must not.
    """

    def __init__(self, system, model, optimizer, config, experiment_name, model_kwargs,
                 columns, monitor, save="best", orbit=None, scheduler=None, desc=None,
                 quiet=False, data=None):
        # data: a fingerprint of data the config does not fix (a corpus
        # folder); a resumed run must see the same.
        self.data = data
        self.folder, self.lock, self.created = open_run_folder(system)
        self.begun = bool(system.resume)  # whether this run has written the folder
        atexit.register(self.release)
        try:
            self._setup(system, model, optimizer, config, experiment_name, model_kwargs,
                        columns, monitor, save, orbit, scheduler)
        except BaseException:
            self.release()
            raise
        # A bar on a terminal; in a log file (a cluster job's, say) a plain
        # line per epoch instead of a stream of carriage returns.
        self.quiet = quiet
        self.lines = not (sys.stdout.isatty() and sys.stderr.isatty())
        self.progress = tqdm(total=config["epochs"], initial=self.start_epoch,
                             desc=desc or experiment_name, unit="epoch",
                             dynamic_ncols=True, mininterval=0.5, disable=quiet or self.lines)

    def _setup(self, system, model, optimizer, config, experiment_name, model_kwargs,
               columns, monitor, save, orbit, scheduler):
        resumed = _load_for_resume(self.folder, config, self.data) if system.resume else None
        # --overwrite: the replaced run's files go once this run's first
        # epoch is written (those it has not rewritten by then).
        self.replaced = ({n for n in RUN_FILES if os.path.isfile(os.path.join(self.folder, n))}
                         if system.overwrite and not system.resume else set())
        self.written = set()
        self.batches = self.batches_skipped = 0
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.config, self.experiment_name = config, experiment_name
        self.model_kwargs, self.monitor, self.save, self.orbit = model_kwargs, monitor, save, orbit
        self.checkpoint_interval = getattr(system, "checkpoint_interval", 1)
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.columns = list(columns) + (["skipped batches"] if config["on_nan"] == "skip" else [])
        self.best, self.start_epoch, self.last_checkpoint = float("inf"), 0, None
        self.skipped, self.epoch, self.stop_requested = 0, 0, None
        # stopping within an epoch: whether the task reports its steps, the
        # last one with what it carries, and where a resumed run continues
        self.stepwise, self._carry, self.resumed_within = False, None, None
        model.rnn.attach_optimizer(optimizer)
        self.history = None
        if resumed:
            try:
                lines = self._restore(resumed)
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                raise UsageError(f"{os.path.join(self.folder, CHECKPOINT_FILE)} does not fit "
                                 f"this run's model: {first_line(e)}") from None
            self.history = History(self.folder, self.columns, lines)
            self._attach_orbit()  # reads back the samples the checkpoint counts

    def _attach_orbit(self):
        """Samples go to an append-only file, once each; the checkpoint only
        counts them (a resumed run reads them back and drops later ones)."""
        if self.orbit is None:
            return
        try:
            self.orbit.attach(os.path.join(self.folder, ORBIT_SAMPLES_FILE))
        except CheckpointError as e:
            raise UsageError(str(e)) from None
        self.written.add(ORBIT_SAMPLES_FILE)

    # -- the loop -----------------------------------------------------------
    def epochs(self):
        """The epochs still to run. Ctrl-C, SIGTERM or SIGUSR2 (a scheduler's
        preemption or time limit) ends the run after the current epoch with
        a checkpoint, or after the current step where the task's loop
        reports its steps (:meth:`within_epoch`, :meth:`end_step`); a
        deliberate second signal stops at once (``attractors/stopping.py``)."""
        self.signals = StopSignals(self._on_signal, self._at_once)
        self.signals.install()
        try:
            for epoch in range(self.start_epoch, self.config["epochs"]):
                self.epoch, self.skipped = epoch, 0
                yield epoch
                if self.stop_requested:
                    self._stop_interrupted(epoch)
        except GeneratorExit:  # the loop left early: by break, or by an error
            if not self.begun:
                self.release()
            raise
        except BaseException:
            self.release()
            raise
        finally:
            # Once a stop is asked for, the process is on its way out; a
            # signal during its exit still ends it in one line.
            if not self.stop_requested:
                self.signals.restore()

    def _on_signal(self, name):
        self.stop_requested = name
        where = "after this step of" if self.stepwise else "after"
        self.write(f"{name}: stopping {where} epoch {self.epoch} (press Ctrl-C again to stop "
                   f"at once; {self._last_good()})")

    def _at_once(self, name):
        if self.lock is None:   # already stopped, its files written
            return f"stopped at once by {name} while exiting; {self._last_good()}"
        return f"stopped at once by {name} during epoch {self.epoch}; {self._last_good()}"

    def _stop_interrupted(self, epoch):
        if self.last_checkpoint != epoch:
            self.write_checkpoint(epoch)
        self.finish(check=False)
        self.signals.exiting()
        raise TrainingStopped(f"stopped by {self.stop_requested} after epoch {epoch}; "
                              f"continue with: {self.resume_command()}", code=130)

    # -- stopping within an epoch -------------------------------------------
    def within_epoch(self):
        """Called by a task's loop at the start of each epoch whose steps it
        reports with :meth:`end_step` (an epoch of minutes, which a stop
        should not wait for). Returns None, or, in the epoch where a run
        stopped within its epoch and was resumed, ``(step, carry)``: the
        last step done and what the loop carried past it, to continue from."""
        self.stepwise, self._carry = True, None
        resumed, self.resumed_within = self.resumed_within, None
        if resumed is None or resumed["epoch"] != self.epoch:
            return None
        self.skipped = resumed["skipped"]
        carry = _to_device(resumed["carry"], next(self.model.parameters()).device)
        self._carry = (resumed["step"], _detached(carry))   # for a stop before the next step
        return resumed["step"], carry

    def end_step(self, step, **carry):
        """After step ``step`` of the epoch (counted from 0): when a stop was
        asked for, write a checkpoint that continues after this step, with
        ``carry`` (tensors and numbers the loop needs next: a recurrent
        state, a running sum), and end the run (exit status 130)."""
        self._carry = (step, _detached(carry))
        self.check_stop()

    def check_stop(self):
        """Where an epoch's work goes on after its last step (evaluation):
        stop as :meth:`end_step` would, after that step."""
        if not self.stop_requested or self._carry is None:
            return
        step, carry = self._carry
        self._begin()   # a stop in the first epoch still leaves a resumable folder
        self.write_checkpoint(self.epoch - 1, within={"epoch": self.epoch, "step": step,
                                                      "skipped": self.skipped, "carry": carry})
        self._drop_replaced()
        self.finish(check=False)
        self.signals.exiting()
        raise TrainingStopped(f"stopped by {self.stop_requested} in epoch {self.epoch} after "
                              f"{step + 1} of its steps; continue with: "
                              f"{self.resume_command()}", code=130)

    def resume_command(self):
        # The script as it was started (with its folder when started from
        # elsewhere), quoted so that it can be pasted into a shell.
        script = shlex.quote(sys.argv[0] or "train.py")
        return f"python {script} --resume {shlex.quote(self.folder)}"

    def backward(self, loss):
        """Back-propagate ``loss`` and clip the gradient norm to
        ``clip_value``; True when the optimiser may step. A non-finite loss
        or gradient stops the run, or with ``--on_nan skip`` returns False
        (the batch is counted in the history)."""
        self.optimizer.zero_grad()
        self.batches += 1
        if not torch.isfinite(loss.detach()).all():
            self._non_finite(f"the loss became {loss.detach().item()}")
            return False
        loss.backward()
        norm = clip_grad_norm_(self.params, self.config["clip_value"])
        if not torch.isfinite(norm):  # a finite loss can still have an infinite gradient
            self.optimizer.zero_grad()
            self._non_finite(f"the gradient norm became {norm.item()}")
            return False
        return True

    def _non_finite(self, what):
        if self.config["on_nan"] == "skip":
            self.skipped += 1
            self.batches_skipped += 1
            return
        self.finish(check=False)
        raise TrainingStopped(f"{what} in epoch {self.epoch}; {self._last_good()}; "
                              "or rerun with --on_nan skip", code=3)

    def _last_good(self):
        if self.last_checkpoint is None:
            return "no epoch had completed, so there is nothing to resume"
        return (f"the last good checkpoint is {os.path.join(self.folder, CHECKPOINT_FILE)} "
                f"(epoch {self.last_checkpoint}); continue with: {self.resume_command()}")

    def improves(self, value):
        """Whether an epoch ending with ``value`` will be saved as the model."""
        return self.save == "last" or float(value) < self.best

    def stop_early(self, epoch, reason):
        """End the run after ``epoch`` (already passed to end_epoch) for ``reason``."""
        if self.last_checkpoint != epoch:
            self.write_checkpoint(epoch)
        self.write(f"{reason}: training stops after epoch {epoch}.")

    def write(self, text):
        """Print a line without breaking the progress bar."""
        if self.progress.disable:
            print(text, flush=True)
        else:
            self.progress.write(text)

    # -- end of an epoch ----------------------------------------------------
    def end_epoch(self, epoch, row, losses=None, line=None):
        """Model, history row, orbit file and checkpoint, in that order.
        ``losses`` (default: ``row``) go into ``model.pth`` beside the
        weights; ``line`` (default: made from ``row``) is the epoch's line
        in a log file."""
        if not weights_finite(self.model):
            self.finish(check=False)
            raise TrainingStopped(f"the weights became non-finite in epoch {epoch}; nothing of "
                                  f"this epoch was saved; {self._last_good()}", code=3)
        self._begin()
        value = float(row[self.monitor])
        if self.improves(value):
            self.best = min(self.best, value)
            self.save_model(epoch, losses if losses is not None else row)
        if self.config["on_nan"] == "skip":
            row = {**row, "skipped batches": self.skipped}
        self.history.append(row)
        self._step_scheduler(value)
        save_every = self.config["interval_save_orbit"]
        if self.orbit is not None and len(self.orbit) and epoch % save_every == save_every - 1:
            self.save_orbit()
        if (epoch + 1) % self.checkpoint_interval == 0 or epoch + 1 == self.config["epochs"]:
            self.write_checkpoint(epoch)
        self._drop_replaced()
        self._carry = None
        if self.lines and not self.quiet:
            print(line or self._line(epoch, row), flush=True)
        self.progress.set_postfix({self.monitor: f"{value:.4g}"}, refresh=False)
        self.progress.update()

    def _drop_replaced(self):
        for name in self.replaced - self.written:
            os.remove(os.path.join(self.folder, name))
        self.replaced = set()

    def _line(self, epoch, row):
        cells = [f"{k} {float(v):.6g}" for k, v in row.items() if k.lower() != "epoch"]
        return f"epoch {epoch + 1}/{self.config['epochs']}: " + ", ".join(cells)

    def _step_scheduler(self, value):
        # Stepped here, before the checkpoint, so a resumed run continues
        # with the learning rate the uninterrupted run would have had.
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(value)
        elif self.scheduler is not None:
            self.scheduler.step()

    def _begin(self):
        """The run's first writes: its config and the history's header (a
        resumed run rewrites only its config, which may give more epochs)."""
        if self.history is None:
            write_config(self.config, self.folder)
            self.history = History(self.folder, self.columns)
            self.written |= {CONFIG_FILE, HISTORY_FILE}
            self._attach_orbit()  # with the samples taken so far
            self.begun = True
        elif CONFIG_FILE not in self.written:
            write_config(self.config, self.folder)
            self.written.add(CONFIG_FILE)

    def save_orbit(self):
        self.written.add(ORBIT_FILE)
        self.orbit.save(os.path.join(self.folder, ORBIT_FILE), self.config["interval_orbit"])

    def save_model(self, epoch, losses):
        self.written.add(MODEL_FILE)
        state = self.orbit.state_dict()["state0"] if self.orbit is not None else None
        save_model_file(self.folder, epoch=epoch, model=self.model,
                        model_kwargs=self.model_kwargs, optimizer=self.optimizer, losses=losses,
                        config=self.config, experiment_name=self.experiment_name, state=state)

    def write_checkpoint(self, epoch, within=None):
        """``within``: where in the next epoch the run stopped (end_step)."""
        self.written.add(CHECKPOINT_FILE)
        save_checkpoint_file(self.folder, epoch=epoch, model=self.model,
                             optimizer=self.optimizer, scheduler=self.scheduler, best=self.best,
                             history_lines=self.history.lines, orbit=self.orbit, data=self.data,
                             config=self.config, within=within)
        self.last_checkpoint = epoch

    def _restore(self, data):
        """Restore everything from a checkpoint; returns the history lines."""
        self.model.load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        if self.scheduler is not None and data["scheduler"] is not None:
            self.scheduler.load_state_dict(data["scheduler"])
        if self.orbit is not None and data["orbit"] is not None:
            self.orbit.load_state_dict(data["orbit"])
        restore_rng_state(data["rng"])
        self.best, self.start_epoch = data["best"], data["epoch"] + 1
        self.last_checkpoint = data["epoch"]
        self.resumed_within = data.get("within")
        return data["history"]

    def finish(self, check=True):
        """Write the last orbit samples, close the progress bar and release
        the folder. ``check``: the run ends normally, which it does not if
        every one of its batches was skipped (exit status 3)."""
        if check:
            self._begin()  # a run of 0 epochs still leaves its config
        if self.begun and self.orbit is not None and len(self.orbit):
            self.save_orbit()
        self.progress.close()
        self.release()
        if check and self.batches and self.batches_skipped == self.batches:
            raise TrainingStopped(f"every one of the {self.batches} batches had a non-finite "
                                  "loss or gradient and was skipped: the run learnt nothing",
                                  code=3)

    def release(self):
        """Unlock the folder (once); a folder this run made and never wrote goes."""
        if self.lock is not None:
            atexit.unregister(self.release)
            _unlock(self.folder, self.lock, self.created and not self.begun)
            self.lock = None


def _map_tensors(value, fn):
    """``value`` (tensors in dicts, tuples and lists) with ``fn`` applied to its tensors."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_map_tensors(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


def _detached(value):
    """A copy that later in-place changes of the loop's tensors do not reach."""
    return _map_tensors(value, lambda t: t.detach().clone())


def _to_device(value, device):
    return _map_tensors(value, lambda t: t.to(device))


def _load_for_resume(folder, config, data_fingerprint=None):
    """The checkpoint of ``folder``, checked against ``config`` (and the
    data's fingerprint) before anything is written."""
    try:
        data = load_checkpoint_file(folder)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    # A key an older run's config lacks took its default, which reproduces
    # the older behaviour: only the saved keys are compared.
    saved = data["config"]
    changed = sorted(k for k in config if k != "epochs" and k in saved and saved[k] != config[k])
    if changed:
        raise UsageError("cannot resume with settings other than the run's: " + ", ".join(changed))
    before = data.get("data")
    if (before is not None and data_fingerprint is not None
            and before.get("sha1") != data_fingerprint.get("sha1")):
        raise UsageError(f"the run was trained on other data ({before.get('about', before)}); "
                         "resume it with the data it was trained on (--data)")
    if data["epoch"] + 1 >= config["epochs"]:
        raise UsageError(f"{folder} already finished its {data['epoch'] + 1} epochs; "
                         "give a larger --epochs to train further")
    return data

