"""Running the runs through submitit: local workers on this machine (the
sweep waits for them, shows progress and passes Ctrl-C and SIGTERM on), or
one Slurm job array (the sweep submits it and exits)."""
import contextlib
import io
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time

import submitit

from ..options import UsageError
from .files import EXIT, LOG, RUNNING, SUBMITIT, last_line, read_json, write_json
from .jobfiles import Undo
from .manifest import save_manifest
from .runner import SweepJob
from .state import run_state
from .status import finish

LOCAL_TIMEOUT_MIN = 60 * 24 * 365   # the local executor's default is 2 minutes
SLURM_TIME_MIN = 60
SLURM_MAX_REQUEUES = 20         # time-limit requeues per Slurm job
SLURM_SIGNAL_S = 90             # the warning (USR2) before the time limit, at most
SLURM_MIN_TIME = 2              # minutes: see signal_delay
SLURM_OPTIONS = ("partition", "time", "cpus_per_task", "gpus_per_task", "mem_gb",
                 "slurm_array_parallelism", "sbatch")


def signal_delay(minutes):
    """Seconds before the time limit at which the job asks Slurm for USR2,
    to stop train.py with a checkpoint and requeue itself. Slurm sends it up
    to 60 s earlier than asked (it looks at time limits every 30 s); it must
    not come before the job has started its handler (then USR2 would kill
    the job, which would not be requeued): so never in the first 30 s, and
    a job shorter than SLURM_MIN_TIME cannot be warned at all."""
    return min(SLURM_SIGNAL_S, 60 * minutes - 90)


def slurm_parameters(args, name):
    """The AutoExecutor parameters of a Slurm sweep from the command line."""
    minutes = args.time or SLURM_TIME_MIN
    params = {"name": name, "timeout_min": minutes, "nodes": 1, "tasks_per_node": 1,
              "slurm_signal_delay_s": signal_delay(minutes)}
    optional = {"cpus_per_task": "cpus_per_task", "mem_gb": "mem_gb",
                "partition": "slurm_partition", "gpus_per_task": "slurm_gpus_per_task",
                "slurm_array_parallelism": "slurm_array_parallelism"}
    for option, parameter in optional.items():
        if getattr(args, option):
            params[parameter] = getattr(args, option)
    if args.sbatch:
        params["slurm_additional_parameters"] = dict(args.sbatch)
    return params


def slurm_job_name(out):
    return f"sweep-{os.path.basename(out)}"


