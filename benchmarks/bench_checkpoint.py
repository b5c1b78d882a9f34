"""Checkpoint layouts side by side: file size, memory and time to write and read.

A checkpoint the size of the language model's (weights and Adam's moments,
80 MiB by default): the plain file with a content checksum against the
earlier layout (the file serialised again and stored as ``bytes``), each
written and read in a process of its own, for its peak memory.

    python benchmarks/bench_checkpoint.py [--parameters 7000000]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, Text, run_cli
import argparse
import hashlib
import io
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch

from attractors.run_files import load_verified, save_torch, save_verified


def checkpoint(parameters):
    """Weights and Adam's two moments, as ``optimizer.state_dict()`` holds them."""
    torch.manual_seed(0)
    shapes = [(parameters // 2 // 200, 200), (parameters // 2 // 200, 200), (parameters // 2 // 200,)]
    weights = {f"w{i}": torch.randn(s) for i, s in enumerate(shapes)}
    state = {i: {"step": torch.tensor(1.0), "exp_avg": torch.randn(s), "exp_avg_sq": torch.rand(s)}
             for i, s in enumerate(shapes)}
    return {"epoch": 0, "model": weights,
            "optimizer": {"state": state, "param_groups": [{"lr": 1e-3, "params": [0, 1, 2]}]}}


def save_wrapped(obj, path):
    """The earlier layout, kept here only to compare with."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    save_torch({"sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}, path)


def child(layout, parameters, path):
    """Runs in its own process: prints peak RSS above the start (MB) and seconds."""
    obj = checkpoint(parameters)
    start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    (save_verified if layout == "plain" else save_wrapped)(obj, path)
    write_s = time.perf_counter() - start
    write_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_kb) / 1024
    del obj
    start = time.perf_counter()
    load_verified(path)
    read_s = time.perf_counter() - start
    print(write_mb, write_s, read_s)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameters", type=Integer(1, BIG), default=7_000_000,
                        help="weights (the checkpoint holds three times as many floats)")
    parser.add_argument("--child", nargs=2, type=Text(empty=False), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child[0], args.parameters, args.child[1])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("wrapped", "plain"):
            path = os.path.join(tmp, f"{layout}.pth")
            out = subprocess.run([sys.executable, __file__, "--parameters", str(args.parameters),
                                  "--child", layout, path], check=True, capture_output=True,
                                 text=True).stdout.split()
            rows.append((layout, *map(float, out), os.path.getsize(path) / 2 ** 20))
    contents = 3 * 4 * args.parameters / 2 ** 20
    print(f"checkpoint contents: {contents:.0f} MiB of tensors")
    print(f"{'layout':10s}{'file (MiB)':>12s}{'peak while writing (MB)':>25s}"
          f"{'write (s)':>11s}{'read (s)':>10s}")
    for layout, mb, write_s, read_s, size in rows:
        print(f"{layout:10s}{size:12.0f}{mb:25.0f}{write_s:11.2f}{read_s:10.2f}")
    (_, mb0, w0, r0, s0), (_, mb1, w1, r1, s1) = rows
    print(f"plain against wrapped: {s1 / s0:.2f} x the file, {mb0 - mb1:.0f} MB less memory "
          f"while writing, {w0 / w1:.1f} x faster to write, {r0 / r1:.1f} x faster to read")


if __name__ == "__main__":
    run_cli(main)
