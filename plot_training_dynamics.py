"""The loss history above the orbit diagram of a run, on one epoch axis, with
the epochs where the attractors changed (candidate bifurcations) marked.

    python plot_training_dynamics.py RUN_FOLDER -o dynamics.png [-i 0 -j 0 -n 0]
"""
import argparse
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attractors.orbit import ORBIT_FILE  # noqa: E402
from attractors.orbit_analysis import bifurcation_epochs, summarise  # noqa: E402
from attractors.plotting import OrbitFileError, load_orbit, plot_orbit, save_figure  # noqa: E402
from attractors.runs import RunFolderError, read_history  # noqa: E402


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", help="training output folder with an orbit file")
    parser.add_argument("-o", "--output", help="image file (default: FOLDER/training_dynamics.png)")
    parser.add_argument("-n", "--sequence_num", type=int, default=0, help="initial state drawn")
    parser.add_argument("-i", "--input_num", type=int, default=0, help="constant input drawn")
    parser.add_argument("-j", "--t_output_num", type=int, default=0, help="output drawn")
    parser.add_argument("-b", "--burnout", type=int, default=0, help="further steps dropped")
    parser.add_argument("--rtol", type=float, default=1e-3,
                        help="values closer than rtol times the spread of the file are equal")
    parser.add_argument("--no_marks", action="store_true", help="do not mark bifurcations")
    parser.add_argument("--alpha", type=float, default=0.3, help="opacity of orbit points")
    parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument("--dpi", type=int, default=150, help="resolution of a saved PNG")
    return parser


def loss_columns(history):
    return [c for c in history.columns if "loss" in c.lower()]


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        history = read_history(args.folder)
        trajectory, frequency = load_orbit(os.path.join(args.folder, ORBIT_FILE))
    except (RunFolderError, OrbitFileError) as e:
        sys.exit(f"plot_training_dynamics.py: error: {e}")
    epoch_column = history.columns[0]  # 'epoch' or 'Epoch'
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 6),
                                      gridspec_kw={"height_ratios": [1, 2]})
    for column in loss_columns(history):
        top.semilogy(history[epoch_column] + 1, history[column], label=column)
    top.set_ylabel("loss")
    top.legend(loc="upper right", fontsize="small")
    try:
        plot_orbit(bottom, trajectory, frequency, "orbit1d", n=args.sequence_num,
                   i=args.input_num, j=args.t_output_num, burnout=args.burnout, alpha=args.alpha)
    except IndexError as e:
        sys.exit(f"plot_training_dynamics.py: error: {e}")
    bottom.set_xlabel("epochs trained")
    if not args.no_marks:
        changes = bifurcation_epochs(summarise(trajectory, frequency, rtol=args.rtol))
        epochs = changes.loc[changes["input"] == args.input_num % trajectory.shape[2], "epoch"]
        for ax in (top, bottom):
            for epoch in epochs:
                ax.axvline(epoch, color="k", lw=0.6, ls="--", alpha=0.5)
        print(f"{len(epochs)} candidate bifurcation(s) for input {args.input_num}: "
              + ", ".join(map(str, epochs)))
    if args.title:
        top.set_title(args.title)
    fig.tight_layout()
    save_figure(fig, args.output or os.path.join(args.folder, "training_dynamics.png"), args.dpi)


if __name__ == "__main__":
    main()
