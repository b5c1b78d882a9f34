"""Figure i: the paper's central claim over seeds. Across 16 seeds of the
quick-start setting, trained as one population (train.py --population), the
epoch where the loss drops against the epoch where the oscillation is born,
and the fraction of seeds in which the two coincide.

    python figures/fig_i_seed_study.py [--copies 16] [--first_seed 2] [--within 8]

Left: every seed's loss, a dot where its oscillation is born. Right: birth
against drop, one point per seed, the band |drop - birth| <= --within.
"""
import os

import numpy as np

from common import SINE, SINE_TINY, output, parse, parser, train

FILE = "fig_i_seed_study.png"


def oscillation_born(trajectory, interval):
    """The epoch where the oscillation is born, from an orbit file: the
    first sample from which on (to the last) most trajectories are no longer
    fixed points; None if the last sample still has mostly fixed points.

    The one place that reads the bifurcation report: it uses
    ``attractors.orbit_analysis.summarise`` (which trajectories of each
    sample end on a fixed point)."""
    from attractors.orbit_analysis import summarise
    summary = summarise(trajectory, interval)
    per_sample = summary.groupby("sample").agg(epoch=("epoch", "first"), fixed=("fixed", "sum"),
                                               total=("fixed", "size"))
    n_traj = trajectory.shape[1] * trajectory.shape[2]   # initial states x inputs
    moving = (per_sample["fixed"] < n_traj / 2).to_numpy()
    if not moving[-1]:
        return None
    settled = np.flatnonzero(~moving)
    first = settled[-1] + 1 if len(settled) else 0
    return int(per_sample["epoch"].iloc[first])


def loss_drop(losses, smooth=9):
    """The epoch where the loss drops (counted from 1, as the orbit
    samples' epochs): the first whose running median (over ``smooth``
    epochs: single spikes, up or down, do not count) is below the geometric
    mean of the first epoch's loss and the lowest running median; None when
    that lowest is not below half the first loss (no drop)."""
    import pandas as pd
    level = pd.Series(np.log(losses)).rolling(smooth, center=True, min_periods=1).median()
    first, low = np.log(losses[0]), level.min()
    if not low < first - np.log(2):
        return None
    return int(np.flatnonzero(level.to_numpy() < (first + low) / 2)[0]) + 1


def study(root, seeds, smooth=9):
    """``{seed: (losses, born, drop)}`` of the population in ``root``."""
    from attractors.run_files import ORBIT_FILE, load_orbit_file, read_history
    results = {}
    for seed in seeds:
        folder = os.path.join(root, f"seed-{seed}")
        losses = read_history(folder, ["loss"])["loss"].to_numpy()
        trajectory, interval = load_orbit_file(os.path.join(folder, ORBIT_FILE))
        results[seed] = (losses, oscillation_born(trajectory, interval),
                         loss_drop(losses, smooth))
    return results


def draw(results, within, path, dpi):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from attractors.plotting import save_figure
    fig, (curves, scatter) = plt.subplots(1, 2, figsize=(11, 4.3))
    pairs = [(b, d) for _, b, d in results.values() if b is not None and d is not None]
    together = sum(abs(b - d) <= within for b, d in pairs)
    for losses, born, drop in results.values():
        line, = curves.semilogy(np.arange(1, len(losses) + 1), losses, lw=0.8, alpha=0.8)
        for epoch, marker in ((born, "o"), (drop, "x")):
            if epoch is not None:
                curves.plot(epoch, losses[min(epoch, len(losses)) - 1], marker,
                            color=line.get_color(), ms=5)
    curves.set(xlabel="epoch", ylabel="loss",
               title="each seed's loss; o: oscillation born, x: loss drops")
    top = max([len(r[0]) for r in results.values()])
    scatter.fill_between([0, top], [-within, top - within], [within, top + within],
                         color="0.85", label=f"|drop - birth| <= {within}")
    scatter.plot([0, top], [0, top], color="0.5", lw=0.8)
    if pairs:
        scatter.plot(*zip(*pairs), "o", color="C0", ms=5)
    scatter.set(xlim=(0, top), ylim=(0, top), xlabel="epoch where the oscillation is born",
                ylabel="epoch where the loss drops",
                title=f"{together} of {len(results)} seeds coincide within {within} epochs")
    missing = len(results) - len(pairs)
    if missing:
        scatter.text(0.02, 0.97, f"{missing} seed(s) without a birth or a drop", va="top",
                     transform=scatter.transAxes, fontsize=8)
    scatter.legend(loc="lower right", fontsize=8)
    fig.suptitle("i. Seed study: does the loss drop when the oscillation is born?")
    save_figure(fig, path, dpi)
    return together


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=16, help="seeds (copies of the population)")
    p.add_argument("--first_seed", type=int, default=2, help="the first seed (2: the quick "
                   "start's)")
    p.add_argument("--within", type=int, default=8, help="epochs within which the drop and "
                   "the birth count as coinciding (two orbit samples of the quick start)")
    p.add_argument("--smooth", type=int, default=9, help="epochs of the running median "
                   "that finds the loss drop")
    options = parse(p, argv)
    copies = 3 if options.tiny else options.copies
    seeds = list(range(options.first_seed, options.first_seed + copies))
    args = (SINE_TINY if options.tiny else SINE) + ["--seed", str(seeds[0]), "--population",
                                                    str(copies)]
    root = train("sine-generator", args, os.path.join(options.runs, "seed_study"))
    results = study(root, seeds, options.smooth)
    for seed, (losses, born, drop) in results.items():
        print(f"seed {seed}: oscillation born at epoch {born}, loss drops at epoch {drop}, "
              f"final loss {losses[-1]:.4g}")
    together = draw(results, options.within, output(options, FILE), options.dpi)
    print(f"{together} of {len(seeds)} seeds ({100 * together / len(seeds):.0f}%): the loss "
          f"drops within {options.within} epochs of the oscillation's birth")


if __name__ == "__main__":
    main()
