"""Many seeds in one process: seconds per epoch of a population of K copies
(``train.py --population K``) against K single runs, K = 1, 2, 4, 8, 16, 32,
on 1 thread and on 2.

    python benchmarks/bench_population.py [--epochs 40] [--copies 1 2 4 8 16 32] [--threads 1 2] [--cuda]

Every number is the real command, ``python sine-generator/train.py``, with
the quick start's model and data (LSTM hidden 32, seq_len 100, batch 10,
100 sequences, lr 0.01, the orbit sampled every 4 epochs over 400 steps):
a run of 1 + E epochs minus a run of 1 epoch, so that start-up (torch's
import, building the copies) cancels out. Start-up varies by about 0.3 s
from run to run, hence 40 epochs by default. Wall-clock and CPU seconds (the
command's user + system time) are both shown; on a machine busy with other
work the CPU seconds are the steadier. K single runs, one after another,
take K times one single run's epoch. ``--cuda``: every run on the GPU
(the thread counts then set only the CPU's share). ``--tiny``: a few
seconds, to check that the script works.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, run_cli
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "sine-generator", "train.py")
QUICK_START = ["--lr", "0.01", "--hidden_size", "32", "--seq_len", "100", "--batch_size", "10",
               "--n_sequences", "100", "--milestones", "300", "--interval_orbit", "4",
               "--seq_len_orbit", "400", "--burnout_orbit", "300"]
TINY = ["--hidden_size", "8", "--seq_len", "20", "--n_sequences", "4", "--batch_size", "2",
        "--interval_orbit", "1", "--seq_len_orbit", "30", "--burnout_orbit", "20"]
TARGETS = {8: 2.0, 32: 6.0}   # at most this many times one copy's epoch, on one thread


def run_seconds(options, epochs, threads):
    """(wall, CPU) seconds of ``train.py OPTIONS --epochs EPOCHS``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, TRAIN, *options, "--epochs", str(epochs),
                               "--threads", str(threads), "--folder", os.path.join(out, "run")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench_population.py: train.py failed: {done.stderr.strip()[-300:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def per_epoch(options, epochs, threads):
    """(wall, CPU) seconds per epoch, start-up cancelled out."""
    first = run_seconds(options, 1, threads)
    more = run_seconds(options, 1 + epochs, threads)
    return tuple(max(b - a, 0.0) / epochs for a, b in zip(first, more))


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=Integer(1, BIG), default=40, help="epochs timed (a multiple of "
                        "4 samples the orbit as often as the quick start)")
    parser.add_argument("--copies", type=Integer(1, 4096), nargs="+", default=[1, 2, 4, 8, 16, 32],
                        help="population sizes K")
    parser.add_argument("--threads", type=Integer(1, 4096), nargs="+", default=[1, 2],
                        help="thread counts")
    parser.add_argument("--cuda", action="store_true", help="train on the GPU")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the script")
    args = parser.parse_args(argv)
    options = (TINY if args.tiny else QUICK_START) + (["--cuda"] if args.cuda else [])
    import torch   # here: only for the version line
    where = torch.cuda.get_device_name() if args.cuda and torch.cuda.is_available() else "CPU"
    print(f"sine-generator, {' '.join(options)}; {args.epochs} epochs timed; "
          f"torch {torch.__version__}, {len(os.sched_getaffinity(0))} cores, {where}")
    for threads in args.threads:
        one_wall, one_cpu = per_epoch(options, args.epochs, threads)
        print(f"\n{threads} thread(s): one single run {one_wall:.4f} s/epoch "
              f"(CPU {one_cpu:.4f} s)")
        print(f"{'K':>4} {'population':>11} {'CPU':>8} {'x one run':>10} {'x K=1':>7} "
              f"{'K runs':>8} {'speed-up':>9}")
        base = None
        ratios = {}
        for k in args.copies:
            wall, cpu = per_epoch(options + ["--population", str(k)], args.epochs, threads)
            if k == 1:
                base = wall
            ratios[k] = (wall / one_wall if one_wall else float("nan"),
                         wall / base if base else float("nan"))
            print(f"{k:>4} {wall:>11.4f} {cpu:>8.4f} {ratios[k][0]:>10.2f} "
                  f"{ratios[k][1]:>7.2f} {k * one_wall:>8.4f} "
                  f"{k * one_wall / wall if wall else float('nan'):>8.2f}x")
        if threads == 1 and not args.cuda:
            for k, target in TARGETS.items():
                if k in ratios:
                    single, first = ratios[k]
                    print(f"{k} copies: {single:.2f}x the epoch of one single run, {first:.2f}x "
                          f"that of a population of one (target: at most {target:g}x)")


if __name__ == "__main__":
    run_cli(main)
