"""What sharing the cores costs: four small sine-generator runs through
sweep.py with one worker and with two, and plain train.py runs started at
the same time with torch's default threads (oversubscribed) and with one
thread each (what the sweep gives each of two workers on two cores).

    python benchmarks/bench_sweep.py [--epochs 25] [--hidden_size 32] [--seq_len 100]

The sweeps are timed end to end (wall-clock of the whole command, start-up
included); the plain runs by their seconds per epoch, read off the times at
which their history.csv gains rows (start-up left out). Everything runs one
after the other, so other load on the machine shows in the numbers.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, run_cli
import os
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINE = os.path.join(ROOT, "sine-generator")


def sweep_seconds(options, workers, out):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, os.path.join(ROOT, "sweep.py"), "sine-generator",
                           "--seeds", "1", "2", "3", "4", "--workers", str(workers), "--out",
                           out, "--", *options], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench_sweep.py: the sweep failed: {done.stderr.strip()[-300:]}")
    return seconds


def history_rows(folder):
    try:
        with open(os.path.join(folder, "history.csv")) as f:
            return sum(1 for line in f if line.strip()) - 1
    except OSError:
        return 0


def seconds_per_epoch(options, folders, threads=None):
    """Start one train.py per folder at once; each one's seconds per epoch
    from the first to the last epoch it recorded."""
    env = dict(os.environ)
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    procs = [subprocess.Popen([sys.executable, "train.py", *options, "--folder", folder],
                              cwd=SINE, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for folder in folders]
    seen = [{} for _ in folders]   # rows -> when first seen
    while any(p.poll() is None for p in procs):
        now = time.perf_counter()
        for folder, times in zip(folders, seen):
            times.setdefault(history_rows(folder), now)
        time.sleep(0.05)
    results = []
    for proc, times in zip(procs, seen):
        if proc.returncode != 0:
            raise SystemExit(f"bench_sweep.py: train.py exited with {proc.returncode}")
        rows = sorted(k for k in times if k >= 1)
        results.append((times[rows[-1]] - times[rows[0]]) / (rows[-1] - rows[0]))
    return results


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=Integer(3, BIG), default=25, help="epochs of each run")
    parser.add_argument("--hidden_size", type=Integer(1, BIG), default=32)
    parser.add_argument("--seq_len", type=Integer(1, BIG), default=100)
    args = parser.parse_args(argv)
    options = ["--epochs", str(args.epochs), "--hidden_size", str(args.hidden_size),
               "--seq_len", str(args.seq_len)]
    cores = len(os.sched_getaffinity(0))
    print(f"sine-generator, LSTM hidden {args.hidden_size}, seq_len {args.seq_len}, "
          f"100 sequences, {args.epochs} epochs per run; {cores} cores, torch "
          f"{torch.__version__} (default {torch.get_num_threads()} threads)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        one = sweep_seconds(options, 1, os.path.join(tmp, "w1"))
        print(f"four runs through sweep.py, wall-clock of the command:\n"
              f"  --workers 1 ({max(1, cores)} thread(s) each)  {one:7.1f} s", flush=True)
        two = sweep_seconds(options, 2, os.path.join(tmp, "w2"))
        print(f"  --workers 2 ({max(1, cores // 2)} thread(s) each)  {two:7.1f} s   "
              f"({one / two:.2f}x faster than one worker)", flush=True)
        alone, = seconds_per_epoch(options, [os.path.join(tmp, "alone")])
        print(f"plain train.py runs, seconds per epoch:\n"
              f"  one alone, default threads         {alone:.3f}", flush=True)
        both = seconds_per_epoch(options, [os.path.join(tmp, f"both{i}") for i in (1, 2)])
        print(f"  two at once, default threads       {both[0]:.3f}, {both[1]:.3f}   "
              f"({max(both) / alone:.1f}x the time alone)", flush=True)
        single = seconds_per_epoch(options, [os.path.join(tmp, f"single{i}") for i in (1, 2)],
                                   threads=1)
        print(f"  two at once, 1 thread each         {single[0]:.3f}, {single[1]:.3f}   "
              f"({max(single) / alone:.1f}x the time alone)", flush=True)


if __name__ == "__main__":
    run_cli(main)
