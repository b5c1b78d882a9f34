"""Sweeps: many ordinary ``train.py`` runs over a grid of settings, run
through submitit (local processes on one machine, or a Slurm job array).

The pieces, from the command line to the files:

- the task's options, read from ``train.py --help`` (:func:`task_options`);
- the grid (``KEY=V1,V2`` items) times the seeds, expanded into runs, each
  named after its settings (:func:`expand_runs`, :func:`run_name`);
- the commands that start, restart or resume a run (:class:`Sweep`);
- the job submitit runs, a :class:`SweepJob` that starts ``train.py`` as a
  subprocess for each of its runs and, when Slurm stops it, resumes it from
  its checkpoint after the requeue;
- what a run folder says about its run (:func:`run_state`), the manifest
  ``sweep.json`` and the status table.

This module never imports torch (``attractors.options`` does, and is only
imported on the error paths and by the command line), so a job process
costs a Python start-up and submitit, not a second torch.
"""
import argparse
import datetime
import difflib
import hashlib
import itertools
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import submitit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MANIFEST = "sweep.json"
SUMMARY = "summary.csv"
PLOT = "sweep.png"
LOG = "train.log"
RUNNING = ".sweep-running"      # in a run folder while its train.py runs
EXIT = ".sweep-exit"            # in a run folder: how its last attempt ended
SUBMITIT = ".submitit"          # submitit's pickles and job logs, under --out
FORMAT = 1
MAX_NAME = 100                  # longer run names end in a hash
POLL_S = 0.2                    # how often a job looks at its train.py
LOCAL_TIMEOUT_MIN = 60 * 24 * 365   # the local executor's default is 2 minutes
SLURM_TIME_MIN = 60
SLURM_MAX_REQUEUES = 20         # time-limit requeues per Slurm job
STATES = ("done", "running", "queued", "failed", "interrupted", "not started")
# Options of train.py that the sweep sets itself.
MANAGED = {
    "folder": "the sweep names and manages each run's folder (--out)",
    "resume": "the sweep resumes interrupted runs by itself",
    "overwrite": "the sweep restarts a run that has no checkpoint by itself",
    "config": "give the base config to sweep.py: -c FILE.json before --",
    "help": "see python TASK/train.py --help",
    "threads": "the sweep sets each run's threads from --workers (or --cpus_per_task)",
}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
NUMBER = re.compile(r"^-\.?\d")


def usage_error(message):
    """``attractors.options.UsageError`` (one line, exit status 2), imported
    here because ``attractors.options`` imports torch."""
    from .options import UsageError
    return UsageError(message)


# -- the task's options --------------------------------------------------------
class Option:
    """One option of a train.py, as its --help shows it."""

    def __init__(self, flags, takes_value, is_list, config, default):
        self.flags = tuple(flags)
        self.flag = max(flags, key=len)
        self.name = self.flag.lstrip("-").replace("-", "_")
        self.takes_value, self.is_list = takes_value, is_list
        self.config, self.default = config, default

    def __repr__(self):
        return f"Option({self.flag})"


def find_task(task):
    """``(task folder, its train.py)``: ``task`` relative to the current
    folder, or to the repository root."""
    for base in (os.getcwd(), ROOT):
        folder = os.path.abspath(os.path.join(base, task))
        if os.path.isfile(os.path.join(folder, "train.py")):
            return folder, os.path.join(folder, "train.py")
    tasks = sorted(name for name in os.listdir(ROOT)
                   if os.path.isfile(os.path.join(ROOT, name, "train.py")))
    raise usage_error(f"no task folder {task} with a train.py (relative to {os.getcwd()} or "
                      f"{ROOT}; the tasks are {', '.join(tasks)})")


_HELP_CACHE = {}


