"""Figure i: the paper's central claim over seeds. Across 16 seeds of the
quick-start setting, trained as one population (train.py --population), the
epoch where the loss leaves its plateau against the epoch where the
oscillation is born (the bifurcation report's), and the fraction of seeds in
which the two coincide.

    python figures/fig_i_seed_study.py [--copies 16] [--first_seed 4] [--within 8]

Left: every seed's loss, a dot where its oscillation is born, a cross where
the loss leaves its plateau. Right: birth against drop, one point per seed,
the band |drop - birth| <= --within.
"""
import os

import numpy as np

from attractors.options import BIG, SEED, Integer, Number
from common import SINE, SINE_TINY, output, parse, parser, run_cli, train

FILE = "fig_i_seed_study.png"


def loss_drop(losses, smooth=9, fraction=0.8, plateau_epochs=50):
    """The epoch where the loss leaves its plateau for good (counted from 1,
    as the orbit samples' epochs): the one after the last epoch whose
    running median (over ``smooth`` epochs: single spikes do not count) is
    at or above ``fraction`` times the plateau, the median loss of the first
    ``plateau_epochs`` epochs; None when the run ends on the plateau.

    Not the steepest fall of the loss: the quick start's learning rate falls
    tenfold at epoch 300 (--milestones), and the loss with it, in every seed,
    whatever the network's dynamics."""
    import pandas as pd
    level = pd.Series(np.log(losses)).rolling(smooth, center=True, min_periods=1).median()
    above = np.flatnonzero(level.to_numpy() >= np.log(np.median(losses[:plateau_epochs])
                                                         * fraction))
    if len(above) and above[-1] == len(losses) - 1:
        return None
    return int(above[-1]) + 2 if len(above) else 1


def study(root, seeds, smooth=9, fraction=0.8):
    """``{seed: (losses, born, drop)}`` of the population in ``root``."""
    from attractors.orbit_analysis import oscillation_birth
    from attractors.run_files import read_history
    results = {}
    for seed in seeds:
        folder = os.path.join(root, f"seed-{seed}")
        losses = read_history(folder, ["loss"])["loss"].to_numpy()
        # the birth as the bifurcation report names it (analyse_attractors.py)
        results[seed] = (losses, oscillation_birth(folder), loss_drop(losses, smooth, fraction))
    return results


def draw(results, within, path, dpi, milestones=()):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from attractors.plotting import save_figure
    fig, (curves, scatter) = plt.subplots(1, 2, figsize=(11, 4.6))
    pairs = [(b, d) for _, b, d in results.values() if b is not None and d is not None]
    together = sum(abs(b - d) <= within for b, d in pairs)
    not_before = sum(d >= b - within for b, d in pairs)
    lag = float(np.median([d - b for b, d in pairs])) if pairs else float("nan")
    for losses, born, drop in results.values():
        line, = curves.semilogy(np.arange(1, len(losses) + 1), losses, lw=0.8, alpha=0.8)
        for epoch, marker in ((born, "o"), (drop, "x")):
            if epoch is not None:
                curves.plot(epoch, losses[min(epoch, len(losses)) - 1], marker,
                            color=line.get_color(), ms=5)
    for milestone in milestones:
        curves.axvline(milestone, color="0.6", ls="--", lw=0.8)
    curves.set(xlabel="epoch", ylabel="loss")
    curves.set_title("each seed's loss; o: oscillation born, x: loss leaves its plateau;\n"
                     "dashed: the learning rate falls tenfold", fontsize=9)
    top = max([len(r[0]) for r in results.values()])
    scatter.fill_between([0, top], [-within, top - within], [within, top + within],
                         color="0.85", label=f"|drop - birth| <= {within}")
    scatter.plot([0, top], [0, top], color="0.5", lw=0.8)
    if pairs:
        scatter.plot(*zip(*pairs), "o", color="C0", ms=5)
    scatter.set(xlim=(0, top), ylim=(0, top), xlabel="epoch where the oscillation is born",
                ylabel="epoch where the loss leaves its plateau",
                title=f"{together} of {len(results)} seeds coincide within {within} epochs; "
                      f"{not_before} do not drop before\nthe birth (median drop - birth: "
                      f"{lag:g} epochs)")
    missing = len(results) - len(pairs)
    if missing:
        scatter.text(0.02, 0.97, f"{missing} seed(s) without a birth or a drop", va="top",
                     transform=scatter.transAxes, fontsize=8)
    scatter.legend(loc="lower right", fontsize=8)
    scatter.title.set_fontsize(9)
    fig.suptitle("i. Seed study: does the loss drop when the oscillation is born?")
    fig.tight_layout()
    save_figure(fig, path, dpi)
    return together, not_before, lag


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--copies", type=Integer(1, 4096), default=None,
                   help="seeds (copies of the population) (default: 16, with --tiny 3)")
    p.add_argument("--first_seed", type=SEED, default=4, help="the first seed (4: the quick "
                   "start's)")
    p.add_argument("--within", type=Integer(0, BIG), default=8,
                   help="epochs within which the drop and the birth count as coinciding "
                        "(two orbit samples of the quick start)")
    p.add_argument("--smooth", type=Integer(1, BIG), default=9, help="epochs of the running "
                   "median that finds the loss drop")
    p.add_argument("--fraction", type=Number(0, 1, low_open=True, high_open=True), default=0.8,
                   help="the loss has left its plateau (the median of the first 50 epochs) "
                        "once it stays below this fraction of it")
    options = parse(p, argv)
    copies = options.copies or (3 if options.tiny else 16)
    seeds = list(range(options.first_seed, options.first_seed + copies))
    args = (SINE_TINY if options.tiny else SINE) + ["--seed", str(seeds[0]), "--population",
                                                    str(copies)]
    root = train("sine-generator", args, os.path.join(options.runs, "seed_study"))
    results = study(root, seeds, options.smooth, options.fraction)
    for seed, (losses, born, drop) in results.items():
        print(f"seed {seed}: oscillation born at epoch {born}, loss leaves its plateau at "
              f"epoch {drop}, final loss {losses[-1]:.4g}")
    milestones = [] if options.tiny else [int(SINE[SINE.index("--milestones") + 1])]
    together, not_before, lag = draw(results, options.within, output(options, FILE),
                                     options.dpi, milestones)
    print(f"{together} of {len(seeds)} seeds ({100 * together / len(seeds):.0f}%): the loss "
          f"leaves its plateau within {options.within} epochs of the oscillation's birth; in "
          f"{not_before} it does not leave it more than {options.within} epochs before the "
          f"birth; median drop - birth {lag:g} epochs")


if __name__ == "__main__":
    run_cli(main)
