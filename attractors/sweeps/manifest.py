"""The manifest ``sweep.json``: the sweep's task, grids, seeds and fixed
settings, and each run's settings, job and last known state. A second
invocation merges into it; other sweep processes' runs are kept."""
import datetime
import fcntl
import json
import os
import re

from ..options import UsageError
from .files import MANIFEST, read_json, write_json
from .state import run_state, squeue_jobs

FORMAT = 1


def manifest_path(out):
    return os.path.join(out, MANIFEST)


def _inside(folder):
    """A run's folder as the manifest may give it: a name under the sweep's
    folder, or a population's ``NAME/seed-<seed>`` (never a path out of it)."""
    parts = folder.split("/")
    return (0 < len(parts) <= 2 and all(p and p not in (".", "..") and os.sep not in p
                                        for p in parts)
            and (len(parts) == 1 or re.fullmatch(r"seed-\d+", parts[1]) is not None))


def read_manifest(out):
    path = manifest_path(out)
    if not os.path.isfile(path):
        raise UsageError(f"{out} holds no sweep: it has no {MANIFEST}")
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or "runs" not in data:
        raise UsageError(f"{path} is not a sweep manifest of this version")
    if not isinstance(data["runs"], dict):
        raise UsageError(f"{path} is damaged: its 'runs' is not an object")
    for name, entry in data["runs"].items():
        if not (isinstance(entry, dict) and isinstance(entry.get("settings"), dict)
                and isinstance(entry.get("folder"), str) and _inside(entry["folder"])
                and isinstance(entry.get("epochs"), int) and not isinstance(entry["epochs"], bool)
                and (entry.get("job") is None or isinstance(entry["job"], dict))):
            raise UsageError(f"{path} is damaged: the entry of run {name!r} lacks its "
                             "settings, folder or epochs (was it edited?)")
    return data


def merged_manifest(sweep, old):
    """The manifest of ``old`` (or a new one) with this sweep's grid, seeds
    and runs added; runs it already lists keep their entries."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    shared = sweep.fixed_config()
    if old is not None and old.get("shared") != shared:
        raise UsageError(
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
    if shared.get("population"):
        parts.append(f"sweep.py --population {shared['population']}")
    parts += [f"--{k} {' '.join(v)}".rstrip() for k, v in sorted(shared["options"].items())]
    parts += [f"{k}={json.dumps(v)} in -c" for k, v in sorted(shared["config_file"].items())]
    return ", ".join(parts)


class ManifestLock:
    """An exclusive lock on ``out/.sweep.lock`` while the manifest is rewritten."""

    def __init__(self, out):
        self.path = os.path.join(out, ".sweep.lock")

    def __enter__(self):
        self.file = open(self.path, "a")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.file.close()


def slurm_jobs_of(manifest, names):
    """``({run: its Slurm job id}, the ids squeue lists or None)`` for the
    runs ``names`` that were submitted to Slurm."""
    entries = manifest["runs"]
    ids = {n: entries[n]["job"]["id"] for n in names
           if entries[n].get("job", {}).get("executor") == "slurm"}
    return ids, squeue_jobs(ids.values())


def refresh_states(out, manifest):
    """Look at the run folders and record each run's state in ``manifest``."""
    slurm_ids, slurm_jobs = slurm_jobs_of(manifest, manifest["runs"])
    for name, entry in manifest["runs"].items():
        state, done, message = run_state(os.path.join(out, entry["folder"]), entry["epochs"],
                                         slurm_jobs, slurm_ids.get(name))
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
