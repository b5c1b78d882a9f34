"""Corpora for the word-level language model: WikiText-2 and LAMBADA.

WikiText-2 lives in a folder holding ``train.txt``, ``valid.txt`` and
``test.txt``. Every line gives the tokens ``line.split()`` followed by
``<eos>``; one dictionary covers the three files, words numbered in order of
first appearance (train, then valid, then test).

Tokenising is done once: the result is cached in the data folder
(``corpus.pt``, or ``corpus-lambada.pt``) as plain tensors and lists, so that
``torch.load(..., weights_only=True)`` reads it. The cache remembers the size
and modification time of every source file and is rebuilt when one of them
changes, or when asked (``rebuild=True``, the ``--corpus`` flag).

Batching follows the usual layout: ``batchify`` cuts the token stream into
``batch_size`` contiguous columns, ``get_batch`` takes windows of ``seq_len``
steps whose targets are the inputs shifted by one step.
"""
import os
import re
import shlex
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from attractors.run_files import save_torch

EOS = "<eos>"
WIKITEXT_FILES = ("train.txt", "valid.txt", "test.txt")
# File names of the LAMBADA release (lambada-dataset.tar.gz; its train-novels.tar
# unpacks to train-novels/<genre>/<novel>.txt), as the original code used them.
LAMBADA_VOCAB = "lambada-vocab-2.txt"
LAMBADA_TRAIN = "train-novels"
LAMBADA_VALID = "lambada_development_plain_text.txt"
LAMBADA_TEST = "lambada_test_plain_text.txt"
LAMBADA_URL = "https://zenodo.org/record/2630551"
CACHE_FILES = {"wikitext": "corpus.pt", "lambada": "corpus-lambada.pt"}
CACHE_VERSION = 1


class DatasetError(Exception):
    """A corpus that cannot be used; the message says why, in one line."""


class DatasetMissing(DatasetError, FileNotFoundError):
    """The data folder, or a file the corpus needs, is not there."""


class Dictionary:
    """Two-way map between words and ids; ids follow the order of insertion."""

    def __init__(self, words=()):
        self.word2idx = {}
        self.idx2word = []
        for word in words:
            self.add_word(word)

    def add_word(self, word):
        """Return the id of ``word``, giving it the next free id if it is new."""
        idx = self.word2idx.get(word)
        if idx is None:
            idx = self.word2idx[word] = len(self.idx2word)
            self.idx2word.append(word)
        return idx

    def __len__(self):
        return len(self.idx2word)

    def __contains__(self, word):
        return word in self.word2idx


@dataclass
class Corpus:
    """A tokenised corpus.

    ``train`` is a 1-D int64 tensor of word ids. For WikiText-2, ``valid`` and
    ``test`` are too. For LAMBADA they are lists of 1-D int64 tensors, one per
    passage, of which only the last word is to be predicted (see
    ``lambada_example``). ``from_cache`` tells whether the cache was used;
    ``stats`` holds counts worth reporting (LAMBADA: words dropped because
    they are not in the vocabulary, passages skipped).
    """
    dictionary: Dictionary
    train: torch.Tensor
    valid: object
    test: object
    lambada: bool = False
    from_cache: bool = False
    stats: dict = field(default_factory=dict)


# ---------------------------------------------------------------- loading

def load_corpus(data_dir, rebuild=False, lambada=False):
    """Load WikiText-2 (or LAMBADA with ``lambada=True``) from ``data_dir``.

    Uses the cache in ``data_dir`` when it matches the source files, otherwise
    tokenises the text and writes the cache. Raises ``DatasetMissing`` when
    the folder or one of its files is absent, ``DatasetError`` when a file
    is not UTF-8 text.
    """
    try:
        return _load_corpus(data_dir, rebuild, lambada)
    except UnicodeDecodeError as e:
        raise DatasetError(f"a corpus file in {data_dir} is not UTF-8 text ({e.reason} at "
                           f"byte {e.start})") from None


def _load_corpus(data_dir, rebuild, lambada):
    if lambada:
        return load_lambada(data_dir, rebuild)
    sources = _check_files(data_dir, WIKITEXT_FILES, "WikiText-2", _wikitext_hint)
    fingerprint = _fingerprint(data_dir, sources)
    blob = None if rebuild else _read_cache(data_dir, "wikitext", fingerprint)
    from_cache = blob is not None
    if blob is None:
        blob = _tokenise_wikitext(data_dir)
        blob.update(version=CACHE_VERSION, kind="wikitext", sources=fingerprint)
        _write_cache(data_dir, "wikitext", blob)
    return Corpus(Dictionary(blob["words"]), blob["train"], blob["valid"], blob["test"],
                  lambada=False, from_cache=from_cache)


