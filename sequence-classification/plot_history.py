"""Plot the accuracy and loss curves (training and validation) of a
temporal-order run to a file.

    python plot_history.py RUN_FOLDER [-o RUN_FOLDER/history.png]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import run_cli
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attractors.plotting import history_command, save_figure  # noqa: E402
from attractors.run_files import RunFolderError, read_config  # noqa: E402

CURVES = (("train", "C0"), ("valid.", "C3"))


def main(argv=None):
    columns = ["epoch"] + [f"{part} {kind}" for part, _ in CURVES for kind in ("loss", "acc.")]
    history, args = history_command("Plot accuracy and loss of a run.", argv, columns=columns)
    fig, (acc_ax, loss_ax) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for part, colour in CURVES:
        label = "training" if part == "train" else "validation"
        acc_ax.plot(history["epoch"], 100 * history[f"{part} acc."], color=colour, label=label)
        loss_ax.semilogy(history["epoch"], history[f"{part} loss"], color=colour, label=label)
    chance = _chance_level(args.folder)
    if chance is not None:
        acc_ax.axhline(100 * chance, color="0.5", ls=":", lw=1, label="chance")
    acc_ax.set_ylabel("accuracy (%)")
    acc_ax.set_ylim(0, 100)
    acc_ax.legend(loc="lower right")
    loss_ax.set_ylabel("cross-entropy loss")
    loss_ax.set_xlabel("epoch")
    for ax in (acc_ax, loss_ax):
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, args.output)


def _chance_level(folder):
    """1 / n_classes from the saved config, or None if it cannot be read."""
    try:
        config = read_config(folder)
        return 1 / config["n_symbols"] ** len(config["position_symbols_start"])
    except (RunFolderError, OSError, ValueError, KeyError, TypeError):
        return None


if __name__ == "__main__":
    run_cli(main)
