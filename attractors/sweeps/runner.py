"""The job submitit runs (:class:`SweepJob`): ``train.py`` as a subprocess
for each of its runs, its output in the run's ``train.log``, how it ended
in ``.sweep-exit``; when Slurm stops the job, the running train.py is
stopped with a checkpoint and the requeued job resumes it. Also the
threads each run gets."""
import datetime
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

import submitit

from .files import EXIT, LOG, RUNNING, log_last_line, write_json
from .populations import run_population
from .state import run_state

POLL_S = 0.2                    # how often a job looks at its train.py


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_workers():
    return max(1, available_cores() // 2)


def thread_env(threads):
    """The environment that sets torch's threads (read at its start-up)."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


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


def _now():
    return datetime.datetime.now().isoformat(timespec="seconds")


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
            if "copies" in run:   # a population (sweep.py --population)
                outcomes += run_population(self, run, _current_job_id())
            else:
                outcomes.append(self.run(run))
            if outcomes and outcomes[-1].get("interrupted"):   # stop here, as asked
                break
        return outcomes

    def run(self, run):
        folder, job_id = run["folder"], _current_job_id()
        state, _, _ = run_state(folder, run["epochs"], own_job=job_id)
        if state in ("done", "running"):
            return {"name": run["name"], "action": state, "returncode": None, "message": ""}
        action = "resume" if os.path.isfile(os.path.join(folder, "checkpoint.pth")) else "start"
        args = run[action]
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(os.path.join(folder, EXIT)):
            os.remove(os.path.join(folder, EXIT))
        returncode = self._train(folder, args, action, job_id)
        message = "" if returncode == 0 else log_last_line(folder)
        if returncode < 0:
            message = f"train.py was killed by {signal.Signals(-returncode).name}"
        # Stopped by a signal (Ctrl-C, SIGTERM, preemption, the time limit,
        # also during start-up), not by its settings: not a failure.
        interrupted = returncode == 130 or returncode < 0 or (returncode != 0 and self._stopping)
        write_json(os.path.join(folder, EXIT),
                   {"returncode": returncode, "interrupted": interrupted, "message": message,
                    "epochs": run["epochs"], "action": action, "ended": _now()})
        return {"name": run["name"], "action": action, "returncode": returncode,
                "interrupted": interrupted, "message": message}

    def _train(self, folder, args, action, job_id, markers=()):
        """Run ``python args`` in the task folder, its output appended to
        the run's train.log, with the ``.sweep-running`` marker meanwhile
        (also in the folders ``markers``: a population's runs)."""
        env = {**os.environ}
        for key, value in self.spec["env"].items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        running = [os.path.join(f, RUNNING) for f in (folder, *markers)]
        with open(os.path.join(folder, LOG), "ab") as log:
            stamp = _now()
            header = (f"=== sweep {stamp} on {socket.gethostname()}: {action}: "
                      f"cd {shlex.quote(self.spec['task_dir'])} && python {shlex.join(args)}\n")
            log.write((("\n" if log.tell() else "") + header).encode())
            log.flush()
            marker = {"host": socket.gethostname(), "pids": [os.getpid()],
                      "executor": os.environ.get("SUBMITIT_EXECUTOR", ""), "job_id": job_id,
                      "started": stamp}
            for path in running:
                write_json(path, marker)
            try:
                self._proc = subprocess.Popen([sys.executable, *args],
                                              cwd=self.spec["task_dir"], env=env,
                                              stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL,
                                              preexec_fn=_train_py_signals)
                marker["pids"].append(self._proc.pid)
                for path in running:
                    write_json(path, marker)
                return self._wait()
            finally:
                self._proc = None
                for path in running:
                    if os.path.exists(path):
                        os.remove(path)

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
