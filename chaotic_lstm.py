"""The chaotic 2-unit LSTM of the paper: its strange attractor, a
bifurcation diagram and the loss along the line s * W, and the loss on a
2-D slice s1 * W + s2 * R, each saved to a PNG.

    python chaotic_lstm.py                        # the paper's sizes, into ./output-<date>
    python chaotic_lstm.py --n_points 500 --grid 40 40 -o runs/chaos
    python chaotic_lstm.py --parts smoothness -o runs/chaos   # loss smoothness vs length

Every grid point is a separate LSTM; all of them run together as one batch
of models through the functional step of attractors.functional (in chunks
of --chunk_size models), not one model after another.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (BIG, DPI, SEED, Integer, Number, OneLineParser, UsageError,
                                add_threads_option, check_memory, default_folder,
                                output_folder, run_cli, set_threads)
import argparse
import os

import numpy as np
import torch

from attractors import smoothness
from attractors.chaos import (HIDDEN, INITIAL_VALUE, ChaoticFit, chaotic_lstm, line, loss_slice,
                              random_weights)
from attractors.smoothness import grid

PROG = "chaotic_lstm.py"

PARTS = ("attractor", "line", "slice", "smoothness")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
FIGURES = {"attractor": "chaotic_lstm_attractor.png",
           "bifurcation": "chaotic_lstm_bifurcation.png",
           "loss_line": "chaotic_lstm_loss_line.png",
           "loss_slice": "chaotic_lstm_loss_slice.png",
           "smoothness": "chaotic_lstm_smoothness.png"}


# --------------------------------------------------------------------- figures
def save(fig, args, key):
    from attractors.plotting import save_figure
    fig.tight_layout()
    save_figure(fig, os.path.join(args.output_dir, FIGURES[key]), dpi=args.dpi)
    import matplotlib.pyplot as plt
    plt.close(fig)


def part_attractor(args, dtype):
    import matplotlib.pyplot as plt
    lstm = chaotic_lstm(dtype)
    h0 = torch.full((1, 1, HIDDEN), INITIAL_VALUE, dtype=dtype)
    with torch.no_grad():
        out, _ = lstm(torch.zeros(args.attractor_steps, 1, 1, dtype=dtype), (h0, h0.clone()))
    h = out[args.burnout_attractor:, 0].double().numpy()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(h[:, 0], h[:, 1], s=2, alpha=0.5, linewidths=0, rasterized=True)
    ax.set_xlabel("$h_1$")
    ax.set_ylabel("$h_2$")
    ax.set_title(f"Strange attractor ({len(h)} steps after {args.burnout_attractor})")
    save(fig, args, "attractor")
    return h


def part_line(args, dtype):
    import matplotlib.pyplot as plt
    s = grid(args.s_range[0], args.s_range[1], args.n_points, required=(1.0,))
    losses, first = line(s, args.steps, args.burnout, args.chunk_size, dtype)
    fig, ax = plt.subplots(figsize=(7, 4))
    kept = first.shape[0]
    ax.scatter(np.repeat(s[None, :], kept, axis=0).ravel(), first.ravel(), s=0.1,
               alpha=0.3, linewidths=0, rasterized=True, color="k")
    ax.axvline(1.0, color="tab:red", lw=0.8, ls=":")
    ax.set_xlabel("$s$ (weights $s\\,W$)")
    ax.set_ylabel("first output $h_1$")
    ax.set_title(f"Bifurcation diagram ({args.steps} steps, first {args.burnout} dropped)")
    save(fig, args, "bifurcation")

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(s, losses, lw=0.6)
    best = int(np.argmin(losses))
    ax.scatter([s[best]], [losses[best]], color="tab:red", zorder=3,
               label=f"minimum: s = {s[best]:g}, loss = {losses[best]:.3g}")
    ax.set_xlabel("$s$ (weights $s\\,W$)")
    ax.set_ylabel("MSE to the output at $s = 1$")
    ax.set_title("Cost of fitting the chaotic output along the line $s\\,W$")
    ax.legend()
    save(fig, args, "loss_line")
    return s, losses


def part_slice(args, dtype):
    import matplotlib.pyplot as plt
    s1 = grid(args.s1_range[0], args.s1_range[1], args.grid[0], required=(0.0, 1.0))
    s2 = grid(args.s2_range[0], args.s2_range[1], args.grid[1], required=(0.0,))
    R = random_weights(args.seed, dtype)
    losses = loss_slice(s1, s2, R, args.steps, args.burnout, args.chunk_size, dtype)
    fig, ax = plt.subplots(figsize=(7, 5))
    # contourf wants Z[row = s2 index, column = s1 index]
    filled = ax.contourf(s1, s2, losses.T, levels=args.levels)
    fig.colorbar(filled, ax=ax, label="MSE to the output at (1, 0)")
    ax.plot([0, 1], [0, 0], "o", color="w", mec="k")
    ax.annotate("0", (0, 0), xytext=(6, 6), textcoords="offset points", color="w")
    ax.annotate("W", (1, 0), xytext=(6, 6), textcoords="offset points", color="w")
    ax.set_xlabel("$s_1$ (along the chaotic weights $W$)")
    ax.set_ylabel(f"$s_2$ (along a random $R$, seed {args.seed})")
    ax.set_title("Loss on the slice $s_1 W + s_2 R$")
    save(fig, args, "loss_slice")
    return s1, s2, losses


def part_smoothness(args, dtype=None):
    # Always float64: float32 rounding noise would swamp the second differences.
    task = ChaoticFit(torch.float64)
    theta = smoothness.parameters_of(task.model)
    direction = smoothness.random_direction(theta, args.seed)
    s = smoothness.line_grid(*args.smooth_s_range, args.smooth_points)
    results = smoothness.analyse(task, theta, direction, s, args.seq_lens,
                                 chunk_size=args.chunk_size, curvature=not args.no_curvature,
                                 desc="smoothness")
    output = os.path.join(args.output_dir, FIGURES["smoothness"])
    smoothness.write_results(results, os.path.splitext(output)[0] + ".csv",
                             extra={"direction": f"random (seed {args.seed})"})
    smoothness.plot_results(results, output,
                            title=f"Chaotic LSTM fitting its own output, random direction "
                                  f"(seed {args.seed})")
    print(smoothness.format_results(results))
    return results


def build_parser():
    parser = OneLineParser(
        prog=PROG,
        description="The chaotic 2-unit LSTM of the paper: (attractor) its strange attractor; "
                    "(line) a bifurcation diagram and the loss of fitting the chaotic output "
                    "along the line s*W; (slice) that loss on the plane s1*W + s2*R, R random; "
                    "(smoothness, not run by default) the loss along a random line for several "
                    "sequence lengths and its derivative's Lipschitz constant. "
                    "Figures are written to OUTPUT_DIR as chaotic_lstm_*.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-o", "--output_dir", type=output_folder(), default=None,
                        help="folder for the figures (default: a new ./output-<date>_<time>)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS[:3]),
                        help="what to compute")
    parser.add_argument("--seed", type=SEED, default=0,
                        help="seed of the random weights R (uniform in [0, 1)) of the slice, "
                             "and of the random direction of the smoothness part")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="precision of the attractor, line and slice simulations (the "
                             "smoothness part always runs in float64)")
    parser.add_argument("--chunk_size", type=Integer(1, 10 ** 7), default=25000,
                        help="models simulated together in one batch")
    parser.add_argument("--dpi", type=DPI, default=150, help="resolution of the PNGs")
    add_threads_option(parser)
    g = parser.add_argument_group("attractor")
    g.add_argument("--attractor_steps", type=Integer(2, BIG), default=5000,
                   help="steps simulated")
    g.add_argument("--burnout_attractor", type=Integer(0, BIG), default=100,
                   help="first steps dropped")
    g = parser.add_argument_group("line s*W and slice s1*W + s2*R")
    g.add_argument("--steps", type=Integer(2, BIG), default=200,
                   help="steps simulated per grid point")
    g.add_argument("--burnout", type=Integer(0, BIG), default=100,
                   help="first steps dropped before the loss and the diagram")
    g.add_argument("--n_points", type=Integer(2, BIG), default=5000,
                   help="values of s on the line (1 included)")
    g.add_argument("--s_range", type=Number(-1e6, 1e6), nargs=2, default=[0.5, 2.0],
                   metavar=("MIN", "MAX"),
                   help="range of s on the line")
    g.add_argument("--grid", type=Integer(2, BIG), nargs=2, default=[150, 150],
                   metavar=("N1", "N2"),
                   help="slice grid size along s1 and s2 (0 and 1 included)")
    g.add_argument("--s1_range", type=Number(-1e6, 1e6), nargs=2, default=[0.0, 2.0],
                   metavar=("MIN", "MAX"),
                   help="range of s1, the coordinate along W (must contain 1)")
    g.add_argument("--s2_range", type=Number(-1e6, 1e6), nargs=2, default=[-0.5, 0.5],
                   metavar=("MIN", "MAX"),
                   help="range of s2, the coordinate along R (must contain 0)")
    g.add_argument("--levels", type=Integer(1, 10 ** 4), default=100,
                   help="contour levels of the slice")
    g = parser.add_argument_group("smoothness (--parts smoothness)")
    g.add_argument("--seq_lens", type=Integer(1, BIG), nargs="+",
                   default=list(smoothness.DEFAULT_SEQ_LENS),
                   metavar="T", help="sequence lengths of the loss")
    g.add_argument("--smooth_s_range", type=Number(-1e6, 1e6), nargs=2, default=[-0.0001, 0.0001],
                   metavar=("MIN", "MAX"),
                   help="range of s along the random direction (each weight tensor of norm "
                        "|W|); the loss turns chaotic at ever smaller s as T grows")
    g.add_argument("--smooth_points", type=Integer(3, BIG), default=201,
                   help="values of s (0 included)")
    g.add_argument("--no_curvature", action="store_true",
                   help="skip the exact second derivative at s = 0 (forward-mode AD)")
    return parser


def check(args):
    """Refuse impossible combinations before any work (raises UsageError);
    each option's own range is its rule."""
    if not args.burnout_attractor < args.attractor_steps:
        raise UsageError("--burnout_attractor must be below --attractor_steps")
    if not args.burnout < args.steps:
        raise UsageError("--burnout must be below --steps")
    for name, inside in (("s_range", 1.0), ("s1_range", 1.0), ("s2_range", 0.0)):
        lo, hi = getattr(args, name)
        if not lo <= inside <= hi or not lo < hi:
            raise UsageError(f"--{name} must be increasing and contain {inside:g}")
    if not args.smooth_s_range[0] < 0 < args.smooth_s_range[1]:
        raise UsageError("--smooth_s_range must contain 0 inside it")
    # the simulated outputs kept (float64 at most) and the grids
    check_memory(8 * 2 * (args.n_points * args.steps + args.grid[0] * args.grid[1] * args.steps
                          + args.attractor_steps + args.smooth_points * max(args.seq_lens)),
                 "--n_points, --grid, --steps, --attractor_steps, --smooth_points")


def main(argv=None):
    args = build_parser().parse_args(argv)
    check(args)
    set_threads(args.threads)
    args.output_dir = args.output_dir or default_folder()
    try:
        os.makedirs(args.output_dir, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {args.output_dir}: {e.strerror}") from None
    import matplotlib
    matplotlib.use("Agg")
    dtype = DTYPES[args.dtype]
    results = {}
    for part in PARTS:
        if part in args.parts:
            results[part] = globals()[f"part_{part}"](args, dtype)
    return results


if __name__ == "__main__":
    run_cli(main)