def task_options(train_py):
    """The options of ``train_py`` by name, read from its ``--help`` (run
    once per process and file version: it imports torch, about 1.5 s)."""
    key = (train_py, os.stat(train_py).st_mtime_ns)
    if key not in _HELP_CACHE:
        env = {**os.environ, "COLUMNS": "10000"}   # one line per option
        try:
            done = subprocess.run([sys.executable, os.path.basename(train_py), "--help"],
                                  cwd=os.path.dirname(train_py), env=env, capture_output=True,
                                  text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise usage_error(f"cannot read the options of {train_py}: {e}") from None
        if done.returncode != 0:
            raise usage_error(f"cannot read the options of {train_py}: "
                              f"{last_line(done.stderr) or f'exit status {done.returncode}'}")
        _HELP_CACHE[key] = parse_help(done.stdout)
    return _HELP_CACHE[key]


def parse_help(text):
    """Options from an argparse help text printed without line wrapping:
    group headers end in ``:``, option lines start with two spaces."""
    options, config = {}, False
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            config = line.startswith("config options")
            continue
        if not line.startswith("  -"):
            continue
        invocation, _, help_text = line.strip().partition("  ")
        flags, takes_value = [], False
        for part in invocation.split(", "):
            words = part.split()
            flags.append(words[0])
            takes_value = takes_value or len(words) > 1
        default = re.search(r"\(default: (.*)\)\s*$", help_text)
        option = Option(flags, takes_value, "..." in invocation, config,
                        default.group(1) if default else None)
        options[option.name] = option
    return options


# -- the grid --------------------------------------------------------------------
def parse_grid(items):
    """``["lr=0.1,0.01", ...]`` -> ``{"lr": ["0.1", "0.01"], ...}`` (syntax only)."""
    grid = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise usage_error(f"malformed --grid item {item!r}: expected KEY=V1,V2,... with the "
                              "name of a train.py option as KEY (the task folder comes first)")
        values = [v.strip() for v in values.split(",")]
        if not any(values):
            raise usage_error(f"--grid item {item!r} gives no value for {key}")
        if not all(values):
            raise usage_error(f"--grid item {item!r} has an empty value")
        if len(set(values)) < len(values):
            raise usage_error(f"--grid item {item!r} repeats a value")
        if key in grid:
            raise usage_error(f"--grid gives {key} twice")
        grid[key] = values
    return grid


def unknown_option(key, options, task, what="option"):
    close = difflib.get_close_matches(key, list(options), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return usage_error(f"unknown {what} {key} for {task}/train.py{hint}; "
                       f"see python {task}/train.py --help")


def check_grid(grid, options, task):
    """Check the keys against the task's config options; flags' values
    become ``true``/``false``."""
    checked = {}
    for key, values in grid.items():
        option = options.get(key)
        if option is None:
            raise unknown_option(key, options, task, "option key")
        if key in MANAGED or not option.config:
            raise usage_error(f"--grid {key}: only config options can be swept ({key} is a "
                              "system option of train.py)")
        if not option.takes_value:
            values = [_flag_value(key, v) for v in values]
            if len(set(values)) < len(values):
                raise usage_error(f"--grid {key} repeats a value")
        elif option.is_list and not all(v.split() for v in values):
            raise usage_error(f"--grid {key}: empty list")
        checked[key] = values
    return checked


def _flag_value(key, value):
    if value.lower() in TRUE:
        return "true"
    if value.lower() in FALSE:
        return "false"
    raise usage_error(f"--grid {key}: {key} is a flag, so its values are true or false, "
                      f"got {value!r}")


def expand_runs(grids, seeds):
    """The settings of every run: each grid's product, times the seeds, in
    order and without repeats. Values are strings."""
    runs, seen = [], set()
    for grid in grids or [{}]:
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            for seed in (seeds or [None]):
                settings = dict(zip(keys, values))
                if seed is not None:
                    settings["seed"] = str(seed)
                key = json.dumps(settings, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    runs.append(settings)
    return runs


def run_name(settings):
    """``hidden_size=32_lr=0.01_seed=1``: the settings sorted by key.
    Spaces (list values) become ``+``; a name that needed other characters
    replaced, or longer than MAX_NAME, is cut and ends in a hash of the
    settings, so that the name stays unique and the same from run to run."""
    parts, clean = [], True
    for key in sorted(settings):
        value = str(settings[key]).replace(" ", "+")
        safe = re.sub(r"[^A-Za-z0-9.+\-]", "-", value)
        clean = clean and safe == value
        parts.append(f"{key}={safe}")
    name = "_".join(parts) or "default"
    if not clean or len(name) > MAX_NAME:
        digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
        name = name[:MAX_NAME - 11].rstrip("_") + "_" + digest
    return name


def grid_args(settings, options):
    """The train.py arguments of a run's settings, in the settings' order."""
    args = []
    for key, value in settings.items():
        option = options[key]
        if not option.takes_value:
            args += [option.flag] if value == "true" else []
        elif option.is_list:
            args += [option.flag, *value.split()]
        else:
            args += [option.flag, value]
    return args


# -- the options after -- ------------------------------------------------------
def parse_fixed(tokens, options, task):
    """Check the train.py options given after ``--``. Returns ``{name:
    [values]}`` (the last occurrence wins, as in argparse)."""
    by_flag = {flag: option for option in options.values() for flag in option.flags}
    fixed, i = {}, 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("-") or NUMBER.match(token):
            raise usage_error(f"unexpected {token!r} after --: give train.py options as "
                              "--name value")
        flag, eq, inline = token.partition("=")
        option = by_flag.get(flag)
        if option is None:
            raise unknown_option(flag, {f: 0 for f in by_flag}, task)
        if option.name in MANAGED:
            raise usage_error(f"{flag} cannot be given after --: {MANAGED[option.name]}")
        i += 1
        values = [inline] if eq else []
        if option.takes_value and not eq:
            while i < len(tokens) and (not tokens[i].startswith("-") or NUMBER.match(tokens[i])):
                values.append(tokens[i])
                i += 1
                if not option.is_list:
                    break
            if not values:
                raise usage_error(f"{flag} needs a value")
        elif not option.takes_value and eq:
            raise usage_error(f"{flag} takes no value")
        fixed[option.name] = values
    return fixed


def read_base_config(path, options):
    """The JSON object of ``-c FILE.json``, its keys checked."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise usage_error(f"config file not found: {path}") from None
    except (OSError, ValueError) as e:
        raise usage_error(f"cannot read config file {path}: {e}") from None
    if not isinstance(data, dict):
        raise usage_error(f"config file {path} must hold a JSON object")
    unknown = sorted(k for k in data if k not in options or not options[k].config)
    if unknown:
        raise usage_error(f"config file {path}: unknown option(s) {', '.join(unknown)}")
    return data


def _int(text, what):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise usage_error(f"{what} must be an integer, got {text!r}") from None


# -- the sweep ---------------------------------------------------------------------
class Sweep:
    """A checked sweep command: the task, its options, the runs."""

    def __init__(self, task, out, grids, seeds, fixed_tokens, config_file=None):
        self.task_dir, self.train_py = find_task(task)
        self.task = os.path.basename(self.task_dir)
        self.out = os.path.abspath(out)
        grids = [parse_grid(items) for items in grids]
        if not any(grids) and not seeds:
            raise usage_error("nothing to sweep: give --grid KEY=V1,V2 ... and/or --seeds")
        if seeds and any("seed" in g for g in grids):
            raise usage_error("give the seeds either with --seeds or as --grid seed=...")
        if seeds and len(set(seeds)) < len(seeds):
            raise usage_error("--seeds repeats a seed")
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
            raise usage_error(f"{', '.join(both)} is both swept and given after --")
        for key in sorted(swept):
            if not self.options[key].takes_value and self.config.get(key) is True:
                raise usage_error(f"the config file sets the flag {key}, which --grid "
                                  f"{key}=false cannot turn off")
        self.threads_option = "threads" in self.options
        self.runs = {}
        for settings in expand_runs(self.grids, self.seeds):
            name = run_name(settings)
            if name in self.runs:
                raise usage_error(f"two runs would share the folder {name}")
            self.runs[name] = {"folder": name, "settings": settings,
                               "args": grid_args(settings, self.options),
                               "epochs": self.epochs(settings)}

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
            raise usage_error(f"cannot tell how many epochs {self.task}/train.py trains: "
                              "give --epochs after --")
        return _int(option.default, "the default of --epochs")

    def fixed_config(self):
        """What the runs share besides their settings, for comparing two
        invocations of a sweep: config options only, epochs left out."""
        fixed = {k: v for k, v in self.fixed.items() if self.options[k].config and k != "epochs"}
        config = {k: v for k, v in self.config.items() if k != "epochs"}
        return {"task": self.task, "options": fixed, "config_file": config}

    def commands(self, name, threads, cuda=False):
        """``(start, resume)``: the arguments after ``python`` (train.py
        first) that start the run afresh (``--overwrite``, as its folder
        already holds train.log) and that resume it from its checkpoint."""
        run = self.runs[name]
        folder = os.path.join(self.out, run["folder"])
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
            runs.append({"name": name, "folder": os.path.join(self.out, self.runs[name]["folder"]),
                         "epochs": self.runs[name]["epochs"], "start": start, "resume": resume})
        return runs

    def job_spec(self, threads, stop_grace_s=60, local=True):
        """What a :class:`SweepJob` sets for every run: the task folder, the
        environment (None removes a variable), the grace time of a stop."""
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "PYTHONUNBUFFERED": "1"}
        if local:
            # submitit's local executor hides the GPUs from its jobs; give
            # train.py those the sweep saw (Slurm sets its own).
            env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES")
        return {"task_dir": self.task_dir, "env": env, "stop_grace_s": stop_grace_s}


# -- what a run folder says -------------------------------------------------------
def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, obj):
    """Atomically (a temporary file, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent="\t")
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def history_rows(folder):
    """Epochs recorded in history.csv (None when there is none)."""
    try:
        with open(os.path.join(folder, "history.csv")) as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except OSError:
        return None


def last_line(text):
    """The last non-empty line, progress-bar carriage returns counted as line ends."""
    for line in reversed(re.split(r"[\r\n]", text or "")):
        if line.strip():
            return line.strip()
    return ""


def log_last_line(folder):
    try:
        with open(os.path.join(folder, LOG), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            return last_line(f.read().decode(errors="replace"))
    except OSError:
        return ""


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited, it only waits for its parent
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def marker_alive(marker, slurm_jobs=None, own_job=None):
    """Whether the train.py a ``.sweep-running`` marker names still runs:
    its pids on this host, its Slurm job elsewhere (``slurm_jobs``: the ids
    squeue lists, None when unknown)."""
    if marker is None:
        return False
    if own_job is not None and marker.get("job_id") == own_job:
        return False  # left by this job before it was requeued
    if marker.get("host") == socket.gethostname():
        return any(pid_alive(p) for p in marker.get("pids", []))
    if marker.get("executor") == "slurm" and slurm_jobs is not None:
        return marker.get("job_id") in slurm_jobs
    return True  # another machine: trust the marker


def run_state(folder, epochs, slurm_jobs=None, job_id=None, own_job=None):
    """``(state, epochs done, message)`` of the run in ``folder`` that is to
    train ``epochs`` epochs. A run is *done* when its last attempt exited
    with status 0 for that number of epochs (a task may stop early) or when
    its folder holds model.pth and at least ``epochs`` history rows."""
    rows = history_rows(folder)
    done = rows or 0
    if marker_alive(read_json(os.path.join(folder, RUNNING)), slurm_jobs, own_job):
        return "running", done, ""
    ended = read_json(os.path.join(folder, EXIT)) or {}
    if ended.get("returncode") == 0 and ended.get("epochs") == epochs:
        return "done", done, ""
    if (rows is not None and rows >= epochs
            and os.path.isfile(os.path.join(folder, "model.pth"))):
        return "done", done, ""
    if job_id is not None and (slurm_jobs is None or job_id in slurm_jobs):
        return "queued", done, ""
    if ended.get("returncode") not in (None, 0) and not ended.get("interrupted"):
        return "failed", done, ended.get("message", "")
    if os.path.isfile(os.path.join(folder, "checkpoint.pth")):
        return "interrupted", done, ended.get("message", "")
    if os.path.isdir(folder) and os.listdir(folder):
        return "interrupted", done, ended.get("message", "") or "stopped before its first epoch"
    return "not started", done, ""


def next_action(folder, epochs, slurm_jobs=None, job_id=None):
    """What a sweep does with a run: skip it (done, running or queued),
    resume it (it has a checkpoint), or start it (afresh, over what its
    folder holds)."""
    state, _, _ = run_state(folder, epochs, slurm_jobs, job_id)
    if state in ("done", "running", "queued"):
        return state
    if os.path.isfile(os.path.join(folder, "checkpoint.pth")):
        return "resume"
    if os.path.isdir(folder) and os.listdir(folder):
        return "restart"
    return "start"


# -- the job submitit runs ----------------------------------------------------------
def _train_py_signals():
    """Signal dispositions of train.py (set between fork and exec). Slurm's
    time-limit signal (USR2) may reach every process of the job; only the
    job handles it, by stopping train.py with SIGTERM, so train.py ignores
    it (an ignored signal stays ignored across exec). Ctrl-C acts on
    train.py as in a terminal, although the job processes ignore it."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _current_job_id():
    try:
        return str(submitit.JobEnvironment().job_id)
    except Exception:   # not inside a submitit job
        return None


class SweepJob(submitit.helpers.Checkpointable):
    """Runs ``train.py`` for each of its runs, one after another, each in
    its own folder with its output in ``train.log``. Each run is looked at
    when its turn comes: done ones are skipped, interrupted ones resumed.

    When Slurm is about to stop the job (time limit) submitit calls
    :meth:`checkpoint`: it stops the running train.py with SIGTERM (train.py
    then writes checkpoint.pth after its current epoch and exits with 130)
    and returns the same job, which the requeued job runs again, resuming.
    """

    def __init__(self, spec):
        self.spec = spec
        self._proc = None
        self._stopping = False

    def __getstate__(self):
        return {"spec": self.spec}

    def __setstate__(self, state):
        self.__init__(state["spec"])

    def __call__(self, runs):
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C in the terminal reaches train.py too, which stops after
            # its epoch with a checkpoint; this job then starts no other run.
            signal.signal(signal.SIGINT, self._on_interrupt)
        outcomes = []
        for run in runs:
            if self._stopping:
                break
            outcome = self.run(run)
            outcomes.append(outcome)
            if outcome.get("interrupted"):   # stop here, as asked
                break
        return outcomes

    def run(self, run):
        folder, job_id = run["folder"], _current_job_id()
        state, _, _ = run_state(folder, run["epochs"], own_job=job_id)
        if state in ("done", "running"):
            return {"name": run["name"], "action": state, "returncode": None, "message": ""}
        resume = os.path.isfile(os.path.join(folder, "checkpoint.pth"))
        args = run["resume"] if resume else run["start"]
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(os.path.join(folder, EXIT)):
            os.remove(os.path.join(folder, EXIT))
        env = {**os.environ}
        for key, value in self.spec["env"].items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        command = [sys.executable, *args]
        log_path = os.path.join(folder, LOG)
        with open(log_path, "ab") as log:
            stamp = datetime.datetime.now().isoformat(timespec="seconds")
            header = (f"=== sweep {stamp} on {socket.gethostname()}: "
                      f"{'resume' if resume else 'start'}: cd {shlex.quote(self.spec['task_dir'])}"
                      f" && python {shlex.join(args)}\n")
            log.write((("\n" if log.tell() else "") + header).encode())
            log.flush()
            marker = {"host": socket.gethostname(), "pids": [os.getpid()],
                      "executor": os.environ.get("SUBMITIT_EXECUTOR", ""), "job_id": job_id,
                      "started": stamp}
            write_json(os.path.join(folder, RUNNING), marker)
            try:
                self._proc = subprocess.Popen(command, cwd=self.spec["task_dir"], env=env,
                                              stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL,
                                              preexec_fn=_train_py_signals)
                marker["pids"].append(self._proc.pid)
                write_json(os.path.join(folder, RUNNING), marker)
                returncode = self._wait()
            finally:
                if os.path.exists(os.path.join(folder, RUNNING)):
                    os.remove(os.path.join(folder, RUNNING))
        message = "" if returncode == 0 else log_last_line(folder)
        if returncode < 0:
            message = f"train.py was killed by {signal.Signals(-returncode).name}"
        # Stopped by a signal (Ctrl-C, SIGTERM, preemption, the time limit,
        # also during start-up), not by its settings: not a failure.
        interrupted = returncode == 130 or returncode < 0 or (returncode != 0 and self._stopping)
        write_json(os.path.join(folder, EXIT),
                   {"returncode": returncode, "interrupted": interrupted, "message": message,
                    "epochs": run["epochs"],
                    "action": "resume" if resume else "start",
                    "ended": datetime.datetime.now().isoformat(timespec="seconds")})
        self._proc = None
        return {"name": run["name"], "action": "resume" if resume else "start",
                "returncode": returncode, "interrupted": interrupted, "message": message}

    def _on_interrupt(self, signum, frame):
        self._stopping = True

    def _wait(self):
        """Wait for train.py by polling: a blocking wait would hold the lock
        that the signal handler (checkpoint) needs to see it exit."""
        while self._proc.poll() is None:
            time.sleep(POLL_S)
        return self._proc.returncode

    def _stop_child(self):
        """SIGTERM (train.py stops after its epoch), a second one after the
        grace time (it stops at once), SIGKILL as the last resort."""
        proc, grace = self._proc, self.spec.get("stop_grace_s", 60)
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                return
            proc.send_signal(sig)
            end = time.monotonic() + wait
            while proc.poll() is None and time.monotonic() < end:
                time.sleep(POLL_S)

    def checkpoint(self, runs):
        self._stopping = True
        self._stop_child()
        return submitit.helpers.DelayedSubmission(SweepJob(self.spec), runs)


# -- executors --------------------------------------------------------------------
def default_workers():
    return max(1, available_cores() // 2)


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def slurm_parameters(args, name):
    """The AutoExecutor parameters of a Slurm sweep from the command line."""
    params = {"name": name, "timeout_min": args.time or SLURM_TIME_MIN, "nodes": 1,
              "tasks_per_node": 1}
    if args.cpus_per_task:
        params["cpus_per_task"] = args.cpus_per_task
    if args.mem_gb:
        params["mem_gb"] = args.mem_gb
    if args.partition:
        params["slurm_partition"] = args.partition
    if args.gpus_per_task:
        params["slurm_gpus_per_task"] = args.gpus_per_task
    if args.slurm_array_parallelism:
        params["slurm_array_parallelism"] = args.slurm_array_parallelism
    if args.sbatch:
        params["slurm_additional_parameters"] = dict(args.sbatch)
    return params


def check_slurm_commands():
    missing = [c for c in ("sbatch", "srun") if not _which(c)]
    if missing:
        raise usage_error(f"--executor slurm needs the Slurm commands sbatch and srun, "
                          f"but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                          "not on PATH")


def make_executor(kind, out, parameters):
    """A submitit AutoExecutor writing its pickles and logs under
    ``out/.submitit``; Slurm needs sbatch and srun on PATH."""
    folder = os.path.join(out, SUBMITIT, "%j")
    if kind == "slurm":
        check_slurm_commands()
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm",
                                         slurm_max_num_timeout=SLURM_MAX_REQUEUES)
    else:
        executor = submitit.AutoExecutor(folder=folder, cluster="local")
    executor.update_parameters(**parameters)
    return executor


def _which(command):
    import shutil
    return shutil.which(command)


def squeue_jobs(job_ids):
    """The job ids (array tasks one by one) squeue lists among ``job_ids``,
    or None when that cannot be told (no squeue, or it failed)."""
    bases = sorted({str(j).split("_")[0] for j in job_ids if j})
    if not bases or not _which("squeue"):
        return None
    try:
        done = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(bases)],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return set(done.stdout.split())


# -- the manifest ---------------------------------------------------------------------
def manifest_path(out):
    return os.path.join(out, MANIFEST)


def read_manifest(out):
    path = manifest_path(out)
    if not os.path.isfile(path):
        raise usage_error(f"{out} holds no sweep: it has no {MANIFEST}")
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or "runs" not in data:
        raise usage_error(f"{path} is not a sweep manifest of this version")
    return data


def merged_manifest(sweep, old):
    """The manifest of ``old`` (or a new one) with this sweep's grid, seeds
    and runs added; runs it already lists keep their entries."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    shared = sweep.fixed_config()
    if old is not None and old.get("shared") != shared:
        raise usage_error(
            f"{sweep.out} holds a sweep made with other fixed settings "
            f"({describe_shared(old.get('shared'))}; now {describe_shared(shared)}): only "
            "the grid, the seeds and --epochs may change; choose another --out")
    manifest = old or {"format": FORMAT, "task": sweep.task, "created": now, "grids": [],
                       "seeds": [], "runs": {}}
    manifest.update({"task_path": sweep.task_dir, "train_py": sweep.train_py,
                     "fixed": sweep.fixed_tokens, "config_file": sweep.config_file,
                     "config": sweep.config, "shared": shared, "updated": now})
    for grid in sweep.grids:
        if grid not in manifest["grids"]:
            manifest["grids"].append(grid)
    manifest["seeds"] = sorted(set(manifest["seeds"]) | set(sweep.seeds))
    for name, run in sweep.runs.items():
        entry = manifest["runs"].setdefault(name, {"state": "not started"})
        entry.update(folder=run["folder"], settings=run["settings"], args=run["args"],
                     epochs=run["epochs"])
    return manifest


def describe_shared(shared):
    if not shared:
        return "unknown"
    parts = [f"task {shared['task']}"]
    parts += [f"--{k} {' '.join(v)}".rstrip() for k, v in sorted(shared["options"].items())]
    parts += [f"{k}={json.dumps(v)} in -c" for k, v in sorted(shared["config_file"].items())]
    return ", ".join(parts)


class ManifestLock:
    """An exclusive lock on ``out/.sweep.lock`` while the manifest is rewritten."""

    def __init__(self, out):
        self.path = os.path.join(out, ".sweep.lock")

    def __enter__(self):
        import fcntl
        self.file = open(self.path, "a")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.file.close()


def refresh_states(out, manifest, names=None):
    """Look at the run folders and record each run's state in ``manifest``."""
    entries = manifest["runs"]
    names = list(entries) if names is None else names
    job_ids = [entries[n].get("job", {}).get("id") for n in names
               if entries[n].get("job", {}).get("executor") == "slurm"]
    slurm_jobs = squeue_jobs(job_ids) if job_ids else None
    for name in names:
        entry = entries[name]
        job = entry.get("job", {})
        slurm_id = job.get("id") if job.get("executor") == "slurm" else None
        state, done, message = run_state(os.path.join(out, entry["folder"]), entry["epochs"],
                                         slurm_jobs, slurm_id)
        entry.update(state=state, epochs_done=done, message=message)
    return manifest


def save_manifest(out, manifest):
    with ManifestLock(out):
        current = read_json(manifest_path(out))
        if isinstance(current, dict) and isinstance(current.get("runs"), dict):
            # another sweep process may have added runs meanwhile: keep them
            for name, entry in current["runs"].items():
                manifest["runs"].setdefault(name, entry)
            for grid in current.get("grids", []):
                if grid not in manifest["grids"]:
                    manifest["grids"].append(grid)
        write_json(manifest_path(out), manifest)


# -- the status table ---------------------------------------------------------------
def _pick(columns, word):
    """The history column of ``word`` (loss, acc): validation first."""
    lower = {c: c.lower() for c in columns}
    for c in columns:
        if word in lower[c] and "valid" in lower[c]:
            return c
    return next((c for c in columns if word in lower[c]), None)


def _sort_key(value):
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def status_table(out, manifest):
    """A DataFrame with one row per run: settings, state, epochs done and
    to train, final and best loss (and accuracy, where the task has one),
    the run's folder and message."""
    import pandas as pd
    entries = manifest["runs"]
    keys = sorted({k for e in entries.values() for k in e["settings"]} - {"seed"})
    keys += ["seed"] if any("seed" in e["settings"] for e in entries.values()) else []
    rows = []
    for name, entry in entries.items():
        row = {k: entry["settings"].get(k, "-") for k in keys}
        row.update(state=entry.get("state"), epochs=entry.get("epochs_done", 0),
                   of=entry["epochs"])
        try:
            history = pd.read_csv(os.path.join(out, entry["folder"], "history.csv"), index_col=0)
        except (OSError, ValueError):
            history = None
        if history is not None and len(history):
            loss, acc = _pick(history.columns, "loss"), _pick(history.columns, "acc")
            for column, best in ((loss, "min"), (acc, "max")):
                if column is not None:
                    values = pd.to_numeric(history[column], errors="coerce")
                    row[f"final {column}"] = values.iloc[-1]
                    row[f"best {column}"] = getattr(values, best)()
        row.update(run=name, message=entry.get("message", ""))
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        order = sorted(range(len(rows)),
                       key=lambda i: [_sort_key(rows[i][k]) for k in keys] + [rows[i]["run"]])
        table = table.iloc[order].reset_index(drop=True)
        measures = [c for c in table.columns if c.startswith(("final ", "best "))]
        table = table[[*keys, "state", "epochs", "of", *measures, "run", "message"]]
    return table


def format_table(table):
    """The table as printed: without folder and message, floats to 4 digits;
    then one line per run that failed or was interrupted, with its message."""
    if not len(table):
        return "(no runs)"
    shown = table.drop(columns=["run", "message"])
    text = shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}")
    counts = table["state"].value_counts()
    text += "\n" + ", ".join(f"{counts[s]} {s}" for s in STATES if s in counts)
    notes = [f"  {r.run}: {r.message}" for r in table.itertuples()
             if r.message and r.state in ("failed", "interrupted")]
    if notes:
        text += "\nmessages (last line of train.log):\n" + "\n".join(notes)
    return text


def write_summary(out, table):
    path = os.path.join(out, SUMMARY)
    fd, tmp = tempfile.mkstemp(dir=out, prefix="." + SUMMARY, suffix=".tmp")
    os.close(fd)
    table.to_csv(tmp, index=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def plot_sweep(table, output):
    """Final loss of the done runs, the mean over seeds with a bar from the
    lowest to the highest: one panel per swept setting (against its values,
    one line per combination of the other settings that has several of
    them), and, when the runs are not a full grid (several --grid), one
    panel with every combination of settings side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    final = next((c for c in table.columns if c.startswith("final ") and "loss" in c), None)
    done = table[table["state"] == "done"] if len(table) else table
    if final is None or not len(done):
        raise usage_error("nothing to plot: no run is done yet")
    keys = [k for k in table.columns[:list(table.columns).index("state")] if k != "seed"]
    varying = [k for k in keys if done[k].nunique() > 1]
    combos = done.groupby(keys, sort=False) if keys else [((), done)]
    panels = [k for k in varying if _lines(done, k, keys)]
    full = len(list(combos)) == _product(done[k].nunique() for k in keys)
    show_all = not panels or not full
    n = len(panels) + show_all
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4.2), squeeze=False)
    for ax, key in zip(axes[0], panels):
        lines = _lines(done, key, keys)
        values = sorted({v for _, g in lines for v in g[key]}, key=_sort_key)
        numeric = all(_sort_key(v)[0] == 0 for v in values)
        xs = {v: (float(v) if numeric else i) for i, v in enumerate(values)}
        others = [k for k in varying if k != key]
        for label, group in lines:
            stats = _spread(group, key, final)
            name = ", ".join(f"{k}={group[k].iloc[0]}" for k in others
                             if group[k].iloc[0] != "-") or final
            ax.errorbar([xs[v] for v in stats.index], stats["mean"],
                        yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                        marker="o", capsize=3, label=name)
        if numeric and min(xs.values()) > 0 and max(xs.values()) >= 10 * min(xs.values()):
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(list(xs.values()), [str(v) for v in values])
        ax.set_xlabel(key)
        ax.legend(fontsize="x-small")
    if show_all:
        ax = axes[0][-1]
        labels, means, lows, highs = [], [], [], []
        for _, group in combos:
            row = group.iloc[0]
            labels.append("\n".join(f"{k}={row[k]}" for k in varying if row[k] != "-")
                          or final)
            values = group[final].astype(float)
            means.append(values.mean())
            lows.append(values.mean() - values.min())
            highs.append(values.max() - values.mean())
        ax.errorbar(range(len(labels)), means, yerr=[lows, highs], fmt="o", capsize=4)
        ax.set_xticks(range(len(labels)), labels, fontsize="small")
        ax.set_xlim(-0.5, len(labels) - 0.5)
    for ax in axes[0]:
        ax.set_ylabel(final)
        if (done[final] > 0).all() and done[final].max() >= 10 * done[final].min():
            ax.set_yscale("log")
    sizes = list(done.groupby(keys).size()) if keys else [len(done)]
    per_point = f"{min(sizes)}" + (f"-{max(sizes)}" if max(sizes) > min(sizes) else "")
    fig.suptitle(f"{final} of the done runs: mean over seeds ({per_point} per point), "
                 "bars from min to max", fontsize="medium")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def _lines(done, key, keys):
    """The groups of runs that differ only in ``key`` (and the seed) and
    have several values of it."""
    others = [k for k in keys if k != key]
    groups = done.groupby(others, sort=True) if others else [((), done)]
    return [(label, group) for label, group in groups if group[key].nunique() > 1]


def _spread(group, key, column):
    stats = group.groupby(key)[column].agg(["mean", "min", "max"])
    return stats.loc[sorted(stats.index, key=_sort_key)]


def _product(numbers):
    result = 1
    for n in numbers:
        result *= n
    return result


# -- the command line ---------------------------------------------------------------
def build_parser():
    from .options import OneLineParser
    parser = OneLineParser(
        prog="sweep.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s TASK --grid KEY=V1,V2 ... [--seeds N ...] --out DIR "
              "[options] [-- TRAIN.PY OPTIONS]\n       %(prog)s --status DIR [--plot [-o FILE]]",
        description="Train a task's train.py over a grid of settings, each run in its own\n"
                    "folder under --out, through submitit: local processes (default) or a\n"
                    "Slurm job array. Running the same command again skips the finished\n"
                    "runs, resumes the interrupted ones and starts the rest.",
        epilog="example:\n  python sweep.py sine-generator --grid lr=0.001,0.01 "
               "hidden_size=32,64 --seeds 1 2 3 \\\n      --out runs/sweep-lr -- --epochs 400 "
               "--interval_orbit 4\n  python sweep.py --status runs/sweep-lr --plot\n\n"
               "Options after -- are given to every run. Reference: docs/sweeps.md")
    parser.add_argument("task", nargs="?", help="task folder holding a train.py, e.g. "
                        "sine-generator (relative to the current folder or the repository)")
    parser.add_argument("--grid", action="append", nargs="+", default=[], metavar="KEY=V1,V2",
                        help="config options of train.py and their values; the runs are "
                             "every combination. A flag takes true,false. Repeat --grid for "
                             "a union of grids")
    parser.add_argument("--seeds", nargs="+", type=int, default=[], metavar="N",
                        help="run every combination with each of these --seed values")
    parser.add_argument("-c", "--config", metavar="FILE.json",
                        help="base config for every run (train.py -c)")
    parser.add_argument("--out", metavar="DIR", help="folder of the sweep: one folder per "
                        f"run, {MANIFEST}, {SUMMARY}")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local: submitit's local processes on this machine; slurm: one "
                             "job array (default: local)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local: runs at once, the cores shared among them (default: one "
                             f"per two cores, here {default_workers()})")
    parser.add_argument("--dry_run", action="store_true",
                        help="print the runs and their commands; start and write nothing")
    parser.add_argument("--status", nargs="?", const="", metavar="DIR",
                        help=f"print the table of the sweep in DIR (default --out) and write "
                             f"it to DIR/{SUMMARY}")
    parser.add_argument("--plot", action="store_true",
                        help=f"also save final loss against each swept setting (DIR/{PLOT})")
    parser.add_argument("-o", "--output", metavar="FILE", help="where --plot saves its figure")
    slurm = parser.add_argument_group("Slurm (--executor slurm)")
    slurm.add_argument("--partition", help="partition to submit to")
    slurm.add_argument("--time", type=int, metavar="MIN",
                       help=f"time limit of each run's job in minutes (default {SLURM_TIME_MIN}); "
                            "a job stopped by it is requeued and resumes from its checkpoint")
    slurm.add_argument("--cpus_per_task", type=int, metavar="N",
                       help="cores of each run (its threads)")
    slurm.add_argument("--gpus_per_task", type=int, metavar="N",
                       help="GPUs of each run; train.py then gets --cuda")
    slurm.add_argument("--mem_gb", type=float, metavar="GB", help="memory of each run")
    slurm.add_argument("--slurm_array_parallelism", type=int, metavar="N",
                       help="runs of the array running at once")
    slurm.add_argument("--sbatch", action="append", type=_key_value, default=[],
                       metavar="KEY=VALUE", help="another sbatch parameter, e.g. "
                       "account=myproject or qos=long (repeatable; KEY alone for a flag)")
    return parser


def _key_value(text):
    key, eq, value = text.partition("=")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, (value if eq else True)


def split_argv(argv):
    """``(sweep.py arguments, train.py arguments after the first --)``."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


SLURM_OPTIONS = ("partition", "time", "cpus_per_task", "gpus_per_task", "mem_gb",
                 "slurm_array_parallelism", "sbatch")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, fixed = split_argv(argv)
    args = build_parser().parse_args(ours)
    if args.status is not None:
        if args.task or args.grid or args.seeds or fixed:
            raise usage_error("--status DIR shows a sweep; it takes no task, grid or options")
        return status_command(args.status or args.out, args.plot, args.output)
    if not args.task:
        raise usage_error("give a task folder (e.g. sine-generator), or --status DIR")
    if not args.out:
        raise usage_error("give the folder of the sweep with --out DIR")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise usage_error(f"--out {args.out} exists and is not a folder")
    if args.executor == "local":
        given = [f"--{o}" for o in SLURM_OPTIONS if getattr(args, o)]
        if given:
            raise usage_error(f"{', '.join(given)} only apply to --executor slurm")
    elif args.workers is not None:
        raise usage_error("--workers applies to the local executor; Slurm runs each run as a "
                          "task of a job array (see --slurm_array_parallelism)")
    for name in ("workers", "time", "cpus_per_task", "slurm_array_parallelism"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise usage_error(f"--{name} must be at least 1")
    for name in ("gpus_per_task", "mem_gb"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise usage_error(f"--{name} must be positive")
    sweep = Sweep(args.task, args.out, args.grid, args.seeds, fixed, args.config)
    old = read_manifest(sweep.out) if os.path.isfile(manifest_path(sweep.out)) else None
    manifest = merged_manifest(sweep, old)
    slurm_ids = {name: entry["job"]["id"] for name, entry in manifest["runs"].items()
                 if entry.get("job", {}).get("executor") == "slurm" and name in sweep.runs}
    slurm_jobs = squeue_jobs(slurm_ids.values()) if slurm_ids else None
    actions = {name: next_action(os.path.join(sweep.out, run["folder"]), run["epochs"],
                                 slurm_jobs, slurm_ids.get(name))
               for name, run in sweep.runs.items()}
    todo = [n for n, a in actions.items() if a in ("start", "restart", "resume")]
    if args.executor == "slurm":
        threads, cuda = args.cpus_per_task or 1, bool(args.gpus_per_task)
    else:
        workers = args.workers or default_workers()
        active = max(1, min(workers, len(todo)))
        threads, cuda = max(1, available_cores() // active), False
    if args.dry_run:
        print_plan(sweep, actions, threads, cuda, args)
        return 0
    if args.executor == "slurm":
        check_slurm_commands()   # before writing anything
    os.makedirs(sweep.out, exist_ok=True)
    save_manifest(sweep.out, refresh_states(sweep.out, manifest))
    counts = summary_counts(actions)
    print(f"sweep of {sweep.task}/train.py in {args.out}: {len(sweep.runs)} runs ({counts})",
          flush=True)
    if not todo:
        print("nothing to start")
        return finish(sweep, manifest, args)
    if args.executor == "slurm":
        return submit_slurm(sweep, manifest, todo, threads, cuda, args)
    return run_local(sweep, manifest, todo, active, threads, args)


def summary_counts(actions):
    words = {"start": "to start", "restart": "to restart", "resume": "to resume",
             "done": "done", "running": "running elsewhere", "queued": "queued in Slurm"}
    counts = [f"{sum(a == k for a in actions.values())} {w}" for k, w in words.items()
              if any(a == k for a in actions.values())]
    return ", ".join(counts)


def print_plan(sweep, actions, threads, cuda, args):
    where = (f"{len([a for a in actions.values() if a in ('start', 'restart', 'resume')])} "
             f"to run")
    if args.executor == "slurm":
        params = slurm_parameters(args, f"sweep-{os.path.basename(sweep.out)}")
        where += f" as one Slurm job array, submitit parameters {json.dumps(params)}"
    else:
        todo = sum(a in ("start", "restart", "resume") for a in actions.values())
        where += f" locally, {max(1, min(args.workers or default_workers(), todo))} " \
                 f"at a time, {threads} thread(s) each"
    print(f"dry run: sweep of {sweep.task}/train.py in {args.out}: {len(sweep.runs)} runs "
          f"({summary_counts(actions)}); {where}")
    env = f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
    for name, action in actions.items():
        start, resume = sweep.commands(name, threads, cuda)
        print(f"{action:<8} {name}")
        if action in ("start", "restart", "resume"):
            command = resume if action == "resume" else start
            print(f"         cd {shlex.quote(sweep.task_dir)} && {env} python "
                  f"{shlex.join(command)}")
    print("nothing was started or written")


def submit_slurm(sweep, manifest, todo, threads, cuda, args):
    params = slurm_parameters(args, f"sweep-{os.path.basename(sweep.out)}")
    executor = make_executor("slurm", sweep.out, params)
    grace = max(10, params.get("slurm_signal_delay_s", 90) - 30)
    job = SweepJob(sweep.job_spec(threads, stop_grace_s=grace, local=False))
    chunks = [sweep.job_runs([name], threads, cuda) for name in todo]
    try:
        jobs = executor.map_array(job, chunks)
    except Exception as e:  # sbatch refused: one line
        raise usage_error(f"sbatch failed: {last_line(str(e))}") from None
    for name, j in zip(todo, jobs):
        manifest["runs"][name]["job"] = {"executor": "slurm", "id": str(j.job_id)}
        manifest["runs"][name]["state"] = "queued"
    manifest["executor"] = {"name": "slurm", "parameters": params, "threads": threads}
    save_manifest(sweep.out, manifest)
    array = str(jobs[0].job_id).split("_")[0]
    print(f"submitted {len(todo)} run(s) as Slurm job array {array}; follow them with: "
          f"python sweep.py --status {args.out}")
    return 0


def run_local(sweep, manifest, todo, workers, threads, args):
    from tqdm import tqdm
    executor = make_executor("local", sweep.out, {"timeout_min": LOCAL_TIMEOUT_MIN,
                                                  "name": "sweep"})
    chunks = [sweep.job_runs(todo[i::workers], threads) for i in range(workers)]
    # The job processes start ignoring Ctrl-C (no KeyboardInterrupt in
    # submitit's controllers); train.py and SweepJob set their own handlers.
    with _signal_ignored(signal.SIGINT):
        jobs = executor.map_array(SweepJob(sweep.job_spec(threads)), chunks)
    for j, chunk in zip(jobs, chunks):
        for run in chunk:
            manifest["runs"][run["name"]]["job"] = {"executor": "local", "id": str(j.job_id)}
    manifest["executor"] = {"name": "local", "workers": workers, "threads": threads}
    save_manifest(sweep.out, manifest)
    print(f"{len(todo)} run(s) on {workers} worker(s), {threads} thread(s) each; each run's "
          f"output goes to its {LOG}", flush=True)
    names = list(sweep.runs)
    progress = tqdm(total=len(names), desc="runs", unit="run", dynamic_ncols=True,
                    disable=not sys.stderr.isatty())
    seen = {}
    interrupted = False
    folders = [os.path.join(sweep.out, sweep.runs[n]["folder"]) for n in todo]
    previous = _on_sigterm(lambda: _forward(folders, signal.SIGTERM))
    try:
        while True:
            finished = all(j.done() for j in jobs)
            _report(sweep, names, seen, progress)
            if finished:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        progress.write("interrupted: each running train.py stops after its epoch and writes "
                       "checkpoint.pth; run the same command again to resume (Ctrl-C again "
                       "to stop them at once)")
        try:
            while not all(j.done() for j in jobs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    progress.close()
    if not interrupted:
        for j, chunk in zip(jobs, chunks):
            try:
                j.result()
            except Exception as e:  # the job itself failed: say so for its runs
                message = f"sweep job {j.job_id} failed: {last_line(str(e))}"
                for run in chunk:
                    state, _, _ = run_state(run["folder"], run["epochs"])
                    if state != "done":
                        write_json(os.path.join(run["folder"], EXIT),
                                   {"returncode": 1, "message": message,
                                    "epochs": run["epochs"]})
    code = finish(sweep, manifest, args)
    return 130 if interrupted else code


class _signal_ignored:
    """Ignore ``signum`` in this block (in the main thread): processes
    started meanwhile inherit that."""

    def __init__(self, signum):
        self.signum, self.previous = signum, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(self.signum, signal.SIG_IGN)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(self.signum, self.previous)


def _on_sigterm(action):
    """SIGTERM to the sweep: ``action()``, then stop as after Ctrl-C.
    Returns the previous handler (None outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        action()
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, handler)


def _forward(folders, signum):
    """Send ``signum`` to the train.py processes running in ``folders`` here."""
    for folder in folders:
        marker = read_json(os.path.join(folder, RUNNING))
        if marker and marker.get("host") == socket.gethostname() and len(marker["pids"]) > 1:
            try:
                os.kill(marker["pids"][-1], signum)
            except OSError:
                pass


def _report(sweep, names, seen, progress):
    counts = {}
    for name in names:
        run = sweep.runs[name]
        state, _, message = run_state(os.path.join(sweep.out, run["folder"]), run["epochs"])
        counts[state] = counts.get(state, 0) + 1
        before = seen.get(name)
        if before is not None and state != before and state in ("done", "failed"):
            progress.write(f"{state:<7} {name}" + (f": {message}" if message else ""))
        seen[name] = state
    progress.n = counts.get("done", 0)
    progress.set_postfix(running=counts.get("running", 0), failed=counts.get("failed", 0),
                         refresh=False)
    progress.refresh()


def finish(sweep, manifest, args):
    """Record the states, print the table, write summary.csv (and the plot);
    exit status 0 when every run of this command is done, else 1."""
    refresh_states(sweep.out, manifest)
    save_manifest(sweep.out, manifest)
    table = status_table(sweep.out, manifest)
    write_summary(sweep.out, table)
    print(format_table(table))
    if args.plot and (table["state"] == "done").any():
        print(f"saved {plot_sweep(table, args.output or os.path.join(sweep.out, PLOT))}")
    elif args.plot:
        print("no plot: no run is done yet")
    states = [manifest["runs"][n]["state"] for n in sweep.runs]
    failed = states.count("failed")
    if failed:
        print(f"sweep.py: {failed} of {len(states)} runs failed (see the messages above and "
              f"their {LOG})", file=sys.stderr)
        return 1
    # Slurm runs go on after the command: queued or running is as asked.
    fine = ("done", "queued", "running") if args.executor == "slurm" else ("done",)
    left = sum(s not in fine for s in states)
    if left:
        print(f"sweep.py: {left} of {len(states)} runs are not done (see the table)",
              file=sys.stderr)
        return 1
    return 0


def status_command(out, plot, output):
    if not out:
        raise usage_error("--status needs the folder of a sweep: --status DIR")
    manifest = read_manifest(out)
    refresh_states(out, manifest)
    table = status_table(out, manifest)
    if plot:
        plot_sweep(table, output or os.path.join(out, PLOT))   # fails before writing anything
    save_manifest(out, manifest)
    write_summary(out, table)
    print(f"sweep of {manifest['task']}/train.py in {out}")
    print(format_table(table))
    if plot:
        print(f"saved {output or os.path.join(out, PLOT)}")
    return 0
