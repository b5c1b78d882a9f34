"""The status table of a sweep: one row per run with its settings, state,
epochs and losses; printed, written to summary.csv, and plotted. What
``--status`` and the end of a sweep show."""
import math
import os
import sys

from ..options import UsageError
from ..atomic import atomic_write
from .files import LOG, PLOT, SUMMARY
from .jobfiles import prune
from .manifest import read_manifest, refresh_states, save_manifest
from .state import STATES


def _pick(columns, word):
    """The history column of ``word`` (loss, acc): validation first."""
    lower = {c: c.lower() for c in columns}
    for c in columns:
        if word in lower[c] and "valid" in lower[c]:
            return c
    return next((c for c in columns if word in lower[c]), None)


def sort_key(value):
    """Numbers in order, before the other values in order."""
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
                       key=lambda i: [sort_key(rows[i][k]) for k in keys] + [rows[i]["run"]])
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
    return atomic_write(os.path.join(out, SUMMARY), lambda f: table.to_csv(f, index=False))


def finish(sweep, manifest, args):
    """Record the states, print the table, write summary.csv (and the plot);
    exit status 0 when every run of this command is done, else 1."""
    refresh_states(sweep.out, manifest)
    save_manifest(sweep.out, manifest)
    prune(sweep.out, manifest)
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
    """``sweep.py --status DIR [--plot [-o FILE]]``."""
    if not out:
        raise UsageError("--status needs the folder of a sweep: --status DIR")
    manifest = read_manifest(out)
    refresh_states(out, manifest)
    table = status_table(out, manifest)
    if plot:
        plot_sweep(table, output or os.path.join(out, PLOT))   # fails before writing anything
    save_manifest(out, manifest)
    prune(out, manifest)
    write_summary(out, table)
    print(f"sweep of {manifest['task']}/train.py in {out}")
    print(format_table(table))
    if plot:
        print(f"saved {output or os.path.join(out, PLOT)}")
    # As a sweep's own exit: 0 when every run is done (or, in Slurm, queued
    # or running there), else 1.
    entries = manifest["runs"].values()
    left = [e for e in entries if e.get("state") != "done" and not (
        e.get("state") in ("queued", "running")
        and isinstance(e.get("job"), dict) and e["job"].get("executor") == "slurm")]
    if left:
        print(f"sweep.py: {len(left)} of {len(entries)} runs are not done (see the table)",
              file=sys.stderr)
        return 1
    return 0


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
        raise UsageError("nothing to plot: no run is done yet")
    keys = [k for k in table.columns[:list(table.columns).index("state")] if k != "seed"]
    varying = [k for k in keys if done[k].nunique() > 1]
    combos = done.groupby(keys, sort=False) if keys else [((), done)]
    panels = [k for k in varying if _lines(done, k, keys)]
    full = len(list(combos)) == math.prod(done[k].nunique() for k in keys)
    show_all = not panels or not full
    n = len(panels) + show_all
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4.2), squeeze=False)
    for ax, key in zip(axes[0], panels):
        lines = _lines(done, key, keys)
        values = sorted({v for _, g in lines for v in g[key]}, key=sort_key)
        numeric = all(sort_key(v)[0] == 0 for v in values)
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
    return stats.loc[sorted(stats.index, key=sort_key)]
