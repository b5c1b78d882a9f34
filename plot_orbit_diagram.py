"""Draw a bifurcation (orbit) diagram from an orbit file written during training.

    python plot_orbit_diagram.py RUN/orbit_per_epoch_diagram.pth -t orbit2d -o orbit.png
"""
import argparse
import os

from attractors.options import (ALPHA, DPI, CommandError, OneLineParser, UsageError,
                                check_output_file, run_cli)
from attractors.plotting import ORBIT_TYPES, plot_orbit, use_headless_backend_if_needed
from attractors.run_files import RunFolderError, load_orbit_file


def build_parser():
    parser = OneLineParser(
        prog="plot_orbit_diagram.py", description="Draw a bifurcation (orbit) diagram from the points saved during "
                    "training with --interval_orbit.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("path", metavar="PATH", help="orbit file (orbit_per_epoch_diagram.pth)")
    parser.add_argument("-t", "--type", choices=ORBIT_TYPES, default="orbit1d",
                        help="orbit1d: value against epoch; orbit2d: epoch, x[t] and "
                             "x[t+1]-x[t] in 3-D; transient: x against t at one sample")
    parser.add_argument("-n", "--sequence_num", metavar="N", type=int, default=0,
                        help="which random initial state")
    parser.add_argument("-i", "--input_num", metavar="I", type=int, default=0,
                        help="which constant input")
    parser.add_argument("-j", "--t_output_num", metavar="J", type=int, default=0,
                        help="which recorded output")
    parser.add_argument("-ie", "--initial_epoch", metavar="K", type=int, default=0,
                        help="first sample drawn (index into the samples)")
    parser.add_argument("-fe", "--final_epoch", metavar="K", type=int, default=-1,
                        help="samples drawn end before this index, as in the original "
                             "plotter (past the end: the end; negative: through the last "
                             "sample); -t transient shows the last sample drawn")
    parser.add_argument("-b", "--burnout", metavar="B", type=int, default=0,
                        help="further time steps to drop from each trajectory")
    parser.add_argument("-o", "--output", metavar="FILE", default=None,
                        help="save the figure to FILE (.png, .pdf, .svg) instead of "
                             "opening a window")
    parser.add_argument("--dpi", type=DPI, default=150, help="resolution of a saved PNG")
    parser.add_argument("--alpha", type=ALPHA, default=0.15,
                        help="opacity of each point (raise it for sparse diagrams)")
    parser.add_argument("--title", default=None, help="title drawn above the diagram")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_output_file(args.output)
    use_headless_backend_if_needed(args.output)
    import matplotlib.pyplot as plt
    try:
        trajectory, interval = load_orbit_file(args.path)
        fig = plt.figure(figsize=(6, 6))
        ax = fig.add_subplot(111, projection="3d" if args.type == "orbit2d" else None)
        plot_orbit(ax, trajectory, interval, args.type, n=args.sequence_num,
                   i=args.input_num, j=args.t_output_num, initial=args.initial_epoch,
                   final=args.final_epoch, burnout=args.burnout, alpha=args.alpha)
        if args.title:
            ax.set_title(args.title)
    except (RunFolderError, IndexError) as e:
        raise UsageError(str(e)) from None
    fig.tight_layout()
    if args.output:
        try:
            fig.savefig(args.output, dpi=args.dpi)
        except (OSError, ValueError) as e:
            raise CommandError(f"cannot save {args.output}: {e}") from None
        print(f"Saved {args.output}")
        plt.close(fig)
    elif plt.get_backend().lower() == "agg":
        # No screen to show it on: save beside the orbit file rather than fail.
        output = os.path.join(os.path.dirname(os.path.abspath(args.path)),
                              f"orbit_diagram_{args.type}.png")
        fig.savefig(output, dpi=args.dpi)
        print(f"No display: saved {output} (use -o FILE to choose the name)")
    else:
        plt.show()


if __name__ == "__main__":
    run_cli(main)
