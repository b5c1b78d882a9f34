"""Does orbit sampling slow down every epoch of a long run?

One tiny sine run of E epochs with --interval_orbit 1 (default orbit sizes:
seq_len_orbit 1600, burnout 1200, 4 initial states), against the same run
without orbit sampling plus E times the measured time of one orbit sample.
Their ratio is the cost of the bookkeeping (checkpoint, samples file, orbit
file); the target is at most 1.2. Also the checkpoint's size after E/3 and E
epochs: it must not grow with the number of samples.

    python benchmarks/bench_orbit_bookkeeping.py [--epochs 1000]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, run_cli
import os
import subprocess
import sys
import tempfile
import time

import torch

from common import ROOT, task_module

TINY = ["--hidden_size", "4", "--seq_len", "10", "--n_sequences", "4", "--batch_size", "4",
        "--threads", "1"]


def timed_run(epochs, extra, folder):
    start = time.perf_counter()
    subprocess.run([sys.executable, os.path.join(ROOT, "sine-generator", "train.py"),
                    "--epochs", str(epochs), "--folder", folder, *TINY, *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def one_sample_seconds(repeats=20):
    """The time of one orbit sample of the run's model, in this process."""
    from attractors.orbit import OrbitSampler
    torch.set_num_threads(1)
    data = task_module("sine-generator", "data")
    model = task_module("sine-generator", "model").SineGenerator("LSTM", 4)
    sampler = OrbitSampler(model, data.orbit_inputs("cpu"), 4, 1600, 1200, 100.0)
    sampler.sample()
    start = time.perf_counter()
    for _ in range(repeats):
        sampler.sample()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=Integer(1, BIG), default=1000)
    args = parser.parse_args(argv)
    epochs = args.epochs
    orbit = ["--interval_orbit", "1", "--interval_save_orbit", str(epochs)]
    with tempfile.TemporaryDirectory() as out:
        plain = timed_run(epochs, [], os.path.join(out, "plain"))
        sampled = timed_run(epochs, orbit, os.path.join(out, "orbit"))
        sample = one_sample_seconds()
        third = max(1, epochs // 3)
        timed_run(third, ["--interval_orbit", "1", "--interval_save_orbit", str(third)],
                  os.path.join(out, "third"))
        size_all = os.path.getsize(os.path.join(out, "orbit", "checkpoint.pth"))
        size_third = os.path.getsize(os.path.join(out, "third", "checkpoint.pth"))
        samples_file = os.path.getsize(os.path.join(out, "orbit", "orbit_samples.bin"))
    expected = plain + epochs * sample
    print(f"{epochs} epochs, tiny sine model, --interval_orbit 1, default orbit sizes")
    print(f"  without orbit sampling          {plain:8.1f} s")
    print(f"  one orbit sample                {sample * 1e3:8.1f} ms")
    print(f"  training + {epochs} samples        {expected:8.1f} s")
    print(f"  with orbit sampling (measured)  {sampled:8.1f} s")
    print(f"  ratio measured / (training + samples): {sampled / expected:.2f} (target <= 1.2)")
    print(f"  checkpoint.pth after {third} epochs: {size_third} bytes, after {epochs}: "
          f"{size_all} bytes, {(size_all - size_third) / (epochs - third):.0f} bytes per epoch "
          f"(its history.csv row; one orbit sample is {samples_file // epochs} bytes); "
          f"orbit_samples.bin {samples_file / 1e6:.1f} MB")


if __name__ == "__main__":
    run_cli(main)
