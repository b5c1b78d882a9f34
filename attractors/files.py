"""Writing a run folder (SPEC section 4).

Every file is written to a temporary file in the same folder and moved into
place with ``os.replace``, so a crash mid-write leaves the previous version.
"""
import json
import os
import tempfile

import torch

CONFIG_FILE = "train.pyconfig.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.pth"

# mkstemp creates files readable by the owner only; give them the usual mode.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary file, then move it to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_torch(obj, path):
    atomic_write(path, lambda f: torch.save(obj, f))


def write_json(obj, path):
    text = json.dumps(obj, indent="\t") + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def _cell(value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()[()]
    # str() of a NumPy or Python number is its shortest exact text.
    return str(value)


class History:
    """``history.csv``, one row per epoch, in the layout pandas' ``to_csv``
    gives (an unnamed index column first), as the old code wrote it.

    Rows are appended and flushed as they come, rather than rewriting the
    whole table every epoch, which grew quadratically over long runs.
    ``lines`` keeps the text of every row, to rewrite the file on resume.
    """

    def __init__(self, path, columns, lines=()):
        self.path = path
        self.columns = list(columns)
        self.lines = list(lines)
        header = "," + ",".join(self.columns) + "\n"
        text = header + "".join(line + "\n" for line in self.lines)
        atomic_write(path, lambda f: f.write(text.encode()))

    def append(self, row):
        missing = set(self.columns) - set(row)
        if missing:
            raise KeyError(f"history row lacks {sorted(missing)}")
        cells = [str(len(self.lines))] + [_cell(row[k]) for k in self.columns]
        self.lines.append(",".join(cells))
        with open(self.path, "a") as f:
            f.write(self.lines[-1] + "\n")
