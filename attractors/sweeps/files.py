"""The names of the sweep's files, and how it reads and writes them."""
import json
import os
import re
import tempfile

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
    except (OSError, ValueError):
        return None


def replace_atomically(path, write):
    """``write(tmp)`` to a temporary file beside ``path``, then rename it
    to ``path``: a reader sees the old file or the new one, never a part."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path), suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_json(path, obj):
    def dump(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent="\t")
            f.write("\n")
    return replace_atomically(path, dump)


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
