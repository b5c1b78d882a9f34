"""Seconds per sine-generator epoch with one PyTorch thread and with all of
them (PyTorch's default, one per core), for hidden sizes 32, 200 and 800,
each measured through the real command ``python sine-generator/train.py``.

    python benchmarks/bench_threads.py [--epochs 1] [--sizes 32 200 800]

Run it on an otherwise idle machine: with another busy process on the
cores, the all-threads figures get much worse (that is the point of
--threads 1 for runs started side by side, see docs/options.md).
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, run_cli
import os

import torch

from common import seconds_per_epoch


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=Integer(1, BIG), default=1,
                        help="epochs timed per setting")
    parser.add_argument("--sizes", type=Integer(1, BIG), nargs="+", default=[32, 200, 800],
                        help="hidden sizes")
    args = parser.parse_args(argv)
    cores = os.cpu_count()
    print(f"torch {torch.__version__}, {cores} cores; sine defaults (LSTM, seq_len 400, "
          f"100 sequences, batch 10), {args.epochs} epoch(s) timed per setting")
    print(f"{'hidden':>7} {'1 thread':>10} {f'{torch.get_num_threads()} threads':>11} "
          f"{'ratio':>6}")
    for hidden in args.sizes:
        times = [seconds_per_epoch("sine-generator", args.epochs,
                                   ["--hidden_size", str(hidden), "--threads", str(threads)])
                 for threads in (1, 0)]
        print(f"{hidden:7d} {times[0]:9.2f}s {times[1]:10.2f}s {times[0] / times[1]:6.2f}",
              flush=True)


if __name__ == "__main__":
    run_cli(main)
