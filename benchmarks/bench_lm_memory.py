"""Peak memory (resident set) and time of one word-language-model epoch, as
the process runs it from the command line, against the cost of importing torch.

    python benchmarks/bench_lm_memory.py [--data WIKITEXT2_DIR] [--lines 4011] [--mmap_threshold]

The configuration is that of PyTorch's word-language-model example (200
units, batch 20, windows of 70 words) on a cut of WikiText-2: the first
``--lines`` lines of train.txt (4011 lines: about 230k tokens) and the same
fraction of valid.txt and test.txt, written to a temporary folder (the
loader caches its tokens beside the text; the cache is built before the
measured run, as a second run would find it). Each command runs under a
small wrapper process, whose ``RUSAGE_CHILDREN`` peak is that command's alone.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, input_folder, run_cli
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


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=input_folder(),
                        default=os.path.join(ROOT, "word-language-model", "wikitext-2"),
                        help="folder holding WikiText-2 (default: the copy shipped with the project)")
    parser.add_argument("--lines", type=Integer(1, BIG), default=4011,
                        help="lines of train.txt kept (4011: about 230k tokens)")
    parser.add_argument("--mmap_threshold", action="store_true",
                        help="also run train.py with glibc's MALLOC_MMAP_THRESHOLD_=1048576")
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as tmp:
        cut = os.path.join(tmp, "corpus")
        os.mkdir(cut)
        cut_corpus(args.data, cut, args.lines)
        corpus = data.load_corpus(cut)          # writes the token cache
        print(f"corpus: {corpus.train.numel()} training tokens, "
              f"{len(corpus.dictionary)} words")
        train = [sys.executable, TRAIN, *CONFIG, "--data", cut,
                 "--folder", os.path.join(tmp, "run")]
        rows = [("python -c 'import torch'", *measure([sys.executable, "-c", "import torch"], env)),
                ("train.py, one epoch", *measure(train, env))]
        if args.mmap_threshold:
            # glibc then maps every block of 1 MiB or more afresh instead of
            # reusing freed heap, which fragments: less memory, more page faults.
            rows.append(("  with MALLOC_MMAP_THRESHOLD_", *measure(
                train, dict(env, MALLOC_MMAP_THRESHOLD_=str(2 ** 20)))))
    print(f"{'':30s}{'peak RSS (MB)':>14s}{'time (s)':>10s}")
    for name, mb, seconds in rows:
        print(f"{name:30s}{mb:14.0f}{seconds:10.1f}")
    base_mb, run_mb, run_s = rows[0][1], rows[1][1], rows[1][2]
    print(f"train.py is {run_mb - base_mb:.0f} MB above the import of torch")
    if args.mmap_threshold:
        print(f"MALLOC_MMAP_THRESHOLD_=1048576: {rows[2][1] - run_mb:+.0f} MB, "
              f"{rows[2][2] / run_s:.2f} x the time")


if __name__ == "__main__":
    run_cli(main)
