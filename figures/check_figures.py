"""Check that every figure of the gallery shows its phenomenon under the
math-library settings of check_robustness.py (as on CPUs with fewer
instructions): each figure script runs once per setting, into a folder of
its own, and each figure is judged on what its runs and numbers show.

    python figures/check_figures.py --out runs/figure-check [--figures a b] [--jobs 2]

The figure scripts run the real commands as subprocesses, so the setting of
the figure script's environment reaches them all. Besides its own criterion,
each figure gets ``looks``: the lowest correlation, over its PNG files, of
the image (grey levels averaged over blocks) with the one made under the
default setting. The table goes to OUT/figure_check.csv; the reference is
docs/reproducibility.md.
"""
import concurrent.futures
import os
import re
import subprocess
import sys

from common import ROOT

# figure: its script, the runs it trains (under --runs), its PNG files
FIGURES = {
    "a": ("fig_a_sine_lstm.py", ["sine_lstm"], ["fig_a_sine_lstm.png"]),
    "b": ("fig_b_sine_stable.py", ["sine_stable"], ["fig_b_sine_stable_lstm.png"]),
    "c": ("fig_c_sine_exprnn.py", ["sine_exprnn"], ["fig_c_sine_exprnn.png"]),
    "d": ("fig_d_temporal_order.py", ["temporal_order_lstm"], ["fig_d_temporal_order.png"]),
    "e": ("fig_e_language_model.py", ["language_model_lstm"], ["fig_e_language_model.png"]),
    "f": ("fig_f_chaotic_lstm.py", [], ["chaotic_lstm_attractor.png",
                                        "chaotic_lstm_bifurcation.png",
                                        "chaotic_lstm_loss_line.png",
                                        "chaotic_lstm_loss_slice.png"]),
    "g": ("fig_g_smoothness.py", [], ["fig_g_smoothness.png"]),
    "h": ("fig_h_lyapunov.py", [], ["fig_h_lyapunov.png"]),
    "i": ("fig_i_seed_study.py", ["seed_study"], ["fig_i_seed_study.png"]),
}
CRITERIA = {
    "a": "an oscillation is born after a fixed-point phase, the loss falls below 0.05 after "
         "it, the final network oscillates under every frequency",
    "b": "the final network's output settles on a fixed point under every frequency; the "
         "loss never falls below 0.05 (a plateau)",
    "c": "the oscillation's amplitude (median range of the first output) is below 0.5 in "
         "the first quarter of training (median) and ends above 1, the loss falls below 0.05, the "
         "final network oscillates under every frequency",
    "d": "validation accuracy at least 99%; the final network's output settles on a fixed "
         "point under each relevant symbol (the first letters of final; the distractors "
         "may do anything)",
    "e": "the final network's output settles on a fixed point under each word",
    "f": "the four pictures look like the default setting's (looks >= 0.85: the chaotic "
         "output, and so the scale of its loss, differs); the chaos itself is figure h's "
         "criterion",
    "g": "at T = 800 the chaotic LSTM's constant exceeds 1e50, the LSTM's grew from T = 25, "
         "the stable LSTM's did not",
    "h": "the largest exponent at s = 1 is positive, and positive on 20-40% of the line",
    "i": "in every seed an oscillation is born and the loss leaves its plateau, and in at "
         "least 13 of 16 seeds the loss does not leave it more than 8 epochs before the birth",
}


def figure_env(setting):
    from attractors.robustness import run_env
    env = run_env(setting)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return env


def make(setting, names, out, data, tiny=False):
    """Run the figure scripts ``names`` under ``setting``, one after another
    (they share runs); returns ``{figure: (exit status, stdout)}``."""
    done = {}
    for name in names:
        script = FIGURES[name][0]
        command = [sys.executable, os.path.join(ROOT, "figures", script),
                   "--out", os.path.join(out, setting, "img"),
                   "--runs", os.path.join(out, setting, "runs")]
        command += ["--data", data] if name == "e" and data else []
        command += ["--tiny"] if tiny else []
        result = subprocess.run(command, env=figure_env(setting), capture_output=True,
                                text=True)
        with open(os.path.join(out, setting, f"{name}.log"), "w") as log:
            log.write(result.stdout + result.stderr)
        with open(os.path.join(out, setting, f"{name}.exit"), "w") as f:
            f.write(str(result.returncode))
        done[name] = (result.returncode, result.stdout)
        print(f"{setting}: figure {name} made (exit status {result.returncode})", flush=True)
    return done


def made_before(setting, name, out):
    """``(exit status, output)`` of a figure made by an earlier check."""
    try:
        with open(os.path.join(out, setting, f"{name}.exit")) as f:
            code = int(f.read())
        with open(os.path.join(out, setting, f"{name}.log")) as f:
            return code, f.read()
    except (OSError, ValueError):
        return None, ""   # never made


