"""Plot the waves a trained sine-generator produces against the targets.

    python plot_generated.py RUN_FOLDER [-o RUN_FOLDER/generated.png] [--seq_len 800]
"""
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from attractors.options import POSITIVE_INT, OneLineParser, UsageError, run_cli  # noqa: E402
from attractors.plotting import save_figure  # noqa: E402
from attractors.run_files import RunFolderError, load_model_file  # noqa: E402
from attractors.tasks import import_sibling  # noqa: E402

data = import_sibling(__file__, "data")
TASK = import_sibling(__file__, "task").TASK


def main(argv=None):
    parser = OneLineParser(prog="plot_generated.py", description="Plot generated waves against the targets.")
    parser.add_argument("folder", help="training output folder")
    parser.add_argument("-o", "--output", help="image file (default: FOLDER/generated.png)")
    parser.add_argument("--n_waves", type=POSITIVE_INT, default=4, help="frequencies shown")
    parser.add_argument("--seq_len", type=POSITIVE_INT, default=None,
                        help="steps generated (default: the training seq_len)")
    parser.add_argument("--trust_pickle", action="store_true",
                        help="load a model.pth of the original code, which holds pickled "
                             "objects (only for files you trust)")
    args = parser.parse_args(argv)
    try:
        saved = load_model_file(args.folder, trust_pickle=args.trust_pickle)
        model = TASK.build_model(saved, dtype=torch.float32)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    config = saved["config"]
    seq_len = args.seq_len or config["seq_len"]
    waves = data.data_generator(config["min_freq"], config["max_freq"], args.n_waves,
                                seq_len, "cpu")
    with torch.no_grad():
        generated, _ = model(waves["u"])
    fig, axes = plt.subplots(len(waves["freqs"]), 1, figsize=(7, 1.8 * len(waves["freqs"])),
                             sharex=True, squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(waves["y"][:, k, 0], color="0.6", lw=2, label="target")
        ax.plot(generated[:, k, 0], color="C3", lw=1, label="model")
        ax.set_ylabel(f"w={waves['freqs'][k]:.3f}")
    axes[0, 0].legend(loc="upper right", ncol=2)
    axes[0, 0].set_title(f"epoch {saved['epoch']} ({config['rnn_type']})")
    axes[-1, 0].set_xlabel("t")
    if seq_len > config["seq_len"]:
        for ax in axes[:, 0]:
            ax.axvline(config["seq_len"], color="k", ls=":", lw=1)
    fig.tight_layout()
    save_figure(fig, args.output or os.path.join(args.folder, "generated.png"))


if __name__ == "__main__":
    run_cli(main)
