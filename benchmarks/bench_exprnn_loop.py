"""Seconds per forward + backward of OrthogonalRNN with different time loops.

    python benchmarks/bench_exprnn_loop.py [--repeats 5] [--threads 1]

Compares the plain-autograd Python loop of expRNN (`plain`:
expRNN.cell.recurrence_autograd) with the same loop under torch.jit.script
(`jit`) and, with `--variants plain jit compile`, torch.compile (`compile`:
it unrolls the whole loop, so its first call takes minutes). `hand` is the
default recurrence with its hand-written backward (bench_exprnn_backward.py
compares it with the LSTM). The first call is timed apart from the others.
Defaults are the sine-generator sizes: hidden 200, seq_len 400, batch 10,
one input. The loss is the sum of the squared outputs; its large gradient
makes the backward of matrix_exp (exprnn, dtriv) a large part of the time.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Choice, Integer, run_cli
import time
import warnings

import torch

import expRNN.cell
from common import sine_size_parser
from expRNN import OrthogonalRNN

ORIGINAL = expRNN.cell.recurrence  # the default, with the hand-written backward


def loop(x: torch.Tensor, h: torch.Tensor, B: torch.Tensor, b: torch.Tensor):
    # The body of expRNN.cell.recurrence_autograd, annotated for TorchScript.
    outputs = []
    for xt in x.unbind(0):
        z = torch.addmm(xt, h, B)
        h = torch.sign(z) * torch.relu(torch.abs(z) + b)
        outputs.append(h)
    return torch.stack(outputs), h


def make_variant(name):
    if name == "plain":
        return expRNN.cell.recurrence_autograd
    if name == "hand":
        return ORIGINAL
    if name == "jit":
        with warnings.catch_warnings():  # torch.jit.script is deprecated
            warnings.simplefilter("ignore")
            return torch.jit.script(loop)
    if name == "compile":
        return torch.compile(loop)
    raise ValueError(name)


def time_variant(name, args):
    torch.manual_seed(0)
    model = OrthogonalRNN(args.input_size, args.hidden, args.mode)
    inp = torch.randn(args.seq_len, args.batch, args.input_size)
    expRNN.cell.recurrence = make_variant(name)

    def step():
        model.zero_grad()
        out, _ = model(inp)
        out.square().sum().backward()

    start = time.perf_counter()
    step()  # warm-up; for `compile` this is where compilation happens
    first = time.perf_counter() - start
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return first, min(times), sum(times) / len(times)


def main(argv=None):
    parser = sine_size_parser(__doc__)
    parser.add_argument("--input_size", type=Integer(1, BIG), default=1)
    parser.add_argument("--mode", default="exprnn", choices=expRNN.ORTHOGONAL_TYPES)
    parser.add_argument("--repeats", type=Integer(1, BIG), default=5)
    parser.add_argument("--threads", type=Integer(1, 4096), default=1, help="torch CPU threads")
    parser.add_argument("--variants", nargs="+", default=["plain", "hand", "jit"],
                        type=Choice(("plain", "hand", "jit", "compile")),
                        help="any of plain, hand, jit, compile")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {args.threads} thread(s), hidden {args.hidden}, "
          f"seq_len {args.seq_len}, batch {args.batch}, mode {args.mode}")
    print(f"{'variant':8s} {'first call':>11s} {'best':>8s} {'mean':>8s}  (s per forward+backward)")
    for name in args.variants:
        try:
            first, best, mean = time_variant(name, args)
            print(f"{name:8s} {first:11.3f} {best:8.3f} {mean:8.3f}")
        except Exception as error:  # e.g. no C compiler for torch.compile
            print(f"{name:8s} failed: {type(error).__name__}: {error}".splitlines()[0])
        finally:
            expRNN.cell.recurrence = ORIGINAL


if __name__ == "__main__":
    run_cli(main)
