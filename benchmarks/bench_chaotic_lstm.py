"""Grid scans of many parameter sets: one batch of models through the
functional step versus one module call per grid point (as the old script did).

    python benchmarks/bench_chaotic_lstm.py [--points 5000] [--threads 1]
    python benchmarks/bench_chaotic_lstm.py --sine_folder runs/lstm --seq_len 400

The first measurement is the chaotic LSTM's line s * W (the paper's
5000 values of s, 200 steps); with --sine_folder, the second is the loss of a
trained sine-generator run along a random line (analyse_smoothness.py).
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, THREADS, Integer, OneLineParser, input_folder, run_cli
import time

import numpy as np
import torch

from attractors import chaos as chaotic_lstm
from attractors import smoothness


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def loop_line(s, steps, burnout):
    """The old way: load each point's weights into one nn.LSTM and run it."""
    lstm = chaotic_lstm.chaotic_lstm()
    W = torch.tensor(chaotic_lstm.CHAOTIC_WEIGHT)
    h0 = torch.full((1, 1, 2), chaotic_lstm.INITIAL_VALUE)
    inp = torch.zeros(steps, 1, 1)
    outputs = []
    with torch.no_grad():
        for value in s:
            lstm.weight_hh_l0.copy_(float(value) * W)
            out, _ = lstm(inp, (h0, h0))
            outputs.append(out[burnout:, 0])
    reference = outputs[int(np.flatnonzero(s == 1.0)[0])]
    losses = np.array([float(((o - reference) ** 2).mean()) for o in outputs])
    return losses, torch.stack(outputs, dim=1)[:, :, 0].numpy()


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=Integer(2, BIG), default=5000,
                        help="values of s on the line")
    parser.add_argument("--loop_points", type=Integer(1, BIG), default=None,
                        help="time the loop on this many points only and scale up "
                             "(default: all of them)")
    parser.add_argument("--steps", type=Integer(2, BIG), default=200)
    parser.add_argument("--burnout", type=Integer(0, BIG), default=100)
    parser.add_argument("--threads", type=THREADS, default=0, help="torch threads (0: default)")
    parser.add_argument("--sine_folder", type=input_folder(), default=None,
                        help="a sine-generator run to time too")
    parser.add_argument("--seq_len", type=Integer(1, BIG), default=400,
                        help="sequence length (sine)")
    parser.add_argument("--sine_points", type=Integer(3, BIG), default=64,
                        help="grid points (sine)")
    parser.add_argument("--sine_chunks", type=Integer(1, BIG), nargs="+", default=[32],
                        help="chunk sizes (grid points per batch) to time (sine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    s = smoothness.grid(0.5, 2.0, args.points, required=(1.0,))
    chaotic_lstm.line(np.array([0.9, 1.0]), args.steps, args.burnout, 2)  # warm-up
    batched_s, (_, batched_first) = timed(
        lambda: chaotic_lstm.line(s, args.steps, args.burnout, len(s)))
    n_loop = min(args.loop_points or len(s), len(s))
    if n_loop < len(s):
        sub = np.sort(np.append(s[np.linspace(0, len(s) - 1, n_loop - 1).astype(int)], 1.0))
        loop_s, _ = timed(lambda: loop_line(np.unique(sub), args.steps, args.burnout))
        loop_s *= len(s) / len(np.unique(sub))
        agree = "not compared (subset)"
    else:
        loop_s, (_, loop_first) = timed(lambda: loop_line(s, args.steps, args.burnout))
        # Chaos amplifies rounding differences: compare the outputs where the
        # system settles to a fixed point (s < 0.74).
        calm = s < 0.74
        difference = np.abs(loop_first - batched_first)[:, calm].max()
        agree = f"outputs for s < 0.74 agree to {difference:.1e}"
    print(f"chaotic LSTM, line of {len(s)} points x {args.steps} steps:")
    print(f"  one batch of models (functional step): {batched_s:8.2f} s")
    print(f"  one nn.LSTM call per point{' (scaled)' if n_loop < len(s) else ''}:        "
          f"{loop_s:8.2f} s  ({loop_s / batched_s:.0f}x slower); {agree}")

    if args.sine_folder:
        task, _ = smoothness.load_run(args.sine_folder)
        theta = smoothness.parameters_of(task.model)
        d = smoothness.random_direction(theta, 0)
        grid = smoothness.line_grid(-0.1, 0.1, args.sine_points)
        l_s, l = timed(lambda: smoothness.line_losses(task, theta, d, grid, args.seq_len,
                                                      batched=False))
        kw = task.model.rnn
        print(f"sine-generator {kw.rnn_type} hidden {kw.hidden_size}, "
              f"{task.config['n_sequences']} sequences, {len(grid)} points x "
              f"{args.seq_len} steps (float64):")
        print(f"  one model call per point: {l_s:8.2f} s")
        for chunk in args.sine_chunks:
            b_s, b = timed(lambda: smoothness.line_losses(task, theta, d, grid, args.seq_len,
                                                          batched=True, chunk_size=chunk))
            print(f"  batched, chunks of {chunk:3d}:   {b_s:8.2f} s  ({l_s / b_s:.1f}x faster); "
                  f"max relative difference {np.max(np.abs(b - l) / np.abs(l)):.1e}")


if __name__ == "__main__":
    run_cli(main)
