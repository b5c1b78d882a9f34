"""Time the temporal-order data generator against the old step-by-step loop.

    python benchmarks/bench_temporal_order_data.py [--n_sequences 1000] [--repeat 3]

Prints the best time of each way of making the same data, and checks that
they agree bit for bit.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, SEED, Integer, OneLineParser, run_cli
import time

import torch

from common import task_module

data = task_module("sequence-classification", "data")


def loop_per_step(*args):
    """As the original code did it: one scalar randint per time step."""
    u, y = data.reference_generator(*args)
    return torch.tensor(u, dtype=torch.float32), torch.tensor(y)


def loop_per_sequence(*args):
    """The obvious middle way: one randint(size=seq_len) per sequence."""
    u, y = data.reference_generator(*args, per_sequence=True)
    return torch.tensor(u, dtype=torch.float32), torch.tensor(y)


def vectorised(*args):
    out = data.data_generator(*args, "cpu")
    return out["u"], out["y"]


def best_time(fn, args, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n_symbols", type=Integer(1, BIG), default=2, help="default: 2")
    parser.add_argument("--n_distractors", type=Integer(1, BIG), default=4, help="default: 4")
    parser.add_argument("--position_symbols_start", type=Integer(0, BIG), nargs="+",
                        default=[9, 39],
                        help="default: 9 39")
    parser.add_argument("--position_symbols_len", type=Integer(1, BIG), default=10,
                        help="default: 10")
    parser.add_argument("--seq_len", type=Integer(1, BIG), default=200, help="default: 200")
    parser.add_argument("--n_sequences", type=Integer(1, BIG), default=1000, help="default: 1000")
    parser.add_argument("--seed", type=SEED, default=2, help="default: 2")
    parser.add_argument("--repeat", type=Integer(1, 1000), default=3,
                        help="best of this many runs (default: 3)")
    args = parser.parse_args(argv)

    intervals = data.windows(args.position_symbols_start, args.position_symbols_len)
    problem = (args.n_symbols, args.n_distractors, intervals, args.seq_len,
               args.n_sequences, args.seed)
    print(f"n_symbols {args.n_symbols}, n_distractors {args.n_distractors}, windows {intervals}, "
          f"seq_len {args.seq_len}, {args.n_sequences} sequences, seed {args.seed}, "
          f"best of {args.repeat}")
    t_old, (u_old, y_old) = best_time(loop_per_step, problem, args.repeat)
    t_seq, (u_seq, y_seq) = best_time(loop_per_sequence, problem, args.repeat)
    t_new, (u_new, y_new) = best_time(vectorised, problem, args.repeat)
    same = all(torch.equal(a, b) for a, b in [(u_old, u_new), (y_old, y_new),
                                             (u_seq, u_new), (y_seq, y_new)])
    print(f"old loop, one randint per step:   {t_old * 1e3:9.1f} ms")
    print(f"loop, one randint per sequence:   {t_seq * 1e3:9.1f} ms  ({t_old / t_seq:5.1f}x)")
    print(f"data_generator (vectorised):      {t_new * 1e3:9.1f} ms  ({t_old / t_new:5.1f}x)")
    print(f"identical u and y: {same}")
    if not same:
        raise SystemExit("the generators disagree")


if __name__ == "__main__":
    run_cli(main)
