"""Plot the waves a trained sine-generator produces against the targets.

    python plot_generated.py RUN_FOLDER [-o RUN_FOLDER/generated.png] [--seq_len 800]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (Integer, OneLineParser, UsageError, check_memory, check_path,
                                input_folder, run_cli)
from attractors.rules import image_file
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from attractors.plotting import save_figure  # noqa: E402
from attractors.run_files import RunFolderError, load_model_file  # noqa: E402
from attractors.tasks import import_sibling  # noqa: E402

data = import_sibling(__file__, "data")
TASK = import_sibling(__file__, "task").TASK


def build_parser():
    parser = OneLineParser(prog="plot_generated.py",
                           description="Plot generated waves against the targets.")
    parser.add_argument("folder", type=input_folder(), help="training output folder")
    parser.add_argument("-o", "--output", type=image_file(),
                        help="image file (default: FOLDER/generated.png)")
    parser.add_argument("--n_waves", type=Integer(1, 32), default=4, help="frequencies shown")
    parser.add_argument("--seq_len", type=Integer(1, 10 ** 7), default=None,
                        help="steps generated (default: the training seq_len)")
    parser.add_argument("--trust_pickle", action="store_true",
                        help="load a model.pth of the original code, which holds pickled "
                             "objects (only for files you trust)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    output = args.output or os.path.join(args.folder, "generated.png")
    check_path(image_file(), output, "cannot save the figure")
    try:
        saved = load_model_file(args.folder, trust_pickle=args.trust_pickle)
        if saved["experiment_name"] != TASK.name:
            raise RunFolderError(f"{args.folder} is a {saved['experiment_name']} run; "
                                 f"plot_generated.py draws {TASK.name} runs")
        model = TASK.build_model(saved, dtype=torch.float32)
        config = saved["config"]
        trained = int(config["seq_len"])
        seq_len = args.seq_len or trained
        freqs = (float(config["min_freq"]), float(config["max_freq"]))
    except (RunFolderError, KeyError, TypeError, ValueError) as e:
        raise UsageError(str(e) if isinstance(e, RunFolderError) else
                         f"{args.folder}: its model.pth holds no usable sine config "
                         f"({type(e).__name__}: {e})") from None
    hidden = saved["model_kwargs"].get("hidden_size", 1)
    check_memory(4 * 16 * seq_len * args.n_waves * hidden, "--seq_len times --n_waves")
    waves = data.data_generator(*freqs, args.n_waves, seq_len, "cpu")
    with torch.no_grad():
        generated, _ = model(waves["u"])
    fig, axes = plt.subplots(len(waves["freqs"]), 1, figsize=(7, 1.8 * len(waves["freqs"])),
                             sharex=True, squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(waves["y"][:, k, 0], color="0.6", lw=2, label="target")
        ax.plot(generated[:, k, 0], color="C3", lw=1, label="model")
        ax.set_ylabel(f"w={waves['freqs'][k]:.3f}")
    axes[0, 0].legend(loc="upper right", ncol=2)
    axes[0, 0].set_title(f"epoch {saved['epoch']} ({config.get('rnn_type', '?')})")
    axes[-1, 0].set_xlabel("t")
    if seq_len > trained:
        for ax in axes[:, 0]:
            ax.axvline(trained, color="k", ls=":", lw=1)
    fig.tight_layout()
    save_figure(fig, output)


if __name__ == "__main__":
    run_cli(main)
