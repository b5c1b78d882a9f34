"""Timing helpers shared by the benchmark scripts."""
import os
import subprocess
import sys
import tempfile
import time

import torch

from attractors.tasks import load_task_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def task_module(folder, name):
    """A task folder's ``data``, ``model`` (...) module, e.g. ("sine-generator", "model")."""
    return load_task_module(os.path.join(ROOT, folder), name)


def seconds_per_epoch(folder, epochs, extra):
    """Through the real command ``python FOLDER/train.py``: a run of 1 + E
    epochs minus a run of 1 epoch, so that start-up costs cancel out."""
    def run(n):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(ROOT, folder, "train.py"),
                            "--epochs", str(n), "--folder", os.path.join(out, "run"), *extra],
                           check=True, stdout=subprocess.DEVNULL)
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
