"""Does a training run's outcome hold on other machines and for other seeds?

One ``train.py`` command runs under several math-library settings (the code
paths MKL, oneDNN and PyTorch's own kernels take, as on CPUs with fewer
instructions than this one) and seeds, each run in its own process with one
thread, several at a time; each finished run is summed up in one row: its
final loss, the epoch where the loss first falls below a threshold, the
long-run behaviour of the final network under each constant input, its main
bifurcations (:mod:`attractors.orbit_analysis`) and, on request, whether it
shows an expected phenomenon. ``check_robustness.py`` is the command line;
docs/reproducibility.md explains why results differ between CPUs.
"""
import concurrent.futures
import csv
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter

# Each setting holds some libraries back to AVX2, as on a CPU without
# AVX-512; they are read when PyTorch loads, so each run is a new process.
SETTINGS = {
    "default": {},
    "mkl-avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "ATEN_CPU_CAPABILITY": "avx2"},
}
# Variables that choose code paths: taken out of the environment of every
# run, so that "default" means the libraries' own choice.
MATH_VARIABLES = ("MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA",
                  "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# train.py options the check sets itself, and why
MANAGED = {"seed": "give the seeds with --seeds", "threads": "every run has one thread",
           "folder": "each run's folder is under --out", "resume": "runs start afresh",
           "overwrite": "runs start afresh", "config": "give the options after -- instead",
           "population": "each run is one seed in a process of its own (--seeds)"}
EXPECTATIONS = {
    "oscillation": "the trajectories settle on fixed points first (in most samples before "
                   "the first birth); then an oscillation is born under at least half of the "
                   "inputs, the loss falls below the threshold no earlier than that (give or "
                   "take the grouping window), and at the last orbit sample every input "
                   "oscillates",
    "fixed-point": "the output of the final network settles on a fixed point under every "
                   "input (final column all F)",
}
LETTERS = {"fixed point": "F", "periodic": "P", "quasi-periodic": "Q", "chaotic": "C"}
MARKER = "robustness_run.json"   # beside a run: the command and environment it was made with


def run_env(setting, base=None):
    """The environment of a run under ``setting`` (a key of SETTINGS): the
    current one without MATH_VARIABLES, with one thread and the setting."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in MATH_VARIABLES}
    return {**env, **THREADS, **SETTINGS[setting]}


def plan(train_py, train_args, settings, seeds, out):
    """One spec (a dict) per run: setting, seed, folder, command, env."""
    specs = []
    for setting in settings:
        for seed in seeds:
            folder = os.path.join(out, setting, f"seed{seed}")
            command = [sys.executable, train_py, *train_args, "--seed", str(seed),
                       "--threads", "1", "--folder", folder, "--overwrite"]
            specs.append({"setting": setting, "seed": seed, "folder": folder,
                          "command": command, "variables": SETTINGS[setting]})
    return specs


def _marker(folder):
    return folder.rstrip(os.sep) + "." + MARKER


def is_done(spec):
    """Whether the spec's folder holds a finished run made by the same command."""
    try:
        with open(_marker(spec["folder"])) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return False
    return (saved == {"command": spec["command"][1:], "variables": spec["variables"]}
            and os.path.isfile(os.path.join(spec["folder"], "model.pth")))


def train(spec):
    """Run the spec's train.py (output to FOLDER.log beside the folder);
    returns ``(exit status, seconds)``."""
    os.makedirs(os.path.dirname(spec["folder"]), exist_ok=True)
    marker = _marker(spec["folder"])
    if os.path.exists(marker):
        os.remove(marker)   # the run about to be replaced is no longer that one
    start = time.perf_counter()
    with open(spec["folder"] + ".log", "w") as log:
        process = subprocess.Popen(spec["command"], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=run_env(spec["setting"]))
        with open(spec["folder"] + ".pid", "w") as f:   # for stop_trainings
            f.write(str(process.pid))
        try:
            code = process.wait()
        finally:
            os.remove(spec["folder"] + ".pid")
    if code == 0:
        with open(marker, "w") as f:
            json.dump({"command": spec["command"][1:], "variables": spec["variables"]}, f)
    return code, time.perf_counter() - start


def final_behaviour(folder, search, n_starts=4, steps=1000, record=200, lyapunov_steps=500,
                    seed=0, rtol=1e-3):
    """One letter per constant input of the task for what the output of the
    final network does from ``n_starts`` random states: F settles on a
    constant, P repeats with a period, Q quasi-periodic, C chaotic (the
    behaviour of most starts; lower case when not all agree). The kinds come
    from :func:`attractors.dynamics.classify_trajectories` on the whole
    state; a trajectory whose output stays constant (within ``rtol`` of the
    outputs' spread) over the last ``record`` of ``steps`` steps is F even
    where a saturated part of the state still drifts (an LSTM cell state
    far from zero relaxes over thousands of steps without moving the
    output)."""
    import argparse
    import torch
    from .dynamics import StateMap, classify_trajectories
    from .orbit_analysis import periods
    from .tasks import load_run
    task, model, saved = load_run(folder, search)
    _, inputs = task.constant_inputs(model, saved["config"], argparse.Namespace())
    std = min(saved["config"].get("std_orbit", 1.0), 10.0)
    # every start under every input as one batch of states, each with its input
    fmap = StateMap(model.rnn, inputs.repeat_interleave(n_starts, 0))
    starts = fmap.random_states(len(inputs) * n_starts, std,
                                torch.Generator().manual_seed(seed))
    kinds = [k["kind"] for k in classify_trajectories(fmap, starts, steps, record,
                                                      lyapunov_steps=lyapunov_steps)]
    x = fmap.iterate(starts, steps - record)
    outputs = []
    with torch.no_grad():
        for _ in range(record):
            x = fmap(x)
            outputs.append(fmap.output(x))
    outputs = torch.stack(outputs).cpu().numpy()            # (record, starts, hidden)
    spread = float(outputs.max() - outputs.min()) if outputs.size else 0.0
    settled = periods(outputs, rtol * spread + 1e-6, max_period=1) == 1
    kinds = ["fixed point" if still else kind for kind, still in zip(kinds, settled)]
    letters = []
    for k in range(len(inputs)):
        kind, count = Counter(kinds[k * n_starts:(k + 1) * n_starts]).most_common(1)[0]
        letters.append(LETTERS[kind] if count == n_starts else LETTERS[kind].lower())
    return "".join(letters)


def first_below(history, threshold):
    """Epochs trained when the training loss first fell below ``threshold``
    (None if never) and the threshold used (None: a tenth of the first loss)."""
    from .orbit_analysis import loss_column
    loss = history[loss_column(history)]
    threshold = 0.1 * float(loss.iloc[0]) if threshold is None else threshold
    below = history.loc[loss < threshold, history.columns[0]]
    return (int(below.iloc[0]) + 1 if len(below) else None), threshold


def judge(expect, report, letters, drop, window_epochs):
    """``"yes"`` or ``"no: reason"``: does the run show the ``expect``
    phenomenon (see EXPECTATIONS)?"""
    from .orbit_analysis import BORN, oscillates
    if expect == "fixed-point":
        bad = sum(letter != "F" for letter in letters)
        return "yes" if not bad else f"no: {bad} input(s) do not settle on fixed points"
    groups = report.groups
    births = groups[(groups["kind"] == BORN) & (2 * groups["inputs"] >= groups["of"])]
    if report.oscillation_birth is None or births.empty:
        return "no: no oscillation is born under most inputs"
    first = int(births["epoch"].min())
    before = report.summary[report.summary["epoch"] < first]
    if len(before) and sum(map(oscillates, before["regime"])) > len(before) / 2:
        return "no: most samples oscillate before the birth"
    if drop is None:
        return "no: the loss never falls below the threshold"
    if drop < first - window_epochs:
        return "no: the loss falls before an oscillation is born"
    last = report.summary[report.summary["sample"] == report.summary["sample"].max()]
    if not all(map(oscillates, last["regime"])):
        return "no: at the last orbit sample some input settles on a fixed point"
    return "yes"


def analyse(folder, search, threshold=None, expect=None, columns=(), top=5):
    """What a finished run in ``folder`` shows, as a dict: ``final loss``,
    ``drop`` (see :func:`first_below`), ``birth`` (the epoch where an
    oscillation is born), ``bifurcations`` (the ``top`` strongest epochs),
    ``last`` (per input, the number of distinct fixed points at the last
    orbit sample, ``o`` where a trajectory oscillates), ``final``
    (:func:`final_behaviour`), the last value of each of ``columns`` and,
    with ``expect``, ``verdict``."""
    from .orbit_analysis import WINDOW, loss_column, oscillates, read_bifurcations
    from .run_files import read_history
    history = read_history(folder, columns)
    drop, threshold = first_below(history, threshold)
    report = read_bifurcations(folder)
    last = report.summary[report.summary["sample"] == report.summary["sample"].max()]
    letters = final_behaviour(folder, search)
    row = {"final loss": float(history[loss_column(history)].iloc[-1]),
           "drop": drop, "birth": report.oscillation_birth,
           "bifurcations": " ".join(map(str, report.epochs[:top])),
           "last": "".join("o" if oscillates(r.regime) else str(min(r.distinct_fixed_points, 9))
                           for r in last.sort_values("input").itertuples()),
           "final": letters}
    row.update({c: float(history[c].iloc[-1]) for c in columns})
    if expect:
        interval = int(report.summary["epoch"].iloc[0])
        row["verdict"] = judge(expect, report, letters, drop, WINDOW * interval)
    return row


def run_one(spec, search, rerun, options):
    """Train (unless a finished run of the same command is there) and
    analyse one run, in a worker process; a failure becomes the row's error."""
    import torch
    torch.set_num_threads(1)
    reused, code, seconds = not rerun and is_done(spec), 0, 0.0
    if not reused:
        code, seconds = train(spec)
    row = {"setting": spec["setting"], "seed": spec["seed"]}
    if code != 0:
        with open(spec["folder"] + ".log", errors="replace") as log:
            last = ([line.strip() for line in log if line.strip()] or ["no output"])[-1]
        return {**row, "error": f"train.py failed (exit status {code}): {last[-200:]} "
                                f"(log: {spec['folder']}.log)"}
    try:
        row = {**row, **analyse(spec["folder"], search, **options)}
    except Exception as e:   # a run that trained but cannot be analysed is still a row
        from .options import first_line
        return {**row, "error": f"analysis failed: {first_line(e)}"}
    return {**row, "seconds": round(seconds, 1), "reused": reused}


def stop_trainings(specs):
    """SIGTERM to the train.py processes of ``specs`` still running: each
    stops after its epoch (a Ctrl-C in the terminal has reached them
    already, and a SIGTERM right after it asks nothing more)."""
    import signal
    for spec in specs:
        try:
            with open(spec["folder"] + ".pid") as f:
                os.kill(int(f.read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def run_all(specs, search, jobs, rerun=False, progress=print, **options):
    """Every spec, ``jobs`` at a time, each trained in its own process and
    analysed in a worker; rows in the order of ``specs``. Interrupted (a
    SIGINT to this process alone too), it stops the trainings, waits for the
    workers and raises KeyboardInterrupt."""
    rows = [None] * len(specs)
    context = multiprocessing.get_context("spawn")   # fresh workers: no torch state forked
    pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context)
    columns, done = list(options.get("columns") or ()), 0
    try:
        futures = {pool.submit(run_one, spec, search, rerun, options): k
                   for k, spec in enumerate(specs)}
        pending = set(futures)
        while pending:
            finished, pending = concurrent.futures.wait(
                pending, timeout=1, return_when=concurrent.futures.FIRST_COMPLETED)
            if columns:   # known after a run's first epoch, not hours later
                columns = check_columns(specs, columns)
            for future in finished:
                k, done = futures[future], done + 1
                rows[k] = future.result()
                progress(f"[{done}/{len(specs)}] {describe_row(rows[k])}")
    except BaseException:   # Ctrl-C, or a column history.csv does not have
        stop_trainings(specs)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return rows


def check_columns(specs, columns):
    """Refuse ``columns`` that the first history.csv of ``specs`` lacks;
    returns the columns still to check (none once one was read)."""
    from .options import UsageError
    for spec in specs:
        try:
            with open(os.path.join(spec["folder"], "history.csv")) as f:
                header = f.readline()
        except OSError:
            continue
        if not header.endswith("\n"):   # not written whole yet
            continue
        names = next(csv.reader([header]))
        missing = [c for c in columns if c not in names]
        if missing:
            raise UsageError(f"--column {missing[0]}: history.csv has no such column (it has "
                             f"{', '.join(n for n in names if n)})")
        return []
    return columns


def describe_row(row):
    """One line about a finished run, for progress."""
    head = f"{row['setting']} seed {row['seed']}"
    if "error" in row:
        return f"{head}: {row['error']}"
    when = "reused" if row.get("reused") else f"{row['seconds']:.0f} s"
    text = (f"{head} ({when}): final loss {row['final loss']:.3g}, drop {row['drop']}, "
            f"birth {row['birth']}, final {row['final']}")
    return text + (f", {row['verdict']}" if "verdict" in row else "")


def summary_lines(table, expect=None):
    """Per setting: the ranges over seeds of the final loss, drop and birth
    epochs, and how many runs show the expected phenomenon."""
    import pandas as pd
    lines = []
    for setting, rows in table.groupby("setting", sort=False):
        ok = rows[rows.get("error", pd.Series(index=rows.index, dtype=object)).isna()]
        parts = [f"{setting}: {len(ok)}/{len(rows)} runs finished"]
        if len(ok):
            parts.append(f"final loss {ok['final loss'].min():.3g}-{ok['final loss'].max():.3g}")
            for name in ("drop", "birth"):
                values = ok[name].dropna()
                parts.append(f"{name} {int(values.min())}-{int(values.max())}" if len(values)
                             else f"{name} none")
        if expect and "verdict" in ok:
            parts.append(f"{expect}: {(ok['verdict'] == 'yes').sum()}/{len(rows)}")
        lines.append(", ".join(parts))
    return lines
