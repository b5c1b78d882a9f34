"""What an orbit file says without the model: the kind of attractor each
recorded trajectory settled on (fixed point, period k, aperiodic) at every
sampled epoch, and the epochs where that picture changes, the candidate
bifurcations of training."""
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
