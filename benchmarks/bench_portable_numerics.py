"""What --portable_numerics costs: seconds per sine-generator epoch with the
libraries' own code paths and pinned to the portable ones, one thread,
measured through the real command ``python sine-generator/train.py``.

    python benchmarks/bench_portable_numerics.py [--epochs 50] [--sizes 32 200]

Size 32 is the quick start's network (seq_len 100), 200 the paper's
(seq_len 400). Run it on an otherwise idle machine.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, run_cli
import torch

from common import seconds_per_epoch

SHAPES = {32: ["--seq_len", "100"], 200: ["--seq_len", "400"]}


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=Integer(1, BIG), default=50, help="epochs timed per setting")
    parser.add_argument("--sizes", type=Integer(1, BIG), nargs="+", default=[32, 200],
                        help="hidden sizes (sequence length 100 for up to 64 units, else 400)")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"sine task, one thread, {args.epochs} epoch(s) timed per setting")
    print(f"{'hidden':>7} {'default':>10} {'portable':>10} {'ratio':>6}")
    for hidden in args.sizes:
        base = ["--hidden_size", str(hidden), *SHAPES[32 if hidden <= 64 else 200],
                "--threads", "1"]
        times = [seconds_per_epoch("sine-generator", args.epochs, base + extra)
                 for extra in ([], ["--portable_numerics"])]
        print(f"{hidden:7d} {times[0]:9.3f}s {times[1]:9.3f}s {times[1] / times[0]:6.2f}",
              flush=True)


if __name__ == "__main__":
    run_cli(main)