def load_lambada(data_dir, rebuild=False):
    """Load LAMBADA from ``data_dir`` (same caching rules as ``load_corpus``).

    The dictionary is the vocabulary file (``word<TAB>count`` per line, in file
    order) plus ``<eos>`` if absent. The training stream is every ``*.txt``
    under ``train-novels/`` (sorted paths), each line followed by ``<eos>``.
    Each line of the development and test files is one passage, without
    ``<eos>``. As in the original code, a few contractions are mapped to words
    of the vocabulary (``n't`` -> ``not``, ``'s`` -> ``is``, ``'re`` -> ``are``,
    ``'ve`` -> ``have``, ``wo`` -> ``will``), a word not in the vocabulary is
    tried again without punctuation, and is dropped if still unknown. Unlike
    the original, a passage whose last word is dropped (or that keeps fewer
    than two words) is skipped: its target could not be predicted.
    """
    names = (LAMBADA_VOCAB, LAMBADA_TRAIN, LAMBADA_VALID, LAMBADA_TEST)
    _check_files(data_dir, names, "LAMBADA", _lambada_hint)
    novels = []
    for root, dirs, files in os.walk(os.path.join(data_dir, LAMBADA_TRAIN)):
        dirs.sort()
        novels += [os.path.join(root, f) for f in sorted(files) if f.endswith(".txt")]
    sources = [os.path.join(data_dir, n) for n in (LAMBADA_VOCAB, LAMBADA_VALID, LAMBADA_TEST)]
    fingerprint = _fingerprint(data_dir, sources + novels)
    blob = None if rebuild else _read_cache(data_dir, "lambada", fingerprint)
    from_cache = blob is not None
    if blob is None:
        blob = _tokenise_lambada(data_dir, novels)
        blob.update(version=CACHE_VERSION, kind="lambada", sources=fingerprint)
        _write_cache(data_dir, "lambada", blob)
    valid = list(torch.split(blob["valid"], blob["valid_lengths"].tolist()))
    test = list(torch.split(blob["test"], blob["test_lengths"].tolist()))
    return Corpus(Dictionary(blob["words"]), blob["train"], valid, test, lambada=True,
                  from_cache=from_cache, stats=dict(blob["stats"]))


def _download_command(data_dir):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "download.py")
    try:
        rel = os.path.relpath(script)
    except ValueError:  # another drive on Windows
        rel = script
    script = script if rel.startswith("..") else rel
    return f"python {shlex.quote(script)} {shlex.quote(data_dir)}"


def _wikitext_hint(folder):
    return (f"put train.txt, valid.txt and test.txt (WikiText-2) in {folder}, "
            f"or download them there with: {_download_command(folder)}")


def _lambada_hint(folder):
    return (f"put {LAMBADA_VOCAB}, {LAMBADA_TRAIN}/, {LAMBADA_VALID} and {LAMBADA_TEST} "
            f"in {folder} (unpack lambada-dataset.tar.gz from {LAMBADA_URL} there, "
            f"then train-novels.tar from inside it)")


def _check_files(data_dir, names, what, hint):
    """Return the paths of ``names`` in ``data_dir``; raise DatasetMissing if any is absent."""
    folder = os.path.abspath(data_dir)
    if not os.path.isdir(folder):
        raise DatasetMissing(f"{what} data folder not found: {folder}; {hint(folder)}")
    paths = [os.path.join(folder, n) for n in names]
    missing = [n for n, p in zip(names, paths) if not os.path.exists(p)]
    if missing:
        raise DatasetMissing(f"{what} file(s) missing from {folder}: {', '.join(missing)}; "
                             f"{hint(folder)}")
    return paths


# ---------------------------------------------------------------- tokenising

def _read_tokens(path):
    """Tokens of a text file: for each line, ``line.split()`` then ``<eos>``.

    Joining the lines with `` <eos> `` and splitting once gives the same list
    as a loop over the lines, many times faster.
    """
    with open(path, encoding="utf-8") as f:  # universal newlines, like `for line in f`
        text = f.read()
    if not text:
        return []
    if text.endswith("\n"):
        text = text[:-1]
    return (text.replace("\n", f" {EOS} ") + f" {EOS}").split()


def _tokenise_wikitext(data_dir):
    dictionary = Dictionary()
    blob = {}
    for name in WIKITEXT_FILES:
        tokens = _read_tokens(os.path.join(data_dir, name))
        for word in dict.fromkeys(tokens):  # distinct words, in order of first appearance
            dictionary.add_word(word)
        ids = np.fromiter(map(dictionary.word2idx.__getitem__, tokens), np.int64, len(tokens))
        blob[name[:-len(".txt")]] = torch.from_numpy(ids)
    blob["words"] = dictionary.idx2word
    return blob


_CONTRACTIONS = {"n't": "not", "'s": "is", "'re": "are", "'ve": "have", "wo": "will"}
_PUNCTUATION = re.compile(r"[^\w\s]")


class _LambadaIds:
    """Map a raw LAMBADA token to a vocabulary id, or -1 to drop it (memoised)."""

    def __init__(self, word2idx):
        self.word2idx = word2idx
        self.memo = {}

    def __call__(self, token):
        idx = self.memo.get(token)
        if idx is None:
            word = _CONTRACTIONS.get(token, token)
            idx = self.word2idx.get(word)
            if idx is None:
                idx = self.word2idx.get(_PUNCTUATION.sub("", word), -1)
            self.memo[token] = idx
        return idx


