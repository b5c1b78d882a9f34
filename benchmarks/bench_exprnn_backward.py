"""Hand-written backward of the orthogonal recurrence against plain autograd.

    python benchmarks/bench_exprnn_backward.py [--repeats 5] [--epochs 2] [--threads 1]

With the sine-generator defaults (hidden 200, seq_len 400, batch 10, 100
sequences, input sin data, summed MSE loss) it times, in one run:

* one forward + backward of a batch, for nn.LSTM and for each orthogonal
  type (exprnn, dtriv, cayley) with plain autograd (`autograd`:
  expRNN.cell.recurrence_autograd) and with the hand-written backward,
  summing the gradients of B and b step by step in autograd's order (`hand`:
  the default, gradients bit for bit those of autograd) or as one matrix
  product / reduction after the loop (`one-sum`: AUTOGRAD_ORDER = False);
* one training epoch (10 batches: forward, backward, gradient clipping at
  0.25 and an Adam step, as sine-generator/train.py does) of the same
  models: a RecurrentLayer followed by nn.Linear(hidden, 1).

All the models are timed round-robin (one batch of each, then again...;
the same for the epochs) so that a varying load on a shared machine
affects them alike. Best and median of the repeats (after one warm-up
round) are printed, with the ratios orthogonal/LSTM and autograd/hand. Times are data dependent: the
backward of torch.linalg.matrix_exp (exprnn, dtriv) gets slower as the
gradient reaching B grows, so the loss and data are those of the sine task.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, run_cli
import contextlib
import statistics
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils import clip_grad_norm_

import expRNN.cell
from attractors.rnn import RecurrentLayer
from common import sine_size_parser
from expRNN import ORTHOGONAL_TYPES


VARIANTS = ("autograd", "hand", "one-sum")


@contextlib.contextmanager
def variant(name):
    """`autograd`, `hand` (the default) or `one-sum` (see the top)."""
    recurrence, order = expRNN.cell.recurrence, expRNN.cell.AUTOGRAD_ORDER
    if name == "autograd":
        expRNN.cell.recurrence = expRNN.cell.recurrence_autograd
    expRNN.cell.AUTOGRAD_ORDER = name != "one-sum"
    try:
        yield
    finally:
        expRNN.cell.recurrence, expRNN.cell.AUTOGRAD_ORDER = recurrence, order


def sine_data(args):
    """The sine task's data: input w, target sin(w t), w in [pi/16, pi/8]."""
    freqs = np.linspace(np.pi / 16, np.pi / 8, args.n_sequences)
    u = np.broadcast_to(freqs[None, :, None], (args.seq_len, args.n_sequences, 1))
    return (torch.tensor(u, dtype=torch.float32),
            torch.tensor(np.sin(np.cumsum(u, axis=0)), dtype=torch.float32))


class Model(nn.Module):
    def __init__(self, rnn_type, hidden):
        super().__init__()
        self.rnn = RecurrentLayer(1, hidden, rnn_type)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, inp):
        return self.linear(self.rnn(inp)[0])


def interleaved(configs, kind, repeats):
    """Best and median seconds of ``kind`` ("batch" or "epoch") per config,
    timed round-robin (all configs once, then again...) so that the load of
    a shared machine spreads over all of them alike."""
    times = {key: [] for key in configs}
    for repeat in range(repeats + 1):  # the first round is a warm-up
        for key, config in configs.items():
            with variant(config["variant"]):
                start = time.perf_counter()
                config[kind]()
                elapsed = time.perf_counter() - start
            if repeat:
                times[key].append(elapsed)
    return {key: (min(t), statistics.median(t)) for key, t in times.items()}


def make_config(rnn_type, name, u, y, args):
    """The batch and epoch closures of one model (built in `name`'s variant)."""
    torch.manual_seed(0)
    model = Model(rnn_type, args.hidden)
    ub, yb = u[:, :args.batch], y[:, :args.batch]

    def batch():
        model.zero_grad()
        nn.functional.mse_loss(model(ub), yb, reduction="sum").backward()

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.rnn.attach_optimizer(optimizer)

    def epoch():
        for start in range(0, u.shape[1], args.batch):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(u[:, start:start + args.batch]),
                                          y[:, start:start + args.batch], reduction="sum")
            loss.backward()
            clip_grad_norm_(model.parameters(), 0.25)
            optimizer.step()

    return {"variant": name, "batch": batch, "epoch": epoch}


def main(argv=None):
    parser = sine_size_parser(__doc__)
    parser.add_argument("--n_sequences", type=Integer(1, BIG), default=100)
    parser.add_argument("--repeats", type=Integer(1, BIG), default=5,
                        help="timed batches per model")
    parser.add_argument("--epochs", type=Integer(1, BIG), default=2, help="timed epochs per model")
    parser.add_argument("--types", nargs="+", default=list(ORTHOGONAL_TYPES),
                        choices=ORTHOGONAL_TYPES)
    parser.add_argument("--threads", type=Integer(1, 4096), default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    u, y = sine_data(args)

    print(f"torch {torch.__version__}, {args.threads} thread(s), hidden {args.hidden}, "
          f"seq_len {args.seq_len}, batch {args.batch}, {args.n_sequences} sequences; "
          f"best / median of {args.repeats} batches and {args.epochs} epochs")
    configs = {("LSTM", ""): make_config("LSTM", "hand", u, y, args)}
    for rnn_type in args.types:
        for name in VARIANTS:
            configs[rnn_type, name] = make_config(rnn_type, name, u, y, args)
    batches = interleaved(configs, "batch", args.repeats)
    epochs = interleaved(configs, "epoch", args.epochs)
    lstm_batch, lstm_epoch = batches["LSTM", ""], epochs["LSTM", ""]
    rows = [(*key, batches[key], epochs[key], (batches[key[0], "autograd"],
                                               epochs[key[0], "autograd"]) if key[1] else None)
            for key in configs]

    print(f"{'model':8s} {'backward':9s} {'batch f+b (ms)':>16s} {'epoch (s)':>13s} "
          f"{'/LSTM batch':>12s} {'/LSTM epoch':>12s} {'autograd/hand':>14s}")
    for rnn_type, name, (b_best, b_med), (e_best, e_med), ref in rows:
        line = (f"{rnn_type:8s} {name:9s} {1e3 * b_best:7.1f} / {1e3 * b_med:6.1f} "
                f"{e_best:6.2f} / {e_med:4.2f} {b_best / lstm_batch[0]:12.2f} "
                f"{e_best / lstm_epoch[0]:12.2f}")
        if name in VARIANTS[1:]:
            line += f" {ref[0][0] / b_best:6.2f} {ref[1][0] / e_best:6.2f}"
        print(line)
    print("ratios from the best times; autograd/hand: batch, epoch")


if __name__ == "__main__":
    run_cli(main)
