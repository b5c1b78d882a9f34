"""Figure h: the largest Lyapunov exponent of the chaotic LSTM along the line
s*W, under its bifurcation diagram: chaos where the exponent is positive,
periodic windows and fixed points where it is negative."""
# common first: a Ctrl-C during the imports is then one line
from common import Integer, output, parse, parser, run_cli
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from attractors.chaos import along_line  # noqa: E402
from attractors.plotting import save_figure  # noqa: E402
from attractors.smoothness import grid  # noqa: E402


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n_points", type=Integer(2, 10 ** 6), default=1500,
                   help="values of s in [0.5, 2]")
    p.add_argument("--steps", type=Integer(1, 10 ** 6), default=2000,
                   help="steps averaged for the exponent")
    options = parse(p, argv)
    n_points, steps = (40, 100) if options.tiny else (options.n_points, options.steps)
    s = grid(0.5, 2.0, n_points, required=(1.0,))
    exponents, outputs = along_line(s, steps, burnout=200, record=100)
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
    run_cli(main)
