"""The loss history above the orbit diagram of a run, on one epoch axis, with
the epochs where the long-run behaviour changed and stayed changed (the
bifurcations) marked.

    python plot_training_dynamics.py RUN_FOLDER -o dynamics.png [-i 0 -j 0 -n 0]
"""
import argparse
import os

import matplotlib
matplotlib.use("Agg")

from attractors.options import (ALPHA, DPI, POSITIVE_FLOAT, POSITIVE_INT,  # noqa: E402
                                OneLineParser, UsageError, check_output_file, run_cli)
from attractors.orbit_analysis import PERSIST, bifurcation_report  # noqa: E402
from attractors.plotting import save_figure, training_dynamics  # noqa: E402
from attractors.run_files import ORBIT_FILE, RunFolderError, load_orbit_file, read_history  # noqa: E402


def build_parser():
    parser = OneLineParser(prog="plot_training_dynamics.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", help="training output folder with an orbit file")
    parser.add_argument("-o", "--output", help="image file (default: FOLDER/training_dynamics.png)")
    parser.add_argument("-n", "--sequence_num", type=int, default=0, help="initial state drawn")
    parser.add_argument("-i", "--input_num", type=int, default=0, help="constant input drawn")
    parser.add_argument("-j", "--t_output_num", type=int, default=0, help="output drawn")
    parser.add_argument("-b", "--burnout", type=int, default=0, help="further steps dropped")
    parser.add_argument("--rtol", type=POSITIVE_FLOAT, default=1e-3,
                        help="values closer than rtol times the spread of the file are equal")
    parser.add_argument("--persist", type=POSITIVE_INT, default=PERSIST,
                        help="samples a new behaviour must last to count as a bifurcation "
                             "(1: every change)")
    parser.add_argument("--no_marks", action="store_true", help="do not mark bifurcations")
    parser.add_argument("--alpha", type=ALPHA, default=0.3, help="opacity of orbit points")
    parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument("--dpi", type=DPI, default=150, help="resolution of a saved PNG")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_output_file(args.output)
    try:
        history = read_history(args.folder)
        trajectory, interval = load_orbit_file(os.path.join(args.folder, ORBIT_FILE))
        report = bifurcation_report(trajectory, interval, rtol=args.rtol, persist=args.persist)
        fig, epochs = training_dynamics(history, trajectory, interval, n=args.sequence_num,
                                        i=args.input_num, j=args.t_output_num,
                                        burnout=args.burnout, alpha=args.alpha,
                                        marks=not args.no_marks, title=args.title,
                                        report=report)
    except (RunFolderError, IndexError) as e:
        raise UsageError(str(e)) from None
    if not args.no_marks:
        print(describe_input(report, args.input_num % trajectory.shape[2], args.persist))
    save_figure(fig, args.output or os.path.join(args.folder, "training_dynamics.png"), args.dpi)


def describe_input(report, i, persist):
    """The bifurcations of input ``i``, one line each."""
    changes = report.persistent[report.persistent["input"] == i]
    raw = (report.changes["input"] == i).sum()
    lines = [f"{len(changes)} bifurcation(s) for input {i} (new behaviour that lasted at least "
             f"{persist} sample(s); {raw} changes from one sample to the next):"]
    lines += [f"  epoch {row.epoch}: {row.change}" for row in changes.itertuples()]
    return "\n".join(lines)

if __name__ == "__main__":
    run_cli(main)
