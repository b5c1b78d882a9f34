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

from attractors.options import UsageError, run_cli, select_device
from attractors.runs import RunFolderError, load_checkpoint
from data import EOS, DatasetMissing, load_corpus
from model import WordLanguageModel

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wikitext-2")


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", help="training output folder (holding model.pth)")
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="corpus folder the model was trained on (for its vocabulary)")
    parser.add_argument("--words", type=int, default=100, help="number of words to generate")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="divides the logits before sampling: lower is more predictable")
    parser.add_argument("--seed", type=int, default=1111, help="random seed")
    parser.add_argument("--prompt", default="",
                        help="words read before generating (default: start of a new line)")
    parser.add_argument("-o", "--output", help="write the text to this file, not to stdout")
    parser.add_argument("--cuda", action="store_true", help="run on the GPU cuda:0")
    args = parser.parse_args(argv)
    if args.words < 0:
        raise UsageError("--words must be >= 0")
    if not args.temperature > 0:
        raise UsageError("--temperature must be positive")
    return args


def load_model(folder, device):
    """The saved model (in eval mode) and the config of its run."""
    try:
        checkpoint = load_checkpoint(folder, map_location=device)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    if checkpoint["experiment_name"] != "word-language-model":
        raise UsageError(f"{folder} is a {checkpoint['experiment_name']} run, "
                         "not a word-language-model run")
    model = WordLanguageModel(**checkpoint["model_kwargs"]).to(device)
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint["config"]


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
        ids = [dictionary.word2idx[EOS]] if EOS in dictionary else [0]
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
        if word == EOS:
            lines.append(" ".join(line))
            line = []
        else:
            line.append(word)
    return "\n".join(lines + [" ".join(line)])


def main(argv=None):
    args = parse(argv)
    device = select_device(args.cuda)
    model, config = load_model(args.folder, device)
    try:
        corpus = load_corpus(args.data, lambada=config.get("lambada", False))
    except DatasetMissing as e:
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
