"""What a run folder says about its run: done, running (here, or as a Slurm
job squeue lists), queued, failed, interrupted or not started; and so what
a sweep does with it next."""
import os
import shutil
import socket
import subprocess

from .files import EXIT, RUNNING, read_json

STATES = ("done", "running", "queued", "failed", "interrupted", "not started")
TO_RUN = ("start", "restart", "resume")   # the actions that run train.py


def history_rows(folder):
    """Epochs recorded in history.csv (None when there is none)."""
    try:
        with open(os.path.join(folder, "history.csv"), errors="replace") as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except OSError:
        return None


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
    if not isinstance(marker, dict):     # none, or a damaged one
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


def squeue_jobs(job_ids):
    """The job ids (array tasks one by one) squeue lists among ``job_ids``,
    or None when that cannot be told (no squeue, or it failed)."""
    bases = sorted({str(j).split("_")[0] for j in job_ids if j})
    if not bases or not shutil.which("squeue"):
        return None
    try:
        done = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(bases)],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        # squeue refuses a single id it no longer knows (a job finished
        # minutes ago); several ids are filtered without complaint
        return set() if "Invalid job id" in done.stderr else None
    return set(done.stdout.split())