def image_blocks(path, size=48):
    """A PNG's grey levels averaged over a ``size`` x ``size`` grid of blocks."""
    import matplotlib.image
    import numpy as np
    image = matplotlib.image.imread(path)
    grey = image[..., :3].mean(axis=-1) if image.ndim == 3 else image
    rows = np.array_split(np.arange(grey.shape[0]), size)
    cols = np.array_split(np.arange(grey.shape[1]), size)
    return np.array([[grey[np.ix_(r, c)].mean() for c in cols] for r in rows])


def looks(name, setting, out):
    """Lowest correlation of the figure's PNGs with the default setting's."""
    import numpy as np
    values = []
    for png in FIGURES[name][2]:
        paths = [os.path.join(out, s, "img", png) for s in ("default", setting)]
        if not all(map(os.path.isfile, paths)):
            return float("nan")
        a, b = (image_blocks(p).ravel() for p in paths)
        values.append(float(np.corrcoef(a, b)[0, 1]))
    return min(values)


def amplitude_growth(folder):
    """``(median amplitude early, at the end, epoch from which it stays large)``:
    the median over inputs and initial states of the range of the first
    output in each orbit sample; early is its median over the first quarter of the samples,
    and it stays large from the first sample above 1 after which it never
    falls below 0.5."""
    import numpy as np
    from attractors.run_files import ORBIT_FILE, load_orbit_file
    trajectory, interval = load_orbit_file(os.path.join(folder, ORBIT_FILE))
    ranges = trajectory.max(axis=0) - trajectory.min(axis=0)       # (seq, inputs, outputs, samples)
    median = np.median(ranges[:, :, 0, :], axis=(0, 1))
    low = np.nonzero(median < 0.5)[0]
    after = low[-1] + 1 if len(low) else 0
    above = np.nonzero(median[after:] > 1)[0]
    start = int(after + above[0] + 1) * interval if len(above) else None
    return float(np.median(median[:max(1, len(median) // 4)])), float(median[-1]), start


def judge(name, setting, out, stdout):
    """``(holds, numbers)`` for one figure made under one setting."""
    from attractors.robustness import analyse
    runs = [os.path.join(out, setting, "runs", r) for r in FIGURES[name][1]]
    search = [ROOT]
    if name == "a":
        row = analyse(runs[0], search, threshold=0.05, expect="oscillation")
        return row["verdict"] == "yes", (f"loss {row['final loss']:.3g}, drop {row['drop']}, "
                                         f"birth {row['birth']}, final {row['final']}")
    if name == "c":
        row = analyse(runs[0], search, threshold=0.05)
        early, end, start = amplitude_growth(runs[0])
        ok = (row["drop"] is not None and early < 0.5 and end > 1 and start is not None
              and all(letter in "PQC" for letter in row["final"].upper()))
        return ok, (f"loss {row['final loss']:.3g}, drop {row['drop']}, amplitude {early:.2f} "
                    f"early, {end:.2f} at the end, above 1 from {start}, final {row['final']}")
    if name == "b":
        row = analyse(runs[0], search, threshold=0.05, expect="fixed-point")
        ok = row["verdict"] == "yes" and row["drop"] is None
        return ok, f"loss {row['final loss']:.3g}, last {row['last']}, final {row['final']}"
    if name == "d":
        import json
        row = analyse(runs[0], search, columns=["valid. acc."])
        with open(os.path.join(runs[0], "train.pyconfig.json")) as f:
            symbols = json.load(f)["n_symbols"]          # the first inputs; then distractors
        ok = row["final"][:symbols] == "F" * symbols and row["valid. acc."] >= 0.99
        return ok, f"valid. acc. {row['valid. acc.']:.3f}, final {row['final']}"
    if name == "e":
        if not os.path.isdir(runs[0]):
            return None, "skipped (no WikiText-2 data)"
        row = analyse(runs[0], search, expect="fixed-point")
        ok = row["verdict"] == "yes"
        return ok, f"loss {row['final loss']:.3g}, last {row['last']}, final {row['final']}"
    if name == "f":
        value = looks(name, setting, out)
        return value >= 0.85, f"looks {value:.3f}"
    if name == "g":
        tables = dict(re.findall(r"^(.+?) (\{.*\})$", stdout, re.M))
        curves = {label: {int(k): float(v) for k, v in re.findall(r"(\d+): (\S+?)[,}]", text)}
                  for label, text in tables.items()}
        chaotic, lstm, stable = (curves[k] for k in ("chaotic LSTM", "LSTM, sine task",
                                                     "stable LSTM, sine task"))
        ok = abs(chaotic[800]) > 1e50 and abs(lstm[800]) > abs(lstm[25]) \
            and abs(stable[800]) <= abs(stable[25])
        return ok, (f"T=25 -> 800: chaotic {abs(chaotic[25]):.3g} -> {abs(chaotic[800]):.3g}, "
                    f"LSTM {abs(lstm[25]):.3g} -> {abs(lstm[800]):.3g}, "
                    f"stable {abs(stable[25]):.3g} -> {abs(stable[800]):.3g}")
    if name == "i":
        born = len(re.findall(r"oscillation born at epoch \d+, loss leaves its plateau at "
                              r"epoch \d+", stdout))
        found = re.search(r"(\d+) of (\d+) seeds .*?; in (\d+) it does not leave it .*?"
                          r"median drop - birth (\S+) epochs", stdout)
        together, seeds, not_before, lag = found.groups()
        return (born == int(seeds) and int(not_before) >= 13 * int(seeds) / 16,
                f"born and dropped in {born}/{seeds}, not before the birth {not_before}, "
                f"within 8 epochs {together}, median drop - birth {lag}")
    found = re.search(r"largest exponent at s = 1: (\S+); positive on (\d+)%", stdout)
    exponent, share = float(found[1]), int(found[2])
    return (exponent > 0 and 20 <= share <= 40,
            f"exponent at s=1 {exponent:.4f}, positive on {share}%")


def build_parser():
    import argparse
    from attractors.options import Integer, OneLineParser, input_folder, output_folder
    from attractors.robustness import SETTINGS
    p = OneLineParser(prog="check_figures.py", description=__doc__.splitlines()[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, type=output_folder(), help="folder of the check: OUT/SETTING/img, "
                   "OUT/SETTING/runs, the logs and figure_check.csv")
    p.add_argument("--figures", nargs="+", choices=list(FIGURES), default=list(FIGURES),
                   help="figures to check")
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
                   help="math-library settings (default is always made, for the looks column)")
    p.add_argument("--jobs", type=Integer(1, 64), default=2, help="settings made at once")
    p.add_argument("--data", type=input_folder(), default=os.path.join(ROOT, "word-language-model", "wikitext-2"),
                   help="WikiText-2 folder for figure e")
    p.add_argument("--tiny", action="store_true",
                   help="tiny figures (seconds; the criteria will not hold), for tests")
    p.add_argument("--judge_only", action="store_true",
                   help="judge the figures already made in OUT again, make nothing")
    return p


def main(argv=None):
    options = build_parser().parse_args(argv)
    out = os.path.abspath(options.out)
    settings = ["default"] + [s for s in options.settings if s != "default"]
    if options.judge_only:
        made = {s: {name: made_before(s, name, out) for name in options.figures}
                for s in settings}
        if all(code is None for figures in made.values() for code, _ in figures.values()):
            from attractors.options import UsageError
            raise UsageError(f"{options.out} holds none of these figures made by "
                             "check_figures.py: make them first (without --judge_only)")
    else:
        for setting in settings:
            os.makedirs(os.path.join(out, setting), exist_ok=True)
        with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
            made = dict(zip(settings, pool.map(lambda s: make(s, options.figures, out,
                                                              options.data, options.tiny),
                                               settings)))
    import pandas as pd
    rows = []
    for name in options.figures:
        for setting in settings:
            code, stdout = made[setting][name]
            if code is None:
                holds, numbers = None, "not made (run without --judge_only)"
            elif code != 0:
                holds, numbers = False, f"the figure script failed (exit status {code})"
            else:
                try:
                    holds, numbers = judge(name, setting, out, stdout)
                except Exception as e:   # e.g. a tiny figure lacks the numbers judged
                    from attractors.options import first_line
                    holds, numbers = False, f"cannot judge: {first_line(e)}"
            rows.append({"figure": name, "setting": setting,
                         "holds": {True: "yes", False: "no", None: "-"}[holds],
                         "looks": round(looks(name, setting, out), 3), "numbers": numbers})
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(out, "figure_check.csv"), index=False)
    print(table.to_string(index=False))
    for name in options.figures:
        print(f"{name}: {CRITERIA[name]}")
    failed = [f"{name} ({setting})" for setting in settings for name in options.figures
              if made[setting][name][0] not in (0, None)]
    if failed:   # a script that failed is not a figure that does not hold: say so
        print(f"check_figures.py: the figure script failed for {', '.join(failed)}; see "
              f"OUT/SETTING/FIGURE.log", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from attractors.options import run_cli
    raise SystemExit(run_cli(main))
