"""The chaotic 2-unit LSTM (SPEC section 11): its strange attractor, a
bifurcation diagram and the loss along the line s * W, and the loss on a
2-D slice s1 * W + s2 * R, each saved to a PNG.

    python chaotic_lstm.py                        # the paper's sizes, figures in img/
    python chaotic_lstm.py --n_points 500 --grid 40 40 -o runs/chaos
    python chaotic_lstm.py --parts smoothness -o runs/chaos   # loss smoothness vs length

Every grid point is a separate LSTM; all of them run together as one batch
of models through the functional step of attractors.functional (in chunks
of --chunk_size models), not one model after another.
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from attractors import functional, smoothness
from attractors.options import OneLineParser, UsageError

PROG = "chaotic_lstm.py"

# Recurrent weight, rows in PyTorch's gate order (i, i, f, f, g, g, o, o).
CHAOTIC_WEIGHT = [[-1.0, -4.0], [-3.0, -2.0],
                  [-2.0, 6.0], [0.0, -6.0],
                  [-1.0, -6.0], [6.0, -9.0],
                  [4.0, 1.0], [-9.0, -7.0]]
HIDDEN = 2
INITIAL_VALUE = 0.5  # h = c = 0.5 for both units
PARTS = ("attractor", "line", "slice", "smoothness")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
FIGURES = {"attractor": "chaotic_lstm_attractor.png",
           "bifurcation": "chaotic_lstm_bifurcation.png",
           "loss_line": "chaotic_lstm_loss_line.png",
           "loss_slice": "chaotic_lstm_loss_slice.png",
           "smoothness": "chaotic_lstm_smoothness.png"}


def chaotic_params(dtype=torch.float32):
    """The step parameters of the chaotic LSTM (one input, no biases)."""
    return {"weight_ih_l0": torch.zeros(4 * HIDDEN, 1, dtype=dtype),
            "weight_hh_l0": torch.tensor(CHAOTIC_WEIGHT, dtype=dtype)}


def chaotic_lstm(dtype=torch.float32):
    """The chaotic system as an ``nn.LSTM`` module."""
    lstm = nn.LSTM(1, HIDDEN, bias=False).to(dtype)
    with torch.no_grad():
        for name, value in chaotic_params(dtype).items():
            getattr(lstm, name).copy_(value)
    return lstm


def random_weights(seed, dtype=torch.float32):
    """R: weights of the same shapes, uniform in [0, 1) as in the original
    study, from a generator of their own (the old script drew them unseeded)."""
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.rand(p.shape, generator=generator, dtype=torch.float64).to(dtype)
            for name, p in chaotic_params().items()}


def grid(lo, hi, n, required=()):
    """``n`` evenly spaced values from ``lo`` to ``hi`` that include every
    value of ``required`` inside the range: the nearest interior point is
    moved onto it, so the grid keeps ``n`` points (or, when that point is an
    end or another required value, the value is added)."""
    values = np.linspace(lo, hi, n)
    for r in required:
        if not lo <= r <= hi or np.any(values == r):
            continue
        k = int(np.argmin(np.abs(values - r)))
        if 0 < k < len(values) - 1 and values[k] not in required:
            values[k] = r  # the nearest point lies between its neighbours: still sorted
        else:
            values = np.sort(np.append(values, r))
    return values


def simulate(params, steps, dtype=torch.float32, burnout=0, progress=None):
    """Outputs h of one parameter set or of a stack from h = c = 0.5 with
    zero input: ``(steps - burnout, *stack, 2)``."""
    stack = params["weight_hh_l0"].shape[:-2]
    state = functional.initial_state("LSTM", 1, HIDDEN, (*stack, 1), INITIAL_VALUE, dtype)
    x = torch.zeros(1, 1, dtype=dtype)
    outputs, _ = functional.run("LSTM", params, (x, steps), state, burnout, progress)
    return outputs.squeeze(-2)


@torch.no_grad()
def grid_losses(params, steps, burnout, reference, chunk_size, dtype, keep_first=False,
                desc="grid"):
    """MSE of every model of the stack ``params`` (P sets) to the output of
    model ``reference`` over the kept steps; optionally also every model's
    first output ``(steps - burnout, P)`` for a bifurcation diagram.

    The reference trajectory is taken from the batch itself, computing its
    chunk first: in a chaotic system the smallest rounding difference grows
    to the size of the attractor within a few hundred steps, so a reference
    computed any other way would not give a zero loss at the reference.
    """
    n_models = params["weight_hh_l0"].shape[0]
    starts = list(range(0, n_models, chunk_size))
    first = (reference // chunk_size) * chunk_size
    starts.remove(first)
    losses = torch.empty(n_models, dtype=torch.float64)
    first_output = np.empty((steps - burnout, n_models)) if keep_first else None
    target = None
    with tqdm(total=(len(starts) + 1) * steps, desc=desc, unit="step", dynamic_ncols=True,
              mininterval=0.5) as progress:
        for start in [first] + starts:
            part = {k: v[start:start + chunk_size] for k, v in params.items()}
            out = simulate(part, steps, dtype, burnout, progress)  # (T, p, 2)
            if target is None:
                target = out[:, reference - start].clone()
            error = ((out - target[:, None]) ** 2).mean(dim=(0, 2))
            losses[start:start + out.shape[1]] = error.double()
            if keep_first:
                first_output[:, start:start + out.shape[1]] = out[:, :, 0].double().numpy()
    return losses.numpy(), first_output


def line(s, steps, burnout, chunk_size, dtype=torch.float32):
    """Loss and first output along ``s * W`` (``s`` must contain 1)."""
    base = chaotic_params(dtype)
    s_t = torch.as_tensor(s, dtype=dtype)
    params = {k: s_t.reshape(-1, 1, 1) * v for k, v in base.items()}
    reference = int(np.flatnonzero(np.asarray(s) == 1.0)[0])
    return grid_losses(params, steps, burnout, reference, chunk_size, dtype, keep_first=True,
                       desc="line s*W")


def loss_slice(s1, s2, R, steps, burnout, chunk_size, dtype=torch.float32):
    """Loss on the grid ``s1[i] * W + s2[j] * R`` as an array ``[i, j]``
    (``s1`` must contain 1 and ``s2`` contain 0: the reference)."""
    base = chaotic_params(dtype)
    a, b = np.meshgrid(s1, s2, indexing="ij")  # point k = (i, j) with k = i * len(s2) + j
    a_t = torch.as_tensor(a.ravel(), dtype=dtype).reshape(-1, 1, 1)
    b_t = torch.as_tensor(b.ravel(), dtype=dtype).reshape(-1, 1, 1)
    params = {k: a_t * base[k] + b_t * R[k] for k in base}
    i1 = int(np.flatnonzero(np.asarray(s1) == 1.0)[0])
    j0 = int(np.flatnonzero(np.asarray(s2) == 0.0)[0])
    losses, _ = grid_losses(params, steps, burnout, i1 * len(s2) + j0, chunk_size, dtype,
                            desc="slice s1*W+s2*R")
    return losses.reshape(len(s1), len(s2))


class ChaoticFit(smoothness.TaskLoss):
    """Fitting the chaotic LSTM's own output: the MSE over the first
    ``seq_len`` steps between the model at ``theta`` (the chaotic weights)
    and a perturbed model, both from h = c = 0.5 with zero input."""
    batched = True

    def __init__(self, dtype=torch.float64):
        super().__init__(chaotic_lstm(dtype).eval())
        self.dtype = dtype
        self._targets = {}

    def target(self, seq_len):
        if seq_len not in self._targets:
            self._targets[seq_len] = simulate(chaotic_params(self.dtype), seq_len, self.dtype)
        return self._targets[seq_len]

    def loss(self, seq_len):
        h0 = torch.full((1, 1, HIDDEN), INITIAL_VALUE, dtype=self.dtype)
        out, _ = self.model(torch.zeros(seq_len, 1, 1, dtype=self.dtype), (h0, h0.clone()))
        return float(((out[:, 0] - self.target(seq_len)) ** 2).mean())

    def batched_loss(self, tensors, seq_len):
        out = simulate(tensors, seq_len, self.dtype)               # (T, P, 2)
        return ((out - self.target(seq_len)[:, None]) ** 2).mean(dim=(0, 2))


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
    parser.add_argument("-o", "--output_dir", default="img", help="folder for the figures")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS[:3]),
                        help="what to compute")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random weights R (uniform in [0, 1)) of the slice, "
                             "and of the random direction of the smoothness part")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="precision of the attractor, line and slice simulations (the "
                             "smoothness part always runs in float64)")
    parser.add_argument("--chunk_size", type=int, default=25000,
                        help="models simulated together in one batch")
    parser.add_argument("--dpi", type=int, default=150, help="resolution of the PNGs")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for PyTorch (0: its default; 1 is often faster "
                             "for these small operations on a busy machine)")
    g = parser.add_argument_group("attractor")
    g.add_argument("--attractor_steps", type=int, default=5000, help="steps simulated")
    g.add_argument("--burnout_attractor", type=int, default=100, help="first steps dropped")
    g = parser.add_argument_group("line s*W and slice s1*W + s2*R")
    g.add_argument("--steps", type=int, default=200, help="steps simulated per grid point")
    g.add_argument("--burnout", type=int, default=100,
                   help="first steps dropped before the loss and the diagram")
    g.add_argument("--n_points", type=int, default=5000,
                   help="values of s on the line (1 included)")
    g.add_argument("--s_range", type=float, nargs=2, default=[0.5, 2.0], metavar=("MIN", "MAX"),
                   help="range of s on the line")
    g.add_argument("--grid", type=int, nargs=2, default=[150, 150], metavar=("N1", "N2"),
                   help="slice grid size along s1 and s2 (0 and 1 included)")
    g.add_argument("--s1_range", type=float, nargs=2, default=[0.0, 2.0], metavar=("MIN", "MAX"),
                   help="range of s1, the coordinate along W (must contain 1)")
    g.add_argument("--s2_range", type=float, nargs=2, default=[-0.5, 0.5], metavar=("MIN", "MAX"),
                   help="range of s2, the coordinate along R (must contain 0)")
    g.add_argument("--levels", type=int, default=100, help="contour levels of the slice")
    g = parser.add_argument_group("smoothness (--parts smoothness)")
    g.add_argument("--seq_lens", type=int, nargs="+", default=list(smoothness.DEFAULT_SEQ_LENS),
                   metavar="T", help="sequence lengths of the loss")
    g.add_argument("--smooth_s_range", type=float, nargs=2, default=[-0.0001, 0.0001],
                   metavar=("MIN", "MAX"),
                   help="range of s along the random direction (each weight tensor of norm "
                        "|W|); the loss turns chaotic at ever smaller s as T grows")
    g.add_argument("--smooth_points", type=int, default=201, help="values of s (0 included)")
    g.add_argument("--no_curvature", action="store_true",
                   help="skip the exact second derivative at s = 0 (forward-mode AD)")
    return parser


def check(args):
    """Refuse impossible sizes before any work (raises UsageError)."""
    if args.threads < 0:
        raise UsageError("--threads must be >= 0")
    positive = ["chunk_size", "attractor_steps", "steps", "n_points", "levels", "smooth_points"]
    for name in positive:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    if not 0 <= args.burnout_attractor < args.attractor_steps:
        raise UsageError("--burnout_attractor must be >= 0 and below --attractor_steps")
    if not 0 <= args.burnout < args.steps:
        raise UsageError("--burnout must be >= 0 and below --steps")
    if min(args.grid) < 2 or args.smooth_points < 3:
        raise UsageError("--grid needs at least 2 points per axis, --smooth_points at least 3")
    if min(args.seq_lens) < 1:
        raise UsageError("sequence lengths must be at least 1")
    for name, inside in (("s_range", 1.0), ("s1_range", 1.0), ("s2_range", 0.0)):
        lo, hi = getattr(args, name)
        if not lo <= inside <= hi or not lo < hi:
            raise UsageError(f"--{name} must be increasing and contain {inside:g}")
    if not args.smooth_s_range[0] < 0 < args.smooth_s_range[1]:
        raise UsageError("--smooth_s_range must contain 0 inside it")


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        check(args)
        os.makedirs(args.output_dir, exist_ok=True)
    except OSError as e:
        sys.exit(f"{PROG}: error: cannot create {args.output_dir}: {e.strerror}")
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    import matplotlib
    matplotlib.use("Agg")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]
    results = {}
    for part in PARTS:
        if part in args.parts:
            results[part] = globals()[f"part_{part}"](args, dtype)
    return results


if __name__ == "__main__":
    main()
