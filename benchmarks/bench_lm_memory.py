"""Peak memory (resident set) and time of one word-language-model epoch, as
the process runs it from the command line, against the cost of importing torch.

    python benchmarks/bench_lm_memory.py --data WIKITEXT2_DIR [--lines 4011]

The configuration is that of PyTorch's word-language-model example (200
units, batch 20, windows of 70 words) on a cut of WikiText-2: the first
``--lines`` lines of train.txt (4011 lines: about 230k tokens) and the same
fraction of valid.txt and test.txt, written to a temporary folder (the
loader caches its tokens beside the text; the cache is built before the
measured run, as a second run would find it). Each command runs under a
small wrapper process, whose ``RUSAGE_CHILDREN`` peak is that command's alone.
"""
import argparse
import os
import subprocess
import sys
import tempfile

from common import ROOT, task_module

data = task_module("word-language-model", "data")

TRAIN = os.path.join(ROOT, "word-language-model", "train.py")
CONFIG = ["--epochs", "1", "--embed_size", "200", "--hidden_size", "200", "--batch_size", "20",
          "--seq_len", "70", "--threads", "1", "--overwrite", "--verbose", "0"]
# Runs the command given as arguments; prints its peak RSS (MB) and wall time (s).
WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds)
"""


def measure(command, env):
    out = subprocess.run([sys.executable, "-c", WRAPPER, *command], check=True, env=env,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def cut_corpus(source, folder, train_lines):
    """First ``train_lines`` lines of train.txt, the same fraction of the others."""
    with open(os.path.join(source, "train.txt"), encoding="utf-8") as f:
        total = sum(1 for _ in f)
    fraction = min(1.0, train_lines / total)
    for name in data.WIKITEXT_FILES:
        with open(os.path.join(source, name), encoding="utf-8") as f:
            lines = f.readlines()
        keep = train_lines if name == "train.txt" else max(1, round(fraction * len(lines)))
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.writelines(lines[:keep])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding WikiText-2")
    parser.add_argument("--lines", type=int, default=4011,
                        help="lines of train.txt kept (4011: about 230k tokens)")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as tmp:
        cut = os.path.join(tmp, "corpus")
        os.mkdir(cut)
        cut_corpus(args.data, cut, args.lines)
        corpus = data.load_corpus(cut)          # writes the token cache
        print(f"corpus: {corpus.train.numel()} training tokens, "
              f"{len(corpus.dictionary)} words")
        base_mb, base_s = measure([sys.executable, "-c", "import torch"], env)
        run_mb, run_s = measure([sys.executable, TRAIN, *CONFIG, "--data", cut,
                                 "--folder", os.path.join(tmp, "run")], env)
    print(f"{'':24s}{'peak RSS (MB)':>14s}{'time (s)':>10s}")
    print(f"{'python -c import torch':24s}{base_mb:14.0f}{base_s:10.1f}")
    print(f"{'train.py, one epoch':24s}{run_mb:14.0f}{run_s:10.1f}")
    print(f"above the import of torch: {run_mb - base_mb:.0f} MB "
          f"({run_mb / base_mb:.2f} x the import)")


if __name__ == "__main__":
    main()
