"""What a stop (Ctrl-C, SIGTERM, a Slurm preemption) costs the language
model: the real word-language-model/train.py, stopped by SIGTERM in the
middle of its first epoch, then resumed for one more window.

    python benchmarks/bench_lm_stop.py [--data DIR] [--after 2] [--threads 0] [-- TRAIN.PY OPTIONS]

The run stops after the window in progress, with a checkpoint that resumes
within the epoch, so no finished window is lost; what the stop costs is the
time from the signal to the exit (the rest of that window, then writing the
checkpoint). Under Slurm that must fit in the time between the SIGTERM and
the SIGKILL (the cluster's KillWait, often 30 s). The epoch the old rule
waited for is shown beside it: windows per epoch times seconds per window.
Options after -- go to train.py (default: its own defaults, the
paper's model, LSTM 800 units). The data folder is copied first (the loader
writes its token cache beside the text)."""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, THREADS, Integer, OneLineParser, input_folder, run_cli
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "word-language-model", "train.py")
DEFAULT_DATA = os.path.join(ROOT, "word-language-model", "wikitext-2")
BAR = re.compile(r"train:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")


def windows_seen(text):
    """``(windows done, windows per epoch)`` from the last progress bar in ``text``."""
    found = BAR.findall(text)
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, None)


def stop_after(command, windows, log):
    """Run ``command`` (train.py with --verbose 2, stderr to the file ``log``)
    until its bar shows ``windows`` windows done, then send SIGTERM. Returns
    ``(started, {windows done: when first seen}, signalled, exited, exit status)``."""
    started = time.perf_counter()
    with open(log, "w") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    seen = {}
    while process.poll() is None:
        done, _ = windows_seen(open(log).read())
        seen.setdefault(done, time.perf_counter())
        if done >= windows:
            break
        time.sleep(0.2)
    else:
        raise SystemExit(f"bench_lm_stop.py: train.py ended early:\n{open(log).read()[-500:]}")
    signalled = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    code = process.wait()
    return started, seen, signalled, time.perf_counter(), code


def stopped_after(log, code):
    """The number of windows the stopped run saved, from its last line."""
    last = open(log).read().strip().splitlines()[-1]
    found = re.search(r"after (\d+) of its steps", last)
    if code != 130 or not found:
        raise SystemExit(f"bench_lm_stop.py: unexpected end (exit {code}): {last}")
    return int(found[1])


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=input_folder(), default=DEFAULT_DATA, help="WikiText-2 folder (read only)")
    parser.add_argument("--after", type=Integer(2, BIG), default=2,
                        help="windows done before the signal is sent")
    parser.add_argument("--threads", type=THREADS, default=0, help="train.py's --threads")
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) \
        if "--" in argv else (argv, [])
    args = parser.parse_args(ours)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "wikitext-2")
        os.mkdir(corpus)
        for name in ("train.txt", "valid.txt", "test.txt"):
            shutil.copy(os.path.join(args.data, name), corpus)
        run, log = os.path.join(tmp, "run"), os.path.join(tmp, "stderr")
        common = ["--data", corpus, "--verbose", "2", "--threads", str(args.threads)]
        _, seen, signalled, exited, code = stop_after(
            [sys.executable, TRAIN, "--folder", run, *common, *extra], args.after, log)
        per_epoch = windows_seen(open(log).read())[1]
        saved = stopped_after(log, code)
        size = os.path.getsize(os.path.join(run, "checkpoint.pth"))
        window = (seen[args.after] - seen[1]) / max(1, args.after - 1)
        # the resumed run: from its start to its first window (the one after those saved)
        started, seen2, _, _, code = stop_after(
            [sys.executable, TRAIN, "--resume", run, *common], saved + 1, log)
        resumed = stopped_after(log, code)
    print(f"train.py {' '.join(extra) or '(its defaults)'}, --threads {args.threads}")
    print(f"{per_epoch} windows per epoch at {window:.2f} s each: an epoch's training takes "
          f"{per_epoch * window / 60:.1f} min")
    print(f"SIGTERM after {args.after} windows: stopped after {saved} windows, "
          f"{exited - signalled:.1f} s after the signal (the window in progress, then a "
          f"{size / 2 ** 20:.0f} MB checkpoint); no finished window is lost")
    first = min(t for n, t in seen2.items() if n > saved)
    print(f"--resume: window {saved + 1} done {first - started:.1f} s after the start (loading "
          f"the corpus and the checkpoint, then that window); stopped again after {resumed}")


if __name__ == "__main__":
    run_cli(main)
