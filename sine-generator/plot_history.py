"""Plot the training loss of a sine-generator run (log scale) to a file.

    python plot_history.py RUN_FOLDER [-o RUN_FOLDER/history.png]
"""
import argparse
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attractors.plotting import save_figure  # noqa: E402
from attractors.runs import RunFolderError, read_history  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description="Plot the loss history of a run.")
    parser.add_argument("folder", help="training output folder")
    parser.add_argument("-o", "--output", help="image file (default: FOLDER/history.png)")
    args = parser.parse_args(argv)
    try:
        history = read_history(args.folder)
    except RunFolderError as e:
        sys.exit(f"plot_history.py: error: {e}")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(history["epoch"], history["loss"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (MSE)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, args.output or os.path.join(args.folder, "history.png"))


if __name__ == "__main__":
    main()
