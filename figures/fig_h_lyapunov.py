"""Figure h: the largest Lyapunov exponent of the chaotic LSTM along the line
s*W, under its bifurcation diagram: chaos where the exponent is positive,
periodic windows and fixed points where it is negative."""
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.func import jvp  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_script, output, parse, parser  # noqa: E402
from attractors.functional import lstm_step  # noqa: E402
from attractors.plotting import save_figure  # noqa: E402


def largest_exponents(weights, steps, burn_in, record):
    """For a stack of P recurrent weights ``(P, 8, 2)``: the largest Lyapunov
    exponent of each LSTM from h = c = 0.5 (tangent carried by jvp and
    renormalised every step), and its first output over the last ``record``
    steps, for the bifurcation diagram. All P models run as one batch."""
    P = weights.shape[0]
    params = {"weight_ih_l0": torch.zeros(P, 8, 1, dtype=weights.dtype), "weight_hh_l0": weights}
    x = torch.zeros(P, 1, 1, dtype=weights.dtype)

    def f(h, c):
        return lstm_step(params, x, (h, c))
    state = (torch.full((1, P, 1, 2), 0.5, dtype=weights.dtype),) * 2
    tangent = tuple(torch.randn(1, P, 1, 2, dtype=weights.dtype,
                                generator=torch.Generator().manual_seed(0)) for _ in range(2))
    total = torch.zeros(P, dtype=weights.dtype)
    outputs = []
    for t in tqdm(range(burn_in + steps), desc="lyapunov", unit="step", mininterval=0.5):
        state, tangent = jvp(f, state, tangent)
        norm = torch.sqrt(sum((v ** 2).sum(dim=(0, 2, 3)) for v in tangent))
        tangent = tuple(v / norm[None, :, None, None] for v in tangent)
        if t >= burn_in:
            total += norm.log()
        if t >= burn_in + steps - record:
            outputs.append(state[0][0, :, 0, 0].clone())
    return (total / steps).numpy(), torch.stack(outputs).numpy()


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n_points", type=int, default=1500, help="values of s in [0.5, 2]")
    p.add_argument("--steps", type=int, default=2000, help="steps averaged for the exponent")
    options = parse(p, argv)
    n_points, steps = (40, 100) if options.tiny else (options.n_points, options.steps)
    chaotic = load_script("chaotic_lstm.py", "chaotic_lstm")
    W = torch.tensor(chaotic.CHAOTIC_WEIGHT, dtype=torch.float64)
    s = chaotic.grid(0.5, 2.0, n_points, required=(1.0,))
    exponents, outputs = largest_exponents(torch.as_tensor(s)[:, None, None] * W, steps,
                                           burn_in=200, record=100)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5),
                                      gridspec_kw={"height_ratios": [3, 2]})
    top.plot(np.repeat(s[None, :], outputs.shape[0], 0).ravel(), outputs.ravel(), ",k",
             alpha=0.4, rasterized=True)
    top.set_ylabel("$h_1$ (last 100 of 2200 steps)")
    top.set_title("h. Chaotic LSTM along $s W$: bifurcation diagram and Lyapunov exponent",
                  fontsize="medium")
    bottom.plot(s, exponents, lw=0.8)
    bottom.axhline(0, color="k", lw=0.6)
    bottom.axvline(1, color="C3", lw=0.6, ls="--")
    bottom.set_xlabel("s")
    bottom.set_ylabel("largest Lyapunov exponent")
    fig.tight_layout()
    save_figure(fig, output(options, "fig_h_lyapunov.png"), options.dpi)
    at_one = exponents[np.argmin(np.abs(s - 1.0))]
    print(f"largest exponent at s = 1: {at_one:.4f}; positive on "
          f"{(exponents > 1e-3).mean():.0%} of the line")


if __name__ == "__main__":
    main()
