"""``sweep.py --population K``: runs that differ only by their seed, trained
together by one ``train.py --population`` process, up to K of them.

A population's runs live in ``DIR/<settings>_seeds=<a>-<b>/seed-<seed>``,
ordinary run folders that the manifest lists as the runs' folders (so the
status table, ``run_state`` and a later sweep read them as any run). A run
keeps the folder the manifest gave it: seeds added by a later invocation
form populations of their own. When only some runs of a population are
still to do (one failed, one runs elsewhere), those run alone, from their
own folders: a copy's folder resumes as a single run.
"""
import os

from .files import EXIT, LOG, write_json, last_line
from .grid import run_name
from .state import history_rows, run_state

MANIFEST = "population.json"   # what train.py --population writes in its folder


def assign(sweep, old_runs, size):
    """Give the runs not in ``old_runs`` (the manifest's, which keep their
    folders) to populations of at most ``size`` consecutive seeds with the
    same other settings; returns ``{population folder: [run names]}`` of
    every population, old and new."""
    groups = {}
    for name, run in sweep.runs.items():
        if name in old_runs:
            run["folder"] = old_runs[name]["folder"]
        elif "seed" in run["settings"] and size > 1:
            rest = {k: v for k, v in run["settings"].items() if k != "seed"}
            groups.setdefault(run_name(rest), (rest, []))[1].append(name)
    for rest, names in groups.values():
        names.sort(key=lambda n: int(sweep.runs[n]["settings"]["seed"]))
        for chunk in _chunks(names, sweep, size):
            seeds = [int(sweep.runs[n]["settings"]["seed"]) for n in chunk]
            root = run_name({**rest, "seeds": f"{seeds[0]}-{seeds[-1]}"})
            for name, seed in zip(chunk, seeds):
                sweep.runs[name]["folder"] = f"{root}/seed-{seed}"
    units = {}
    for name, run in sweep.runs.items():
        root, leaf = os.path.split(run["folder"])
        if root and leaf.startswith("seed-"):
            units.setdefault(root, []).append(name)
    return units


def _chunks(names, sweep, size):
    """Runs of consecutive seeds, at most ``size`` long, of two or more."""
    chunk = []
    for name in names:
        seed = int(sweep.runs[name]["settings"]["seed"])
        if chunk and (seed != int(sweep.runs[chunk[-1]]["settings"]["seed"]) + 1
                      or len(chunk) == size):
            yield from ([chunk] if len(chunk) > 1 else [])
            chunk = []
        chunk.append(name)
    if len(chunk) > 1:
        yield chunk


def commands(sweep, root, names, threads, cuda):
    """``(start, resume)`` of the population ``root`` with the runs ``names``:
    the first run's command with ``--population``, in the population's folder."""
    folder = os.path.join(sweep.out, root)
    start, _ = sweep.commands(names[0], threads, cuda)
    start = start[:-3] + ["--population", str(len(names)), "--folder", folder, "--overwrite"]
    _, resume = sweep.commands(names[0], threads, cuda)
    return start, ["train.py", "--resume", folder, *resume[3:]]


def job_items(sweep, units, names, threads, cuda):
    """What the jobs run for the runs ``names``: each population one of whose
    runs is among them (with all its runs), and the other runs."""
    member = {n: root for root, unit in units.items() for n in unit}
    items, seen = [], set()
    for name in names:
        root = member.get(name)
        if root is None:
            items += sweep.job_runs([name], threads, cuda)
        elif root not in seen:
            seen.add(root)
            start, resume = commands(sweep, root, units[root], threads, cuda)
            copies = sweep.job_runs(units[root], threads, cuda)
            items.append({"name": root, "folder": os.path.join(sweep.out, root),
                          "epochs": copies[0]["epochs"], "start": start, "resume": resume,
                          "copies": copies})
    return items


def run_population(job, unit, job_id):
    """Train the population ``unit`` (a :func:`job_items` entry) in one
    process when all its runs are to do and none has started on its own;
    else the runs to do one by one. Returns the outcomes."""
    states = [run_state(c["folder"], c["epochs"], own_job=job_id)[0] for c in unit["copies"]]
    todo = [c for c, s in zip(unit["copies"], states) if s not in ("done", "running")]
    if not todo:
        return [{"name": unit["name"], "action": "done", "returncode": None, "message": ""}]
    together = os.path.isfile(os.path.join(unit["folder"], MANIFEST))
    fresh = not any(os.path.isfile(os.path.join(c["folder"], "checkpoint.pth"))
                    for c in unit["copies"])
    if len(todo) < len(unit["copies"]) or not (together or fresh):
        outcomes = []
        for copy in todo:
            outcomes.append(job.run(copy))
            if outcomes[-1].get("interrupted"):
                break
        return outcomes
    action = "resume" if together else "start"
    folders = [c["folder"] for c in unit["copies"]]
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(os.path.join(folder, EXIT)):
            os.remove(os.path.join(folder, EXIT))
    returncode = job._train(unit["folder"], unit[action], action, job_id, markers=folders)
    interrupted = returncode == 130 or returncode < 0 or (returncode != 0 and job._stopping)
    lines = _log_lines(unit["folder"])
    outcomes = []
    for copy in unit["copies"]:
        seed = os.path.basename(copy["folder"])[len("seed-"):]
        done = (history_rows(copy["folder"]) or 0) >= copy["epochs"] and os.path.isfile(
            os.path.join(copy["folder"], "model.pth"))
        own = [line for line in lines if line.startswith(f"seed {seed}: ")]
        message = "" if done else (own[-1] if own else last_line("\n".join(lines)))
        code = 0 if done else returncode
        write_json(os.path.join(copy["folder"], EXIT),
                   {"returncode": code, "interrupted": interrupted and not done,
                    "message": message, "epochs": copy["epochs"], "action": action,
                    "population": unit["name"]})
        outcomes.append({"name": copy["name"], "action": action, "returncode": code,
                         "interrupted": interrupted and not done, "message": message})
    return outcomes


def _log_lines(folder):
    """The lines of the population's last attempt in its train.log."""
    try:
        with open(os.path.join(folder, LOG), errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    return [line.strip() for line in text.rsplit("=== sweep ", 1)[-1].splitlines()
            if line.strip()]
