"""Generate text with the model saved in a training run folder.

    python generate.py RUN_FOLDER [--words 100] [--temperature 1.0] [--seed 1111]
                       [--prompt "the game"] [--data DIR] [-o FILE] [--cuda]

The run folder holds the weights but not the vocabulary: the words are read
from the corpus the model was trained on (``--data``, by default
``wikitext-2/`` beside this script; LAMBADA runs need their LAMBADA folder).
"""
import argparse
import os
import sys

import torch

from attractors.options import (POSITIVE_FLOAT, SEED, check_output_file, OneLineParser, UsageError, add_threads_option, run_cli,
                                select_device, set_threads)
from attractors.run_files import RunFolderError, load_model_file
from attractors.tasks import import_sibling

data = import_sibling(__file__, "data")
TASK = import_sibling(__file__, "task").TASK

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wikitext-2")


def parse(argv=None):
    parser = OneLineParser(prog="generate.py", description=__doc__.splitlines()[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", help="training output folder (holding model.pth)")
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="corpus folder the model was trained on (for its vocabulary)")
    parser.add_argument("--words", type=int, default=100, help="number of words to generate")
    parser.add_argument("--temperature", type=POSITIVE_FLOAT, default=1.0,
                        help="divides the logits before sampling: lower is more predictable")
    parser.add_argument("--seed", type=SEED, default=1111, help="random seed")
    parser.add_argument("--prompt", default="",
                        help="words read before generating (default: start of a new line)")
    parser.add_argument("-o", "--output", help="write the text to this file, not to stdout")
    parser.add_argument("--cuda", action="store_true", help="run on the GPU cuda:0")
    parser.add_argument("--trust_pickle", action="store_true",
                        help="load a model.pth of the original code, which holds pickled "
                             "objects (only for files you trust)")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    check_output_file(args.output)
    if args.words < 0:
        raise UsageError("--words must be >= 0")
    if not args.temperature > 0:
        raise UsageError("--temperature must be positive")
    return args


def load_model(folder, device, trust_pickle=False):
    """The saved model (in eval mode) and the config of its run."""
    try:
        saved = load_model_file(folder, map_location=device, trust_pickle=trust_pickle)
        if saved["experiment_name"] != TASK.name:
            raise UsageError(f"{folder} is a {saved['experiment_name']} run, "
                             "not a word-language-model run")
        return TASK.build_model(saved, device, torch.float32), saved["config"]
    except RunFolderError as e:
        raise UsageError(str(e)) from None


def prompt_ids(prompt, dictionary):
    """Word ids of the prompt; a word outside the vocabulary becomes <unk>."""
    words = prompt.split()
    unknown = [w for w in words if w not in dictionary]
    if unknown and "<unk>" not in dictionary:
        raise UsageError(f"prompt word(s) not in the vocabulary: {', '.join(unknown)}")
    if unknown:
        print(f"generate.py: read as <unk> (not in the vocabulary): {', '.join(unknown)}",
              file=sys.stderr)
    ids = [dictionary.word2idx.get(w, dictionary.word2idx.get("<unk>")) for w in words]
    if not ids:  # no prompt: start as after the end of a line
        ids = [dictionary.word2idx[data.EOS]] if data.EOS in dictionary else [0]
    return ids


@torch.no_grad()
def generate(model, ids, n_words, temperature, device):
    """Read ``ids``, then draw ``n_words`` words one at a time from the
    softmax of the logits divided by ``temperature``. Returns the new ids."""
    logits, state = model(torch.tensor(ids, device=device).view(-1, 1))
    out = []
    for _ in range(n_words):
        probs = torch.softmax(logits[-1, 0].double() / temperature, dim=-1)
        word = torch.multinomial(probs, 1)
        out.append(int(word))
        logits, state = model(word.view(1, 1), state)
    return out


def to_text(words):
    """Words joined by spaces, a new line in place of every <eos>."""
    lines, line = [], []
    for word in words:
        if word == data.EOS:
            lines.append(" ".join(line))
            line = []
        else:
            line.append(word)
    return "\n".join(lines + [" ".join(line)])


def main(argv=None):
    args = parse(argv)
    device = select_device(args.cuda)
    model, config = load_model(args.folder, device, args.trust_pickle)
    try:
        corpus = data.load_corpus(args.data, lambada=config.get("lambada", False))
    except data.DatasetError as e:
        raise UsageError(str(e)) from None
    dictionary = corpus.dictionary
    if len(dictionary) != model.n_words:
        raise UsageError(f"the corpus in {args.data} has {len(dictionary)} words but the "
                         f"model was trained on {model.n_words}: give the right --data")
    torch.manual_seed(args.seed)
    ids = prompt_ids(args.prompt, dictionary)
    new = generate(model, ids, args.words, args.temperature, device)
    words = args.prompt.split() + [dictionary.idx2word[i] for i in new]
    text = to_text(words)
    if not text.endswith("\n"):
        text += "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"Saved {args.output}")
    else:
        sys.stdout.write(text)
    return text


if __name__ == "__main__":
    run_cli(main)