def _tokenise_lambada(data_dir, novels):
    dictionary = Dictionary()
    with open(os.path.join(data_dir, LAMBADA_VOCAB), encoding="utf-8") as f:
        for line in f:
            word = line.strip().split("\t")[0]
            if word:
                dictionary.add_word(word)
    dictionary.add_word(EOS)
    to_id = _LambadaIds(dictionary.word2idx)

    chunks, dropped = [], 0
    for path in novels:
        tokens = _read_tokens(path)
        ids = np.fromiter(map(to_id, tokens), np.int64, len(tokens))
        kept = ids[ids >= 0]
        dropped += len(ids) - len(kept)
        chunks.append(kept)
    train = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)

    blob = {"words": dictionary.idx2word, "train": torch.from_numpy(train)}
    stats = {"train_dropped_words": dropped}
    for key, name in (("valid", LAMBADA_VALID), ("test", LAMBADA_TEST)):
        passages, dropped, skipped = [], 0, 0
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            for line in f:
                tokens = line.split()
                if not tokens:
                    continue
                ids = [to_id(t) for t in tokens]
                kept = [i for i in ids if i >= 0]
                dropped += len(ids) - len(kept)
                if ids[-1] < 0 or len(kept) < 2:
                    skipped += 1
                    continue
                passages.append(kept)
        lengths = [len(p) for p in passages]
        flat = [i for p in passages for i in p]
        blob[key] = torch.tensor(flat, dtype=torch.int64)
        blob[key + "_lengths"] = torch.tensor(lengths, dtype=torch.int64)
        stats[key + "_dropped_words"] = dropped
        stats[key + "_skipped_passages"] = skipped
    blob["stats"] = stats
    return blob


# ---------------------------------------------------------------- cache

def _fingerprint(data_dir, paths):
    """Size and modification time (ns) of each source, keyed by path relative to data_dir."""
    out = {}
    for path in paths:
        st = os.stat(path)
        out[os.path.relpath(path, data_dir).replace(os.sep, "/")] = [st.st_size, st.st_mtime_ns]
    return out


def _read_cache(data_dir, kind, fingerprint):
    """The cached blob if it exists, loads safely and matches ``fingerprint``; else None."""
    path = os.path.join(data_dir, CACHE_FILES[kind])
    if not os.path.exists(path):
        return None
    try:
        blob = torch.load(path, weights_only=True)
    except Exception:  # truncated, from another program, an old pickle: rebuild it
        return None
    if (not isinstance(blob, dict) or blob.get("version") != CACHE_VERSION
            or blob.get("kind") != kind or blob.get("sources") != fingerprint):
        return None
    return blob


_warned_folders = set()


def _write_cache(data_dir, kind, blob):
    """Write the cache atomically; if the folder is not writable, warn once and go on."""
    try:
        save_torch(blob, os.path.join(data_dir, CACHE_FILES[kind]))
    except OSError as err:
        folder = os.path.abspath(data_dir)
        if folder not in _warned_folders:
            _warned_folders.add(folder)
            warnings.warn(f"could not write the corpus cache in {folder} ({err}); "
                          "the text will be tokenised again next time", RuntimeWarning,
                          stacklevel=3)


# ---------------------------------------------------------------- batching

def batchify(data, batch_size):
    """Cut a 1-D token stream into ``batch_size`` contiguous columns.

    The stream is trimmed to a multiple of ``batch_size``; the result has shape
    ``(n_steps, batch_size)`` and column ``j`` is the ``j``-th chunk of the text,
    so the hidden state of column ``j`` can be carried from window to window.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n_steps = data.numel() // batch_size
    if n_steps < 2:
        raise ValueError(f"{data.numel()} tokens are too few for batch_size {batch_size}")
    return data[:n_steps * batch_size].reshape(batch_size, n_steps).t().contiguous()


def get_batch(source, i, seq_len):
    """Window of ``seq_len`` steps from row ``i`` of a batchified ``source``.

    Returns ``(inp, target)``, both of shape ``(length, batch_size)`` (the
    target is not flattened): ``target[t] = source[i + t + 1]`` is the word
    that follows ``inp[t]``. The last window may be shorter:
    ``length = min(seq_len, n_steps - 1 - i)``.
    """
    length = min(seq_len, source.size(0) - 1 - i)
    if length < 1:
        raise IndexError(f"window start {i} leaves no target in {source.size(0)} steps")
    return source[i:i + length], source[i + 1:i + 1 + length]


def iter_batches(source, seq_len, first=0):
    """The windows of a batchified ``source``, in order, from window ``first``:
    ``get_batch`` at 0, seq_len, ..."""
    for i in range(first * seq_len, source.size(0) - 1, seq_len):
        yield get_batch(source, i, seq_len)


def lambada_example(passage):
    """Input and target for one LAMBADA passage (evaluate each from a fresh state).

    Returns ``inp`` of shape ``(len(passage) - 1, 1)`` (the context, batch of
    one) and ``target`` of shape ``(1,)`` (the last word): only the model's
    output at the last step is scored.
    """
    return passage[:-1].reshape(-1, 1), passage[-1:]
