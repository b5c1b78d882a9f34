"""Seconds per epoch of the default word-language-model run (LSTM, 800 units,
batch 100, windows of 70 words) on WikiText-2, on this machine.

    python benchmarks/bench_word_language_model.py [--data DIR] [--batches 100] [--cuda]
                                                    [--rnn_type LSTM] [--orbit]

A full epoch on a CPU takes hours, so ``--batches`` training windows are
timed (after ``--warmup`` untimed ones) and the epoch is extrapolated from the
number of windows per epoch; the validation pass is timed in full. The data
folder is copied to a temporary folder first: the loader writes its token
cache beside the text, and the shared copy must stay as it is.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, input_folder, run_cli
from attractors.rnn import RNN_TYPE
import argparse
import math
import os
import shutil
import tempfile
import time

import torch

from common import ROOT, task_module

data = task_module("word-language-model", "data")
model_py = task_module("word-language-model", "model")
evaluation = task_module("word-language-model", "evaluation")
WIKITEXT_FILES, batchify, load_corpus = data.WIKITEXT_FILES, data.batchify, data.load_corpus
WordLanguageModel = model_py.WordLanguageModel
# The defaults of word-language-model/train.py (its --help lists them).
DEFAULTS = {"batch_size": 100, "seq_len": 70, "embed_size": 800, "hidden_size": 800,
            "num_layers": 1, "dropout": 0.5, "tied_weights": False, "K": 100, "init": "henaff",
            "lr": 0.001, "clip_value": 0.25, "seed": 2, "n_sequences_orbit": 5,
            "seq_len_orbit": 1600, "burnout_orbit": 0, "std_orbit": 100.0,
            "orbit_use_feedback": False}
MODEL_KWARGS = ("embed_size", "hidden_size", "rnn_type", "num_layers", "dropout",
                "tied_weights", "K", "init")

DEFAULT_DATA = os.path.join(ROOT, "word-language-model", "wikitext-2")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - start, result


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=input_folder(), default=DEFAULT_DATA,
                        help="WikiText-2 folder (read only)")
    parser.add_argument("--batches", type=Integer(1, BIG), default=100,
                        help="training windows timed")
    parser.add_argument("--warmup", type=Integer(0, BIG), default=2, help="untimed windows first")
    parser.add_argument("--rnn_type", type=RNN_TYPE, default="LSTM")
    parser.add_argument("--orbit", action="store_true",
                        help="also time one orbit sample with the default orbit settings")
    parser.add_argument("--cuda", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device("cuda:0" if args.cuda else "cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")

    config = {**DEFAULTS, "rnn_type": args.rnn_type}
    bs, seq_len = config["batch_size"], config["seq_len"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in WIKITEXT_FILES:
            shutil.copy(os.path.join(args.data, name), tmp)
        seconds, corpus = timed(lambda: load_corpus(tmp), torch.device("cpu"))
        print(f"tokenising: {seconds:.2f} s ({len(corpus.dictionary)} words, "
              f"{corpus.train.numel()} training tokens); from the cache: "
              f"{timed(lambda: load_corpus(tmp), torch.device('cpu'))[0]:.2f} s")

    train_data = batchify(corpus.train, bs).to(device)
    valid_data = batchify(corpus.valid, bs).to(device)
    per_epoch = math.ceil((train_data.size(0) - 1) / seq_len)
    torch.manual_seed(config["seed"])
    kwargs = {"n_words": len(corpus.dictionary), **{k: config[k] for k in MODEL_KWARGS}}
    model = WordLanguageModel(**kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), config["lr"])

    def train_windows(n, start=0):
        """The training loop of train.py, without its run folder."""
        model.train()
        source = train_data[start * seq_len:(start + n) * seq_len + 1]
        state = model.rnn.initial_state(source.size(1), source.device)
        for inp, target in data.iter_batches(source, seq_len):
            logits, state = model(inp, model_py.detach_state(state))
            loss = model_py.cross_entropy_sum_(logits, target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config["clip_value"])
            optimizer.step()

    train_windows(args.warmup)
    seconds, _ = timed(lambda: train_windows(args.batches, args.warmup), device)
    per_batch = seconds / args.batches
    valid_seconds, _ = timed(lambda: evaluation.evaluate(model, valid_data, seq_len), device)
    print(f"{args.rnn_type} {config['hidden_size']} units, embedding {config['embed_size']}, "
          f"batch {bs}, windows of {seq_len}: {per_batch:.3f} s per training window "
          f"({args.batches} timed), {100 * per_batch:.1f} s per 100")
    print(f"{per_epoch} training windows per epoch: {per_batch * per_epoch:.0f} s of training, "
          f"{valid_seconds:.1f} s of validation, about {per_batch * per_epoch + valid_seconds:.0f}"
          " s per epoch (plus a test pass, as long as validation, when the model improves)")

    if args.orbit:
        orbit_config = {**config, "interval_orbit": 1}
        sampler = model_py.make_orbit_sampler(model, corpus.dictionary, orbit_config, device)
        seconds, _ = timed(sampler.sample, device)
        print(f"orbit sample (2 inputs x {config['n_sequences_orbit']} states, "
              f"{config['seq_len_orbit']} steps, {sampler.max_batch} trajectories at a time): "
              f"{seconds:.1f} s")


if __name__ == "__main__":
    run_cli(main)
