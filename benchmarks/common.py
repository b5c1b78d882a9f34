"""Timing helpers shared by the benchmark scripts."""
import os
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_task(folder):
    """Make ``import train``, ``data``, ``model`` resolve to a task folder."""
    sys.path.insert(0, os.path.join(ROOT, folder))


def seconds_per_epoch(train, epochs, extra):
    """Through the real ``train.main``: a run of 1 + E epochs minus a run of
    1 epoch, so that start-up costs cancel out."""
    def run(n):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            train.main(["--epochs", str(n), "--folder", os.path.join(folder, "run"), *extra])
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
