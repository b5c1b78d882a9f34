"""What an orbit file says without the model: the kind of attractor each
recorded trajectory settled on (fixed point, period k, aperiodic) at every
sampled epoch, the epochs where that picture changes (every change from one
sample to the next, the raw candidates), and the bifurcations of training:
the changes that persist, grouped across inputs, strongest first
(:func:`bifurcation_report`, :func:`read_bifurcations`)."""
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIXED, PERIODIC, APERIODIC = "fixed point", "periodic", "aperiodic"


def tolerance(trajectory, rtol=1e-3, atol=1e-6):
    """Absolute tolerance used to call two recorded values equal: a fraction
    of the spread of the whole file (per output), plus a floor."""
    finite = np.isfinite(trajectory)
    high = np.where(finite, trajectory, -np.inf).max(axis=(0, 1, 2, 4))
    low = np.where(finite, trajectory, np.inf).min(axis=(0, 1, 2, 4))
    spread = np.where(np.isfinite(high - low), high - low, 0.0)
    return rtol * spread + atol


def periods(states, tol, max_period=None):
    """The period of every trajectory of ``states`` ``(T, *batch, D)``: an
    int array ``*batch``, 1 for a fixed point, k for a period-k orbit (the
    smallest k with ``x[t + k] == x[t]`` within ``tol``, a number or one
    per coordinate, over all T steps), 0 for aperiodic, not yet settled or
    not finite. ``max_period`` defaults to T // 3, so a period repeats at
    least twice. A discretely sampled limit cycle whose period is not a
    whole number of steps is quasi-periodic, hence aperiodic here; the
    Lyapunov exponent tells it from chaos."""
    steps = states.shape[0]
    max_period = min(max_period or max(1, steps // 3), steps - 1)
    found = np.zeros(states.shape[1:-1], dtype=int)
    finite = np.isfinite(states).all(axis=(0, -1))
    for k in range(1, max_period + 1):
        todo = (found == 0) & finite
        if not todo.any():
            break
        repeats = (np.abs(states[k:] - states[:-k]) <= tol).all(axis=(0, -1))
        found[todo & repeats] = k
    return found


def classify(trajectory, rtol=1e-3, atol=1e-6, max_period=None):
    """Period of every trajectory of an orbit file (see :func:`periods`):
    an int array ``(n_seq, n_inputs, n_samples)``; two values are equal
    within :func:`tolerance` of their output."""
    by_output_last = np.moveaxis(trajectory, 3, -1)  # (steps, n_seq, n_in, n_samples, n_out)
    return periods(by_output_last, tolerance(trajectory, rtol, atol), max_period)


def count_distinct(points, tol):
    """Number of distinct points (rows) when points closer than ``tol`` in
    every coordinate are the same."""
    reps = []
    for p in points:
        if not any((np.abs(p - r) <= tol).all() for r in reps):
            reps.append(p)
    return len(reps)


# Longer periods are a sampled cycle whose period happens to be near a whole
# number of steps: the same long-run behaviour as a quasi-periodic one.
SHORT_PERIOD = 8


def regime(n_fixed, periods, aperiodic):
    """The key of a long-run behaviour: ``n_fixed`` distinct fixed points,
    the ``periods`` up to SHORT_PERIOD, and ``A`` where a trajectory is
    aperiodic or of a longer period (it oscillates), e.g. ``1F|2P|A``."""
    short = [p for p in periods if p <= SHORT_PERIOD]
    oscillating = aperiodic or len(short) < len(periods)
    return f"{n_fixed}F|{'/'.join(map(str, short))}P|{'A' if oscillating else ''}"


def summarise(trajectory, interval, rtol=1e-3, atol=1e-6, max_period=None):
    """One row per (sample, input): the epoch, how many initial states end on a
    fixed point / a periodic orbit / something aperiodic, the periods seen,
    the number of distinct fixed points, and a ``signature`` that changes
    exactly when that picture changes."""
    found = classify(trajectory, rtol, atol, max_period)
    tol = tolerance(trajectory, rtol, atol)
    n_seq, n_in, n_samples = found.shape
    rows = []
    for k in range(n_samples):
        for i in range(n_in):
            p = found[:, i, k]
            fixed_points = trajectory[-1, p == 1, i, :, k]
            n_distinct = count_distinct(fixed_points, 10 * tol) if len(fixed_points) else 0
            seen = sorted({int(v) for v in p if v > 1})
            rows.append({
                "epoch": (k + 1) * interval, "sample": k, "input": i,
                "fixed": int((p == 1).sum()), "periodic": int((p > 1).sum()),
                "aperiodic": int((p == 0).sum()), "periods": " ".join(map(str, seen)),
                "distinct_fixed_points": n_distinct,
                "signature": f"{n_distinct}F|{'/'.join(map(str, seen))}P|{int((p == 0).sum())}A",
                # the signature without the count of aperiodic trajectories
                "regime": regime(n_distinct, seen, (p == 0).any()),
            })
    return pd.DataFrame(rows)


def bifurcation_epochs(summary):
    """Rows where an input's signature differs from its previous sample:
    the epoch, the input and the change (``before -> after``)."""
    changes = []
    for i, rows in summary.sort_values("sample").groupby("input"):
        previous = None
        for row in rows.itertuples():
            if previous is not None and row.signature != previous.signature:
                changes.append({"epoch": row.epoch, "input": i,
                                "change": f"{describe(previous)} -> {describe(row)}"})
            previous = row
    return pd.DataFrame(changes, columns=["epoch", "input", "change"]).sort_values(
        ["epoch", "input"], ignore_index=True)


def describe(row):
    """Words for one summary row, e.g. '2 fixed points' or 'period 7, aperiodic x3'."""
    parts = []
    if row.fixed:
        n = row.distinct_fixed_points
        parts.append(f"{n} fixed point{'s' if n != 1 else ''}")
    if row.periodic:
        parts.append(f"period {row.periods}")
    if row.aperiodic:
        parts.append(f"aperiodic x{row.aperiodic}")
    return ", ".join(parts) or "nothing"


# ------------------------------------------------------------------ bifurcations
BORN, LOST = "oscillation born", "oscillation lost"
FIXED_POINTS, OTHER = "fixed points changed", "attractors changed"
PERSIST, WINDOW = 3, 5


def oscillates(key):
    """Whether a regime ``key`` has trajectories that do not settle on a
    fixed point (a period k > 1 or aperiodic)."""
    _, periods, aperiodic = key.split("|")
    return periods != "P" or aperiodic == "A"


def describe_regime(key):
    """Words for a regime ``key``, e.g. '1 fixed point', 'period 2/4' or
    '1 fixed point + oscillating' (aperiodic or a period above SHORT_PERIOD)."""
    fixed, periods, aperiodic = key.split("|")
    n = int(fixed[:-1])
    parts = [f"{n} fixed point{'s' if n != 1 else ''}"] if n else []
    parts += [f"period {periods[:-1]}"] if periods != "P" else []
    parts += ["oscillating"] if aperiodic else []
    return " + ".join(parts) or "nothing"


def change_kind(before, after):
    """``oscillation born`` (no trajectory oscillated, some do), ``oscillation
    lost``, ``fixed points changed`` (none oscillates either side) or
    ``attractors changed`` (some oscillate either side)."""
    old, new = oscillates(before), oscillates(after)
    if old != new:
        return BORN if new else LOST
    return OTHER if new else FIXED_POINTS


def _runs(values):
    """``(value, start, length)`` of every run of equal consecutive values."""
    runs, start = [], 0
    for k in range(1, len(values) + 1):
        if k == len(values) or values[k] != values[start]:
            runs.append((values[start], start, k - start))
            start = k
    return runs


def persistent_changes(summary, persist=PERSIST):
    """The changes of long-run behaviour that persist, per input.

    An input's ``regime`` (see :func:`summarise`) is *settled* where it
    stays the same for at least ``persist`` consecutive samples; a change is
    where one settled regime is followed by another, whatever flips back and
    forth in between (a trajectory not settled yet, training crossing a
    bifurcation and back). Columns: ``epoch`` (the first sample of the new
    settled regime), ``first_seen`` (the first sample after the old one
    ended that already showed the new one), ``input``, ``before`` and
    ``after`` (regimes), ``change`` (in words), ``kind`` (see
    :func:`change_kind`) and ``samples``, how many samples the new regime
    lasted (to the next change or the end of the file)."""
    rows = []
    for i, table in summary.sort_values("sample").groupby("input"):
        regimes, epochs = table["regime"].tolist(), table["epoch"].tolist()
        settled = [run for run in _runs(regimes) if run[2] >= persist]
        found = []
        for (old, old_start, old_length), (new, start, _) in zip(settled, settled[1:]):
            if new != old:
                seen = next(k for k in range(old_start + old_length, start + 1)
                            if regimes[k] == new)
                found.append([epochs[start], epochs[seen], i, old, new, start])
        for k, row in enumerate(found):
            end = found[k + 1][5] if k + 1 < len(found) else len(regimes)
            old, new = row[3], row[4]
            rows.append({"epoch": row[0], "first_seen": row[1], "input": i, "before": old,
                         "after": new,
                         "change": f"{describe_regime(old)} -> {describe_regime(new)}",
                         "kind": change_kind(old, new), "samples": end - row[5]})
    columns = ["epoch", "first_seen", "input", "before", "after", "change", "kind", "samples"]
    return pd.DataFrame(rows, columns=columns).sort_values(["epoch", "input"], ignore_index=True)


def loss_column(history):
    """The first column of a history whose name holds 'loss' (the training
    loss of every task), or None."""
    return next((c for c in history.columns if "loss" in str(c).lower()), None)


def _median_loss(history, low, high):
    """Median training loss over the epochs trained ``low`` to ``high``."""
    column = loss_column(history)
    trained = history[history.columns[0]] + 1
    values = history.loc[(trained >= low) & (trained <= high), column]
    return float(values.median()) if len(values) else float("nan")


def group_changes(changes, n_inputs, interval, window=WINDOW, history=None):
    """The persistent changes of all inputs grouped by epoch, strongest first.

    Sorted by epoch, a change joins the group of its kind (an oscillation
    born, lost, ...) whose last change is at most ``window`` samples before
    it, so that one bifurcation reached by the inputs one after another is
    one group. Columns: ``epoch`` (the median of its changes' epochs, the
    lower one of two), ``first``, ``last``, ``inputs`` (how many inputs
    changed) of ``n_inputs``, ``kind`` and ``change`` (the most common among
    its changes; ``(k of n)`` when they differ), ``input_list``; with a
    ``history``, ``loss_before`` and ``loss_after``: the median training
    loss over ``window`` samples' epochs before the group's first change
    and after its last. The strongest group changes the most inputs; ties
    go to the earlier one."""
    groups, span = [], window * interval
    for _, row in changes.sort_values(["epoch", "input"]).iterrows():
        same = [g for g in groups if g[-1].kind == row.kind and row.epoch - g[-1].epoch <= span]
        if same:
            same[-1].append(row)
        else:
            groups.append([row])
    rows = []
    for members in groups:
        table = pd.DataFrame(members)
        epochs = sorted(table["epoch"])
        kind = table["kind"].value_counts().index[0]
        words = table.loc[table["kind"] == kind, "change"].value_counts()
        change = words.index[0] + (f" ({words.iloc[0]} of {len(table)})"
                                   if words.iloc[0] < len(table) else "")
        row = {"epoch": int(epochs[(len(epochs) - 1) // 2]), "first": int(epochs[0]),
               "last": int(epochs[-1]), "inputs": table["input"].nunique(), "of": n_inputs,
               "kind": kind, "change": change,
               "input_list": " ".join(map(str, sorted(table["input"].unique())))}
        if history is not None and loss_column(history) is not None:
            row["loss_before"] = _median_loss(history, epochs[0] - interval - span,
                                              epochs[0] - interval)
            row["loss_after"] = _median_loss(history, epochs[-1], epochs[-1] + span)
        rows.append(row)
    columns = ["epoch", "first", "last", "inputs", "of", "kind", "change", "input_list"]
    if history is not None and loss_column(history) is not None:
        columns += ["loss_before", "loss_after"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["inputs", "epoch"], ascending=[False, True], ignore_index=True)


@dataclass
class BifurcationReport:
    """What :func:`bifurcation_report` finds in an orbit file: ``summary``
    (per sample and input, :func:`summarise`), ``changes`` (every change of
    signature from one sample to the next, :func:`bifurcation_epochs`),
    ``persistent`` (:func:`persistent_changes`) and ``groups``
    (:func:`group_changes`, strongest first: the bifurcations)."""
    summary: pd.DataFrame
    changes: pd.DataFrame
    persistent: pd.DataFrame
    groups: pd.DataFrame

    @property
    def epochs(self):
        """The bifurcation epochs, strongest first."""
        return [int(e) for e in self.groups["epoch"]]

    @property
    def oscillation_birth(self):
        """The epoch where the oscillation the network keeps is born, or None.

        Among the groups that change at least half of the inputs, the last
        ``oscillation born`` that no ``oscillation lost`` follows; failing
        that (the oscillation was lost again), the strongest birth."""
        groups = self.groups.sort_values("epoch")
        major = groups[2 * groups["inputs"] >= groups["of"]]
        for row in major[::-1].itertuples():
            if row.kind == LOST:
                break
            if row.kind == BORN:
                return int(row.epoch)
        born = self.groups[self.groups["kind"] == BORN]
        return int(born["epoch"].iloc[0]) if len(born) else None

    def input_epochs(self, i):
        """The epochs of input ``i``'s persistent changes, in order."""
        return [int(e) for e in self.persistent.loc[self.persistent["input"] == i, "epoch"]]


def bifurcation_report(trajectory, interval, history=None, rtol=1e-3, atol=1e-6,
                       max_period=None, persist=PERSIST, window=WINDOW):
    """The bifurcations of a training run from its orbit samples
    ``trajectory`` ``(steps, n_seq, n_inputs, n_outputs, n_samples)``
    taken every ``interval`` epochs (and its loss ``history``, optional): a
    :class:`BifurcationReport`. ``rtol``, ``atol``, ``max_period``: see
    :func:`summarise`; ``persist``: samples a regime must last to count
    (1 counts every change); ``window``: samples within which the changes
    of different inputs form one group."""
    summary = summarise(trajectory, interval, rtol, atol, max_period)
    persistent = persistent_changes(summary, persist)
    return BifurcationReport(summary, bifurcation_epochs(summary), persistent,
                             group_changes(persistent, trajectory.shape[2], interval, window,
                                           history))


def read_bifurcations(folder, **options):
    """:func:`bifurcation_report` of the run in ``folder`` (its orbit file,
    and its ``history.csv`` when there is one); ``options`` as there. A
    missing or unreadable orbit file raises
    :class:`attractors.run_files.OrbitFileError` (one line)."""
    from .run_files import HISTORY_FILE, ORBIT_FILE, load_orbit_file, read_history
    trajectory, interval = load_orbit_file(os.path.join(folder, ORBIT_FILE))
    history = read_history(folder) if os.path.isfile(os.path.join(folder, HISTORY_FILE)) else None
    return bifurcation_report(trajectory, interval, history, **options)


def oscillation_birth(folder, **options):
    """The epoch where an oscillation is born in the run in ``folder`` (see
    :attr:`BifurcationReport.oscillation_birth`), or None."""
    return read_bifurcations(folder, **options).oscillation_birth


def format_groups(groups, limit=None):
    """The bifurcation groups as a printable table (the first ``limit``)."""
    if groups.empty:
        return "(none)"
    table = groups.head(limit).copy()
    table["inputs"] = [f"{n}/{m}" for n, m in zip(table["inputs"], table["of"])]
    table["epochs"] = [str(a) if a == b else f"{a}-{b}"
                       for a, b in zip(table["first"], table["last"])]
    columns = ["epoch", "epochs", "inputs", "kind", "change"]
    if "loss_before" in table:
        table["loss"] = [f"{a:.3g} -> {b:.3g}" for a, b in
                         zip(table["loss_before"], table["loss_after"])]
        columns.append("loss")
    return table[columns].to_string(index=False)
