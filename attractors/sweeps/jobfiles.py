"""submitit's folder under ``--out`` (``.submitit/``): what stays and what
goes. It holds each job's pickles and logs (``<job id>/``); a queued or
running job needs its pickle. The folders of finished jobs are removed,
except the last job of a run that failed or was interrupted (its log says
why), so the folder does not grow with every invocation; also the empty
``%j`` folder submitit's local executor makes. And, when sbatch refuses a
job, :class:`Undo` puts ``--out`` back as it was."""
import os
import re
import shutil
import time

from .files import SUBMITIT
from .state import pid_alive, squeue_jobs

YOUNG_S = 120   # newer entries may belong to a sweep that is submitting right now
JOB = re.compile(r"\d+(_\d+)?")   # a job's folder: its id


def prune(out, manifest):
    """Remove from ``out/.submitit`` what no job needs any more."""
    folder = os.path.join(out, SUBMITIT)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    known = {e["job"]["id"]: e.get("state") for e in manifest["runs"].values() if e.get("job")}
    # the jobs of runs that wait, run, or failed (their logs tell why)
    keep = {j for j, state in known.items()
            if state in ("queued", "running", "failed", "interrupted")}
    ids = [n for n in names if JOB.fullmatch(n)]
    listed = squeue_jobs(ids) if ids else set()        # None: cannot tell
    needed = keep | (listed or set())
    now = time.time()
    # the links to sbatch scripts last, once the folders they point into are gone
    for name in sorted(names, key=lambda n: n.startswith(".submission_file_")):
        path = os.path.join(folder, name)
        if not _needed(name, path, known, needed, listed is None, now):
            _remove(path)


def _needed(name, path, known, needed, unsure, now):
    """``known``: the job ids of the manifest; ``needed``: those to keep;
    ``unsure``: squeue could not be asked."""
    if name == "%j":                          # made (empty) by the local executor
        return False
    if name.startswith(".submission_file_"):  # a link to an array's sbatch script
        return os.path.exists(path)
    if not JOB.fullmatch(name):
        return True                           # not a job's folder: leave it
    if name in needed or any(j.startswith(name + "_") for j in needed):
        return True                           # (a job, or the folder of an array's tasks)
    slurm = "_" in name or os.path.exists(os.path.join(path, f"{name}_submission.sh"))
    if not slurm:                             # a local job, named after its process
        return pid_alive(int(name))
    if name in known or any(j.startswith(name + "_") for j in known):
        return False                          # a Slurm job of this sweep, over
    # a Slurm job the manifest does not list (yet: a sweep submitting now?)
    return unsure or _age(path, now) < YOUNG_S


def _age(path, now):
    try:
        return now - os.lstat(path).st_mtime
    except OSError:
        return float("inf")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except OSError:
            pass


class Undo:
    """What ``out`` holds before a submission (nothing else is written
    until sbatch accepts the job), to put back if it fails: the folder
    itself, and the entries of it and of ``.submitit``."""

    def __init__(self, out):
        self.out = out
        self.existed = os.path.isdir(out)
        self.entries = set(os.listdir(out)) if self.existed else set()
        jobs = os.path.join(out, SUBMITIT)
        self.jobs = set(os.listdir(jobs)) if os.path.isdir(jobs) else None

    def __call__(self):
        if not self.existed:
            shutil.rmtree(self.out, ignore_errors=True)
            return
        jobs = os.path.join(self.out, SUBMITIT)
        for folder, before in ((self.out, self.entries), (jobs, self.jobs or set())):
            if not os.path.isdir(folder):
                continue
            for name in set(os.listdir(folder)) - before:
                _remove(os.path.join(folder, name))
