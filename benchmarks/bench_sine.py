"""Seconds per epoch of the default sine-generator run, and seconds per
orbit sample with the default orbit settings, on this machine.

    python benchmarks/bench_sine.py [--epochs 3] [--samples 3] [--cuda]

The epoch time is measured through the real train.py (the difference between
a run of 1 + E epochs and a run of 1 epoch, so start-up cost cancels out).
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import run_cli
import torch

from attractors.orbit import OrbitSampler
from common import seconds_per_epoch, seconds_per_sample, task_benchmark_options, task_module

orbit_inputs = task_module("sine-generator", "data").orbit_inputs
SineGenerator = task_module("sine-generator", "model").SineGenerator


def main(argv=None):
    args, device, extra = task_benchmark_options(__doc__.splitlines()[0], argv)
    per_epoch = seconds_per_epoch("sine-generator", args.epochs, extra)
    print(f"sine-generator defaults ({args.rnn_type}, hidden 200, seq_len 400, "
          f"100 sequences): {per_epoch:.3f} s/epoch")

    torch.manual_seed(2)
    model = SineGenerator(args.rnn_type, 200).to(device).eval()
    sampler = OrbitSampler(model, orbit_inputs(device), 4, 1600, 1200, 100.0)
    per_sample = seconds_per_sample(sampler, args.samples, args.cuda)
    print(f"orbit sample (10 inputs x 4 states, 1600 steps): {per_sample:.3f} s/sample")
    # The old code ran the 40 trajectories in chunks of the training batch size.
    sampler.max_batch = 10
    chunked = seconds_per_sample(sampler, args.samples, args.cuda)
    print(f"  the same in chunks of 10 as the old code did: {chunked:.3f} s/sample "
          f"({chunked / per_sample:.1f}x slower)")


if __name__ == "__main__":
    run_cli(main)
