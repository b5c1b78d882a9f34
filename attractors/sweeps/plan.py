"""A checked sweep command (:class:`Sweep`): the task and its options, the
runs, and the train.py commands that start and resume each of them."""
import os

from ..options import UsageError
from . import populations
from .grid import check_grid, expand_runs, grid_args, parse_grid, run_name
from .runner import thread_env
from .task import find_task, parse_fixed, read_base_config, task_options


class Sweep:
    """A checked sweep command: the task, its options, the runs."""

    def __init__(self, task, out, grids, seeds, fixed_tokens, config_file=None, population=None):
        self.task_dir, self.train_py = find_task(task)
        self.task = os.path.basename(self.task_dir)
        self.out = os.path.abspath(out)
        grids = [parse_grid(items) for items in grids]
        if not any(grids) and not seeds:
            raise UsageError("nothing to sweep: give --grid KEY=V1,V2 ... and/or --seeds")
        if seeds and any("seed" in g for g in grids):
            raise UsageError("give the seeds either with --seeds or as --grid seed=...")
        if seeds and len(set(seeds)) < len(seeds):
            raise UsageError("--seeds repeats a seed")
        self.options = task_options(self.train_py)
        self.grids = [check_grid(g, self.options, self.task) for g in grids]
        self.seeds = list(seeds or [])
        self.fixed_tokens = list(fixed_tokens)
        self.fixed = parse_fixed(self.fixed_tokens, self.options, self.task)
        self.config_file = os.path.abspath(config_file) if config_file else None
        self.config = read_base_config(self.config_file, self.options) if config_file else {}
        swept = {k for g in self.grids for k in g} | ({"seed"} if self.seeds else set())
        both = sorted(swept & set(self.fixed))
        if both:
            raise UsageError(f"{', '.join(both)} is both swept and given after --")
        for key in sorted(swept):
            if not self.options[key].takes_value and self.config.get(key) is True:
                raise UsageError(f"the config file sets the flag {key}, which --grid "
                                  f"{key}=false cannot turn off")
        self.threads_option = "threads" in self.options
        self.population, self.units = population, {}
        if population and "population" not in self.options:
            raise UsageError(f"{self.task}/train.py has no --population option")
        self.runs = {}
        for settings in expand_runs(self.grids, self.seeds):
            name = run_name(settings)
            if name in self.runs:
                raise UsageError(f"two runs would share the folder {name}")
            self.runs[name] = {"folder": name, "settings": settings,
                               "args": grid_args(settings, self.options),
                               "epochs": self.epochs(settings)}

    def place_populations(self, old_runs):
        """With ``--population K``: the runs that differ only by their seed go
        to populations of at most K (their folders change; those of the
        runs in ``old_runs``, the manifest's, are kept)."""
        if self.population:
            self.units = populations.assign(self, old_runs, self.population)

    def folder(self, name):
        """The folder of the run ``name``."""
        return os.path.join(self.out, self.runs[name]["folder"])

    def epochs(self, settings):
        """The number of epochs a run trains: grid, options after --,
        config file, or train.py's default, in that order of precedence."""
        if "epochs" in settings:
            return _int(settings["epochs"], "--grid epochs")
        if "epochs" in self.fixed:
            return _int(self.fixed["epochs"][0], "--epochs")
        if "epochs" in self.config:
            return _int(self.config["epochs"], "epochs of the config file")
        option = self.options.get("epochs")
        if option is None or option.default is None:
            raise UsageError(f"cannot tell how many epochs {self.task}/train.py trains: "
                              "give --epochs after --")
        return _int(option.default, "the default of --epochs")

    def fixed_config(self):
        """What the runs share besides their settings, for comparing two
        invocations of a sweep: config options only, epochs left out."""
        fixed = {k: v for k, v in self.fixed.items() if self.options[k].config and k != "epochs"}
        config = {k: v for k, v in self.config.items() if k != "epochs"}
        shared = {"task": self.task, "options": fixed, "config_file": config}
        if self.population:
            shared["population"] = self.population
        return shared

    def commands(self, name, threads, cuda=False):
        """``(start, resume)``: the arguments after ``python`` (train.py
        first) that start the run afresh (``--overwrite``, as its folder
        already holds train.log) and that resume it from its checkpoint."""
        run, folder = self.runs[name], self.folder(name)
        system = (["--threads", str(threads)] if self.threads_option else []) + \
                 (["--cuda"] if cuda and "cuda" not in self.fixed else [])
        base = ["-c", self.config_file] if self.config_file else []
        start = ["train.py", *base, *self.fixed_tokens, *run["args"], *system,
                 "--folder", folder, "--overwrite"]
        epochs = [] if "epochs" in self.fixed or "epochs" in run["settings"] else \
            ["--epochs", str(run["epochs"])]
        resume = ["train.py", "--resume", folder, *self.fixed_tokens, *run["args"], *epochs,
                  *system]
        return start, resume

    def job_runs(self, names, threads, cuda=False):
        """What a :class:`SweepJob` needs to know of each run (plain values)."""
        runs = []
        for name in names:
            start, resume = self.commands(name, threads, cuda)
            runs.append({"name": name, "folder": self.folder(name),
                         "epochs": self.runs[name]["epochs"], "start": start, "resume": resume})
        return runs

    def job_items(self, names, threads, cuda=False):
        """What the jobs run for the runs ``names``: runs, and populations
        (see :func:`populations.job_items`)."""
        return populations.job_items(self, self.units, names, threads, cuda)

    def job_spec(self, threads, stop_grace_s=60, local=True):
        """What a :class:`SweepJob` sets for every run: the task folder, the
        environment (None removes a variable), the grace time of a stop."""
        env = {**thread_env(threads), "PYTHONUNBUFFERED": "1"}
        if local:
            # submitit's local executor hides the GPUs from its jobs; give
            # train.py those the sweep saw (Slurm sets its own).
            env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES")
        return {"task_dir": self.task_dir, "env": env, "stop_grace_s": stop_grace_s}


def _int(text, what):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be an integer, got {text!r}") from None
