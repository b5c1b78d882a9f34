"""Figure e: a small LSTM language model on (the start of) WikiText-2: the
orbit diagram of the mean logit under a constant word, over a few epochs.

    python figures/fig_e_language_model.py [--data word-language-model/wikitext-2]
"""
import os

from common import (BIG, ROOT, Integer, UsageError, input_folder, output, parse, parser, run,
                    run_cli, train)

# Seed 2: one fixed point under each word at the end under every setting of
# check_robustness.py (seed 1 ends on three under word id 1).
FULL = ["--embed_size", "64", "--hidden_size", "64", "--batch_size", "20", "--seq_len", "35",
        "--dropout", "0.2", "--epochs", "6", "--interval_orbit", "1", "--n_sequences_orbit", "3",
        "--seq_len_orbit", "800", "--burnout_orbit", "400", "--lr", "0.003", "--seed", "2"]
TINY = ["--embed_size", "8", "--hidden_size", "8", "--batch_size", "4", "--seq_len", "10",
        "--epochs", "2", "--interval_orbit", "1", "--n_sequences_orbit", "2",
        "--seq_len_orbit", "30", "--burnout_orbit", "10"]


def small_corpus(source, target, lines):
    """The first ``lines`` lines of each of train/valid/test.txt."""
    os.makedirs(target, exist_ok=True)
    for name, n in zip(("train.txt", "valid.txt", "test.txt"), lines):
        try:
            with open(os.path.join(source, name), encoding="utf-8") as f:
                head = [line for _, line in zip(range(n), f)]
        except UnicodeDecodeError:
            raise UsageError(f"{os.path.join(source, name)} is not UTF-8 text") from None
        path = os.path.join(target, name)
        text = "".join(head)
        if not os.path.isfile(path) or open(path, encoding="utf-8").read() != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return target


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=input_folder(),
                   default=os.path.join(ROOT, "word-language-model", "wikitext-2"),
                   help="folder with WikiText-2's train.txt, valid.txt, test.txt")
    p.add_argument("--lines", type=Integer(1, BIG), nargs=3, default=[3000, 400, 400],
                   help="lines of train, valid, test used")
    options = parse(p, argv)
    if not options.data or not os.path.isfile(os.path.join(options.data, "train.txt")):
        print("figure e skipped: give --data DIR, a folder with WikiText-2's train.txt, "
              "valid.txt and test.txt (see word-language-model/download.py)")
        return None
    corpus = small_corpus(options.data, os.path.join(options.runs, "wikitext-small"),
                          [min(n, 200) for n in options.lines] if options.tiny else options.lines)
    folder = train("word-language-model", (TINY if options.tiny else FULL)
                   + ["--data", corpus, "--verbose", "0"],
                   os.path.join(options.runs, "language_model_lstm"))
    run("plot_orbit_diagram.py", os.path.join(folder, "orbit_per_epoch_diagram.pth"),
        "-t", "orbit1d", "-o", output(options, "fig_e_language_model.png"),
        "--dpi", options.dpi, "--alpha", "0.3",
        "--title", "e. LSTM language model: mean logit per epoch")
    return folder


if __name__ == "__main__":
    run_cli(main)
