"""Draw a bifurcation (orbit) diagram from an orbit file written during training.

    python plot_orbit_diagram.py RUN/orbit_per_epoch_diagram.pth -t orbit2d -o orbit.png
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (ALPHA, BIG, DPI, Integer, OneLineParser, Text, UsageError,
                                check_path, input_file, run_cli)
from attractors.rules import image_file
import argparse
import os

from attractors.plotting import (ORBIT_TYPES, plot_orbit, save_figure,
                                 use_headless_backend_if_needed)
from attractors.run_files import RunFolderError, load_orbit_file

INDEX = Integer(0, BIG)


def build_parser():
    parser = OneLineParser(
        prog="plot_orbit_diagram.py", description="Draw a bifurcation (orbit) diagram from the points saved during "
                    "training with --interval_orbit.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("path", metavar="PATH", type=input_file(),
                        help="orbit file (orbit_per_epoch_diagram.pth)")
    parser.add_argument("-t", "--type", choices=ORBIT_TYPES, default="orbit1d",
                        help="orbit1d: value against epoch; orbit2d: epoch, x[t] and "
                             "x[t+1]-x[t] in 3-D; transient: x against t at one sample")
    parser.add_argument("-n", "--sequence_num", metavar="N", type=INDEX, default=0,
                        help="which random initial state")
    parser.add_argument("-i", "--input_num", metavar="I", type=INDEX, default=0,
                        help="which constant input")
    parser.add_argument("-j", "--t_output_num", metavar="J", type=INDEX, default=0,
                        help="which recorded output")
    parser.add_argument("-ie", "--initial_epoch", metavar="K", type=INDEX, default=0,
                        help="first sample drawn (index into the samples)")
    parser.add_argument("-fe", "--final_epoch", metavar="K", type=Integer(0, BIG, also=(-1,)),
                        default=-1,
                        help="samples drawn end before this index, as in the original "
                             "plotter (past the end: the end; -1: through the last "
                             "sample); -t transient shows the last sample drawn")
    parser.add_argument("-b", "--burnout", metavar="B", type=INDEX, default=0,
                        help="further time steps to drop from each trajectory")
    parser.add_argument("-o", "--output", metavar="FILE", type=image_file(), default=None,
                        help="save the figure to FILE (.png, .pdf, .svg) instead of "
                             "opening a window")
    parser.add_argument("--dpi", type=DPI, default=150, help="resolution of a saved PNG")
    parser.add_argument("--alpha", type=ALPHA, default=0.15,
                        help="opacity of each point (raise it for sparse diagrams)")
    parser.add_argument("--title", type=Text(), default=None,
                        help="title drawn above the diagram")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_headless_backend_if_needed(args.output)
    import matplotlib
    import matplotlib.pyplot as plt
    output = args.output
    if output is None and matplotlib.get_backend().lower() not in _interactive_backends():
        # No screen to show it on: save beside the orbit file rather than fail.
        output = os.path.join(os.path.dirname(os.path.abspath(args.path)),
                              f"orbit_diagram_{args.type}.png")
        check_path(image_file(), output, "no display, and the figure beside the orbit file")
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
    if output:
        save_figure(fig, output, args.dpi, quiet=True)
        print(f"Saved {output}" if args.output else
              f"No display: saved {output} (use -o FILE to choose the name)")
    else:
        plt.show()


def _interactive_backends():
    from matplotlib.backends import backend_registry, BackendFilter
    return {name.lower() for name in backend_registry.list_builtin(BackendFilter.INTERACTIVE)}


if __name__ == "__main__":
    run_cli(main)