def check_slurm_commands():
    missing = [c for c in ("sbatch", "srun") if not shutil.which(c)]
    if missing:
        raise UsageError(f"--executor slurm needs the Slurm commands sbatch and srun, "
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


def submit_slurm(sweep, manifest, todo, threads, cuda, args):
    """Submit the runs ``todo`` as one job array and record their jobs in
    ``manifest`` (not saved here); returns the array's id. When sbatch
    refuses, ``--out`` is put back as it was and the error is one line."""
    params = slurm_parameters(args, slurm_job_name(sweep.out))
    undo = Undo(sweep.out)
    executor = make_executor("slurm", sweep.out, params)
    grace = max(5, params["slurm_signal_delay_s"] - 20)
    job = SweepJob(sweep.job_spec(threads, stop_grace_s=grace, local=False))
    chunks = [[item] for item in sweep.job_items(todo, threads, cuda)]
    refusal = io.StringIO()
    try:
        with contextlib.redirect_stderr(refusal):   # submitit prints sbatch's lines
            jobs = executor.map_array(job, chunks)
    except Exception as e:
        undo()
        reason = last_line(str(e)) or last_line(refusal.getvalue()) or type(e).__name__
        raise UsageError(f"sbatch refused the job array: {_sbatch_reason(reason)}; "
                         f"nothing was submitted") from None
    for chunk, j in zip(chunks, jobs):
        for run in _runs_of(chunk):
            manifest["runs"][run["name"]]["job"] = {"executor": "slurm", "id": str(j.job_id)}
            manifest["runs"][run["name"]]["state"] = "queued"
    manifest["executor"] = {"name": "slurm", "parameters": params, "threads": threads}
    return str(jobs[0].job_id).split("_")[0]


def _sbatch_reason(line):
    """sbatch's error without its ``sbatch: error:`` prefixes."""
    while True:
        stripped = re.sub(r"^(sbatch: )?(error: )?(Batch job submission failed: )?", "", line)
        if stripped == line:
            return line
        line = stripped


def run_local(sweep, manifest, todo, workers, threads, args):
    executor = make_executor("local", sweep.out, {"timeout_min": LOCAL_TIMEOUT_MIN,
                                                  "name": "sweep"})
    items = sweep.job_items(todo, threads)
    chunks = [items[i::workers] for i in range(workers)]
    # The job processes start ignoring Ctrl-C (no KeyboardInterrupt in
    # submitit's controllers); train.py and SweepJob set their own handlers.
    with _signal_ignored(signal.SIGINT):
        jobs = executor.map_array(SweepJob(sweep.job_spec(threads)), chunks)
    for j, chunk in zip(jobs, chunks):
        for run in _runs_of(chunk):
            manifest["runs"][run["name"]]["job"] = {"executor": "local", "id": str(j.job_id)}
    manifest["executor"] = {"name": "local", "workers": workers, "threads": threads}
    save_manifest(sweep.out, manifest)
    print(f"{len(todo)} run(s) on {workers} worker(s), {threads} thread(s) each; each run's "
          f"output goes to its {LOG}", flush=True)
    interrupted = _follow(sweep, jobs, [sweep.folder(n) for n in todo])
    if not interrupted:
        for j, chunk in zip(jobs, chunks):
            try:
                j.result()
            except Exception as e:  # the job itself failed: say so for its runs
                message = f"sweep job {j.job_id} failed: {last_line(str(e))}"
                for run in _runs_of(chunk):
                    state, _, _ = run_state(run["folder"], run["epochs"])
                    if state != "done":
                        write_json(os.path.join(run["folder"], EXIT),
                                   {"returncode": 1, "message": message,
                                    "epochs": run["epochs"]})
    code = finish(sweep, manifest, args)
    return 130 if interrupted else code


def _follow(sweep, jobs, folders):
    """Show the runs' progress until ``jobs`` end; True when interrupted
    (Ctrl-C, or SIGTERM, which is passed on to the train.py in ``folders``)."""
    from tqdm import tqdm
    progress = tqdm(total=len(sweep.runs), desc="runs", unit="run", dynamic_ncols=True,
                    disable=not sys.stderr.isatty())
    seen, interrupted = {}, False
    previous = _on_sigterm(lambda: _forward(folders, signal.SIGTERM))
    try:
        while True:
            finished = all(j.done() for j in jobs)
            _report(sweep, seen, progress)
            if finished:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        # A Ctrl-C in the terminal reached the train.py processes too (and
        # this SIGTERM, within a second of it, asks nothing more); a SIGINT
        # sent to this process alone reaches them only so.
        _forward(folders, signal.SIGTERM)
        progress.write("interrupted: each running train.py stops after its epoch and writes "
                       "checkpoint.pth; run the same command again to resume (Ctrl-C again "
                       "to stop them at once)")
        try:
            while not all(j.done() for j in jobs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            _forward(folders, signal.SIGINT)     # a second one: at once
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    progress.close()
    return interrupted


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
    """Send ``signum`` to the train.py processes running in ``folders`` here,
    once each (a population's process runs in several)."""
    pids = set()
    for folder in folders:
        marker = read_json(os.path.join(folder, RUNNING))
        if marker and marker.get("host") == socket.gethostname() and len(marker["pids"]) > 1:
            pids.add(marker["pids"][-1])
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def _runs_of(items):
    """The runs of job items: a population's runs, or the run itself."""
    return [run for item in items for run in item.get("copies", [item])]


def _report(sweep, seen, progress):
    """Update the progress bar; a line for each run that is newly done or failed."""
    counts = {}
    for name, run in sweep.runs.items():
        state, _, message = run_state(sweep.folder(name), run["epochs"])
        counts[state] = counts.get(state, 0) + 1
        before = seen.get(name)
        if before is not None and state != before and state in ("done", "failed"):
            progress.write(f"{state:<7} {name}" + (f": {message}" if message else ""))
        seen[name] = state
    progress.n = counts.get("done", 0)
    progress.set_postfix(running=counts.get("running", 0), failed=counts.get("failed", 0),
                         refresh=False)
    progress.refresh()
