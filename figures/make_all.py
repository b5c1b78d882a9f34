"""Make every figure of the gallery into img/ (about 12 minutes on 2 CPU cores).

    python figures/make_all.py [--data word-language-model/wikitext-2] [--tiny]

Each figure is its own command (figures/fig_*.py), run here one after another.
"""
import os
import time

from common import ROOT, input_folder, parse, parser, run, run_cli

FIGURES = [("a", "fig_a_sine_lstm.py"), ("b", "fig_b_sine_stable.py"),
           ("c", "fig_c_sine_exprnn.py"), ("d", "fig_d_temporal_order.py"),
           ("e", "fig_e_language_model.py"), ("f", "fig_f_chaotic_lstm.py"),
           ("g", "fig_g_smoothness.py"), ("h", "fig_h_lyapunov.py"),
           ("i", "fig_i_seed_study.py")]


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=input_folder(),
                   default=os.path.join(ROOT, "word-language-model", "wikitext-2"),
                   help="WikiText-2 folder for figure e")
    options = parse(p, argv)
    common = ["--out", options.out, "--runs", options.runs, "--dpi", options.dpi]
    common += ["--tiny"] if options.tiny else []
    times = {}
    for name, script in FIGURES:
        start = time.perf_counter()
        run(os.path.join("figures", script), *common,
            *(["--data", options.data] if name == "e" else []))
        times[name] = time.perf_counter() - start
        print(f"figure {name}: {times[name]:.0f} s")
    print("total: {:.0f} s ({})".format(sum(times.values()),
                                          ", ".join(f"{k} {v:.0f} s" for k, v in times.items())))


if __name__ == "__main__":
    run_cli(main)
