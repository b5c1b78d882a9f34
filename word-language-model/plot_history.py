"""Plot the losses and validation perplexity of a word-language-model run to a file.

    python plot_history.py RUN_FOLDER [-o RUN_FOLDER/history.png]

Dotted vertical lines mark the epochs at which the learning rate was reduced.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import run_cli
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from attractors.plotting import history_command, save_figure  # noqa: E402

COLUMNS = ("Epoch", "Train Loss", "Valid Loss", "Valid PPL", "Learning Rate")


def main(argv=None):
    history, args = history_command(__doc__.splitlines()[0], argv, columns=COLUMNS)
    epoch = history["Epoch"]
    lr = history["Learning Rate"]
    reductions = epoch[lr < lr.shift(fill_value=lr.iloc[0])]

    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epoch, history["Train Loss"], label="train")
    ax_loss.plot(epoch, history["Valid Loss"], label="validation")
    ax_loss.set_ylabel("cross-entropy per word")
    ax_loss.legend()
    ax_ppl.semilogy(epoch, history["Valid PPL"], color="C1")
    ax_ppl.set_ylabel("validation perplexity")
    for ax in (ax_loss, ax_ppl):
        for e in reductions:
            ax.axvline(e, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, args.output)


if __name__ == "__main__":
    run_cli(main)
