"""Seconds per epoch and per orbit sample of the default temporal-order run.

An epoch trains on 1000 sequences and validates on 1000 more; the orbit
sample uses the default orbit settings.

    python benchmarks/bench_sequence_classification.py [--epochs 3] [--samples 3]
                                                       [--threads N] [--cuda]

The epoch time is measured through the real train.py (the difference between
a run of 1 + E epochs and a run of 1 epoch, so start-up cost, data
generation included, cancels out). On a busy machine, fewer torch threads
than cores often gives steadier (and faster) numbers.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import run_cli
import torch

from attractors.orbit import OrbitSampler
from common import seconds_per_epoch, seconds_per_sample, task_benchmark_options, task_module

SequenceClassifier = task_module("sequence-classification", "model").SequenceClassifier


def main(argv=None):
    args, device, extra = task_benchmark_options(__doc__.splitlines()[0], argv)
    per_epoch = seconds_per_epoch("sequence-classification", args.epochs, extra)
    print(f"temporal-order defaults ({args.rnn_type}, hidden 50, seq_len 200, "
          f"1000 + 1000 sequences, batch 100): {per_epoch:.3f} s/epoch")

    torch.manual_seed(2)
    model = SequenceClassifier(4, 6, args.rnn_type, 50).to(device).eval()
    sampler = OrbitSampler(model, torch.eye(6, device=device), 10, 800, 400, 100.0)
    per_sample = seconds_per_sample(sampler, args.samples, args.cuda)
    print(f"orbit sample (6 inputs x 10 states, 800 steps): {per_sample:.3f} s/sample")


if __name__ == "__main__":
    run_cli(main)
