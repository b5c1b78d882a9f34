"""Plot the training loss of a sine-generator run (log scale) to a file.

    python plot_history.py RUN_FOLDER [-o RUN_FOLDER/history.png]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import run_cli
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attractors.plotting import history_command, save_figure  # noqa: E402


def main(argv=None):
    history, args = history_command("Plot the loss history of a run.", argv,
                                    columns=("epoch", "loss"))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(history["epoch"], history["loss"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (MSE)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, args.output)


if __name__ == "__main__":
    run_cli(main)
