"""Timing helpers shared by the benchmark scripts."""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, THREADS, Integer, OneLineParser
import os
import subprocess
import sys
import tempfile
import time

import torch

from attractors.tasks import load_task_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def task_module(folder, name):
    """A task folder's ``data``, ``model`` (...) module, e.g. ("sine-generator", "model")."""
    return load_task_module(os.path.join(ROOT, folder), name)


def sine_size_parser(description):
    """A parser with the sine defaults' sizes (--hidden 200, --seq_len 400, --batch 10)."""
    import argparse
    parser = OneLineParser(description=description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=Integer(1, BIG), default=200)
    parser.add_argument("--seq_len", type=Integer(1, BIG), default=400)
    parser.add_argument("--batch", type=Integer(1, BIG), default=10)
    return parser


def task_benchmark_options(description, argv=None):
    """The options of the task benchmarks, parsed, with ``--threads``
    applied here too: ``(args, device, options for train.py)``."""
    from attractors.rnn import RNN_TYPE
    parser = OneLineParser(description=description)
    parser.add_argument("--epochs", type=Integer(1, BIG), default=3, help="epochs timed")
    parser.add_argument("--samples", type=Integer(1, BIG), default=3, help="orbit samples timed")
    parser.add_argument("--rnn_type", type=RNN_TYPE, default="LSTM")
    parser.add_argument("--threads", type=THREADS, default=0,
                        help="torch CPU threads, here and in train.py (0: torch's choice)")
    parser.add_argument("--cuda", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda:0" if args.cuda else "cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    extra = ["--rnn_type", args.rnn_type, "--threads", str(args.threads)]
    return args, device, extra + (["--cuda"] if args.cuda else [])


def seconds_per_epoch(folder, epochs, extra):
    """Through the real command ``python FOLDER/train.py``: a run of 1 + E
    epochs minus a run of 1 epoch, so that start-up costs cancel out."""
    def run(n):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(ROOT, folder, "train.py"),
                            "--epochs", str(n), "--folder", os.path.join(out, "run"), *extra],
                           check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - start
    return (run(1 + epochs) - run(1)) / epochs


def seconds_per_sample(sampler, samples, cuda=False):
    """Mean time of ``sampler.sample()`` after one warm-up call."""
    sampler.sample()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(samples):
        sampler.sample()
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / samples
