"""Figure g: the Lipschitz constant of the loss's derivative against the
sequence length, for the chaotic LSTM, the LSTM and the stable LSTM of the
sine task (figures a and b's runs), on one plot."""
# common first: a Ctrl-C during the imports is then one line
from common import output, parse, parser, run, run_cli, sine_run
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from attractors.plotting import save_figure  # noqa: E402

SEQ_LENS = ["25", "50", "100", "200", "400", "800"]
TINY = ["--seq_lens", "5", "10", "--n_points", "11"]


def main(argv=None):
    options = parse(parser(__doc__.splitlines()[0]), argv)
    sizes = TINY if options.tiny else ["--seq_lens", *SEQ_LENS]
    chaotic_dir = os.path.join(options.runs, "chaotic_smoothness")
    run("chaotic_lstm.py", "--parts", "smoothness", "-o", chaotic_dir, "--seq_lens", *sizes[1:],
        *(["--smooth_points", "11"] if options.tiny else []))
    tables = {"chaotic LSTM": pd.read_csv(os.path.join(chaotic_dir, "chaotic_lstm_smoothness.csv"))}
    for variant, label in (("lstm", "LSTM, sine task"), ("stable", "stable LSTM, sine task")):
        folder = sine_run(variant, options)
        run("analyse_smoothness.py", folder, *sizes)
        tables[label] = pd.read_csv(os.path.join(folder, "smoothness.csv"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    colours = dict(zip(tables, ("C3", "C0", "C2")))
    for ax, labels in zip(axes, (list(tables), list(tables)[1:])):
        for label in labels:
            table = tables[label]
            ax.loglog(table["seq_len"], table["curvature_at_s0"].abs(), "o-",
                      color=colours[label], label=label)
            ax.loglog(table["seq_len"], table["lipschitz"], "x:", color=colours[label], alpha=0.6)
        ax.set_xticks(table["seq_len"], [str(t) for t in table["seq_len"]])
        ax.minorticks_off()
        ax.set_xlabel("sequence length T")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("Lipschitz constant of the loss derivative")
    axes[1].set_title("the two sine models, closer", fontsize="medium")
    fig.suptitle("g. Loss smoothness: |second derivative| at s = 0 (o), grid estimate (x)",
                 fontsize="medium")
    fig.tight_layout()
    save_figure(fig, output(options, "fig_g_smoothness.png"), options.dpi)
    for label, table in tables.items():
        print(label, dict(zip(table["seq_len"], table["curvature_at_s0"].round(4))))


if __name__ == "__main__":
    run_cli(main)
