"""The loss history above the orbit diagram of a run, on one epoch axis, with
the epochs where the long-run behaviour changed and stayed changed (the
bifurcations) marked.

    python plot_training_dynamics.py RUN_FOLDER -o dynamics.png [-i 0 -j 0 -n 0]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (ALPHA, BIG, DPI, Integer, Number, OneLineParser, Text,
                                UsageError, check_path, input_folder, run_cli)
from attractors.rules import image_file
import argparse
import os

import matplotlib
matplotlib.use("Agg")

from attractors.orbit_analysis import PERSIST, bifurcation_report  # noqa: E402
from attractors.plotting import save_figure, training_dynamics  # noqa: E402
from attractors.run_files import ORBIT_FILE, RunFolderError, load_orbit_file, read_history  # noqa: E402

INDEX = Integer(0, BIG)


def build_parser():
    parser = OneLineParser(prog="plot_training_dynamics.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", type=input_folder(),
                        help="training output folder with an orbit file")
    parser.add_argument("-o", "--output", type=image_file(),
                        help="image file (default: FOLDER/training_dynamics.png)")
    parser.add_argument("-n", "--sequence_num", type=INDEX, default=0, help="initial state drawn")
    parser.add_argument("-i", "--input_num", type=INDEX, default=0, help="constant input drawn")
    parser.add_argument("-j", "--t_output_num", type=INDEX, default=0, help="output drawn")
    parser.add_argument("-b", "--burnout", type=INDEX, default=0, help="further steps dropped")
    parser.add_argument("--rtol", type=Number(0, 1, low_open=True), default=1e-3,
                        help="values closer than rtol times the spread of the file are equal")
    parser.add_argument("--persist", type=Integer(1, BIG), default=PERSIST,
                        help="samples a new behaviour must last to count as a bifurcation "
                             "(1: every change)")
    parser.add_argument("--no_marks", action="store_true", help="do not mark bifurcations")
    parser.add_argument("--alpha", type=ALPHA, default=0.3, help="opacity of orbit points")
    parser.add_argument("--title", type=Text(), default=None, help="figure title")
    parser.add_argument("--dpi", type=DPI, default=150, help="resolution of a saved PNG")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    output = args.output or os.path.join(args.folder, "training_dynamics.png")
    check_path(image_file(), output, "cannot save the figure")
    orbit = os.path.join(args.folder, ORBIT_FILE)
    try:
        history = read_history(args.folder, rows=True)
        if not os.path.exists(orbit):
            raise UsageError(f"{args.folder} has no {ORBIT_FILE}: train with --interval_orbit N "
                             "to record the orbit diagram")
        trajectory, interval = load_orbit_file(orbit)
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
    save_figure(fig, output, args.dpi)


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
