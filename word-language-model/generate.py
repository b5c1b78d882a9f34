"""Generate text with the model saved in a training run folder.

    python generate.py RUN_FOLDER [--words 100] [--temperature 1.0] [--seed 1111]
                       [--prompt "the game"] [--data DIR] [-o FILE] [--cuda]

The run folder holds the weights but not the vocabulary: the words are read
from the corpus the model was trained on (``--data``, by default
``wikitext-2/`` beside this script; LAMBADA runs need their LAMBADA folder).

Words are written as they are made (stdout is flushed every line, or every
few words), so ``| head`` sees the first ones at once and stops the rest.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (SEED, Integer, Number, OneLineParser, Text, UsageError,
                                add_threads_option, check_memory, input_folder, output_file,
                                run_cli, select_device, set_threads)
from attractors.command import output_closed
from attractors.rules import is_stream
import argparse
import errno
import os
import sys

import torch

from attractors.atomic import atomic_write
from attractors.run_files import RunFolderError, load_model_file
from attractors.tasks import import_sibling

data = import_sibling(__file__, "data")
TASK = import_sibling(__file__, "task").TASK

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wikitext-2")
MAX_WORDS = 10 ** 7      # about a minute per 100 000 words on a CPU; the text is streamed
MAX_PROMPT_WORDS = 10 ** 5


def parse(argv=None):
    parser = OneLineParser(prog="generate.py", description=__doc__.splitlines()[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", type=input_folder(),
                        help="training output folder (holding model.pth)")
    parser.add_argument("--data", type=input_folder(), default=DEFAULT_DATA,
                        help="corpus folder the model was trained on (for its vocabulary)")
    parser.add_argument("--words", type=Integer(0, MAX_WORDS), default=100,
                        help="number of words to generate")
    parser.add_argument("--temperature", type=Number(1e-3, 1e3), default=1.0,
                        help="divides the logits before sampling: lower is more predictable")
    parser.add_argument("--seed", type=SEED, default=1111, help="random seed")
    parser.add_argument("--prompt", type=Text(), default="",
                        help="words read before generating (default: start of a new line)")
    parser.add_argument("-o", "--output", type=output_file(),
                        help="write the text to this file, not to stdout")
    parser.add_argument("--cuda", action="store_true", help="run on the GPU cuda:0")
    parser.add_argument("--trust_pickle", action="store_true",
                        help="load a model.pth of the original code, which holds pickled "
                             "objects (only for files you trust)")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
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
    if len(words) > MAX_PROMPT_WORDS:
        raise UsageError(f"--prompt has {len(words)} words; at most {MAX_PROMPT_WORDS} are read")
    unknown = [w for w in words if w not in dictionary]
    if unknown and "<unk>" not in dictionary:
        raise UsageError(f"prompt word(s) not in the vocabulary: {', '.join(unknown)}")
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10
                                           else "")
        print(f"generate.py: read as <unk> (not in the vocabulary): {shown}", file=sys.stderr)
    ids = [dictionary.word2idx.get(w, dictionary.word2idx.get("<unk>")) for w in words]
    if not ids:  # no prompt: start as after the end of a line
        ids = [dictionary.word2idx[data.EOS]] if data.EOS in dictionary else [0]
    return ids


@torch.no_grad()
def generate(model, ids, n_words, temperature, device):
    """Read ``ids``, then draw ``n_words`` words one at a time from the
    softmax of the logits divided by ``temperature``: yields each new id
    as soon as it is drawn."""
    logits, state = model(torch.tensor(ids, device=device).view(-1, 1))
    for _ in range(n_words):
        probs = torch.softmax(logits[-1, 0].double() / temperature, dim=-1)
        word = torch.multinomial(probs, 1)
        yield int(word)
        logits, state = model(word.view(1, 1), state)


def to_text(words):
    """Words joined by spaces, a new line in place of every <eos>."""
    text = "".join(_pieces(words))
    return text[:-1] if words and words[-1] != data.EOS else text


def _pieces(words):
    """The text of ``words`` piece by piece, as :func:`to_text` joins
    them, and a new line at the end."""
    line_start = True
    for word in words:
        if word == data.EOS:
            yield "\n"
            line_start = True
        else:
            yield word if line_start else " " + word
            line_start = False
    if not line_start:
        yield "\n"


def write_stream(pieces, out):
    """Write the text to ``out`` as it comes, flushed every line (or every
    50 words); stops early once the reader of stdout went away."""
    n = 0
    for piece in pieces:
        out.write(piece)
        n += 1
        if piece == "\n" or n % 50 == 0:
            out.flush()
            if output_closed():
                return False
    out.flush()
    return True


def main(argv=None):
    args = parse(argv)
    device = select_device(args.cuda)
    model, config = load_model(args.folder, device, args.trust_pickle)
    try:
        corpus = data.load_corpus(args.data, lambada=bool(config.get("lambada", False)))
    except data.DatasetError as e:
        raise UsageError(str(e)) from None
    dictionary = corpus.dictionary
    if len(dictionary) != model.n_words:
        raise UsageError(f"the corpus in {args.data} has {len(dictionary)} words but the "
                         f"model was trained on {model.n_words}: give the right --data")
    torch.manual_seed(args.seed)
    ids = prompt_ids(args.prompt, dictionary)
    check_memory(8 * len(ids) * model.n_words, "--prompt")   # its logits, at once
    new = (dictionary.idx2word[i] for i in generate(model, ids, args.words, args.temperature,
                                                    device))
    pieces = _pieces(_chain(args.prompt.split(), new))
    if args.output and is_stream(args.output):      # /dev/stdout, a pipe: as it comes
        with open_stream(args.output) as f:
            write_stream(pieces, f)
    elif args.output:
        # written whole or not at all: a Ctrl-C leaves the previous file
        atomic_write(args.output, lambda f: write_stream(pieces, _Utf8(f)), make_folders=True)
        print(f"Saved {args.output}")
    else:
        write_stream(pieces, sys.stdout)
    return args.output


def open_stream(path):
    """``path``, a device or a named pipe, open for writing text; a pipe
    that no process reads is an error, not a wait."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise UsageError(f"-o {path} is a pipe that no process reads") from None
        raise
    os.set_blocking(fd, True)
    return os.fdopen(fd, "w", encoding="utf-8")


def _chain(first, rest):
    yield from first
    yield from rest


class _Utf8:
    """A text view of a binary file, for :func:`write_stream`."""

    def __init__(self, f):
        self.f = f

    def write(self, text):
        self.f.write(text.encode("utf-8"))

    def flush(self):
        self.f.flush()


if __name__ == "__main__":
    run_cli(main)
