"""Make every figure of the gallery into img/ (about 10 minutes on 2 CPU cores).

    python figures/make_all.py [--data ../shared/data/wikitext-2] [--tiny]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import parse, parser  # noqa: E402
import fig_d_temporal_order  # noqa: E402
import fig_e_language_model  # noqa: E402
import fig_f_chaotic_lstm  # noqa: E402
import fig_g_smoothness  # noqa: E402
import fig_h_lyapunov  # noqa: E402
import sine_dynamics  # noqa: E402


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="WikiText-2 folder for figure e")
    options = parse(p, argv)
    common = ["--out", options.out, "--runs", options.runs, "--dpi", str(options.dpi)]
    common += ["--tiny"] if options.tiny else []
    jobs = [("a", lambda: sine_dynamics.main(common, "lstm")),
            ("b", lambda: sine_dynamics.main(common, "stable")),
            ("c", lambda: sine_dynamics.main(common, "exprnn")),
            ("d", lambda: fig_d_temporal_order.main(common)),
            ("e", lambda: fig_e_language_model.main(
                common + (["--data", options.data] if options.data else []))),
            ("f", lambda: fig_f_chaotic_lstm.main(common)),
            ("g", lambda: fig_g_smoothness.main(common)),
            ("h", lambda: fig_h_lyapunov.main(common))]
    times = {}
    for name, job in jobs:
        start = time.perf_counter()
        job()
        times[name] = time.perf_counter() - start
        print(f"figure {name}: {times[name]:.0f} s")
    print("total: {:.0f} s ({})".format(sum(times.values()),
                                          ", ".join(f"{k} {v:.0f} s" for k, v in times.items())))


if __name__ == "__main__":
    main()
