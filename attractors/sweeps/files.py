"""The names of the sweep's files, and how it reads and writes them."""
import json
import os
import re

from .. import atomic

MANIFEST = "sweep.json"
SUMMARY = "summary.csv"
PLOT = "sweep.png"
LOG = "train.log"
RUNNING = ".sweep-running"      # in a run folder while its train.py runs
EXIT = ".sweep-exit"            # in a run folder: how its last attempt ended
SUBMITIT = ".submitit"          # submitit's pickles and job logs, under --out


def usage_error(message):
    """``attractors.options.UsageError`` (one line, exit status 2)."""
    from ..options import UsageError
    return UsageError(message)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError, RecursionError):
        return None


def write_json(path, obj):
    return atomic.write_json(obj, path)


def last_line(text):
    """The last non-empty line, progress-bar carriage returns counted as line ends."""
    for line in reversed(re.split(r"[\r\n]", text or "")):
        if line.strip():
            return line.strip()
    return ""


def log_last_line(folder):
    """The last line of a run's train.log (its error, when it failed)."""
    try:
        with open(os.path.join(folder, LOG), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            return last_line(f.read().decode(errors="replace"))
    except OSError:
        return ""
