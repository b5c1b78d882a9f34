"""Figures a-c: the sine task's loss above its orbit diagram, bifurcations marked.

    python figures/sine_dynamics.py --variant lstm|stable|exprnn
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_script, output, parse, parser, sine_run  # noqa: E402

TITLES = {"lstm": "a. LSTM, sine task: a limit cycle is born",
          "stable": "b. Stable LSTM (--stabilize): it cannot oscillate",
          "exprnn": "c. Orthogonal RNN (exprnn), sine task"}
FILES = {"lstm": "fig_a_sine_lstm.png", "stable": "fig_b_sine_stable_lstm.png",
         "exprnn": "fig_c_sine_exprnn.png"}


def main(argv=None, variant=None):
    p = parser(__doc__.splitlines()[0])
    if variant is None:
        p.add_argument("--variant", choices=sorted(TITLES), default="lstm")
    options = parse(p, argv)
    variant = variant or options.variant
    folder = sine_run(variant, options)
    plot = load_script("plot_training_dynamics.py", "plot_training_dynamics")
    plot.main([folder, "-o", output(options, FILES[variant]), "--dpi", str(options.dpi),
               "--title", TITLES[variant]])


if __name__ == "__main__":
    main()
