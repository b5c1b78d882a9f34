"""The run folder: its file names, and one reader and one writer per file.

A training run writes these files into its folder::

    train.pyconfig.json           the config options       write_config / read_config
    history.csv                   one row per epoch        History      / read_history
    model.pth                     the saved model          save_model_file / load_model_file
    checkpoint.pth                everything to --resume   save_checkpoint_file / load_checkpoint_file
    orbit_per_epoch_diagram.pth   the orbit samples        save_orbit_file / load_orbit_file
    orbit_samples.bin             the same, appended       attractors.orbit.SamplesFile
                                  once each (the checkpoint counts them)

Every file is written to a temporary file in the same folder and moved into
place with ``os.replace``, so a crash mid-write leaves the previous version.
Everything is stored as tensors and plain Python values, so that
``torch.load(weights_only=True)`` reads it.
"""
import argparse
import hashlib
import io
import json
import math
import os
import random

import numpy as np
import torch

from .atomic import atomic_write, write_json  # noqa: F401 (the writers of this module's files)

CONFIG_FILE = "train.pyconfig.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.pth"
CHECKPOINT_FILE = "checkpoint.pth"
ORBIT_FILE = "orbit_per_epoch_diagram.pth"
ORBIT_SAMPLES_FILE = "orbit_samples.bin"
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, MODEL_FILE, CHECKPOINT_FILE, ORBIT_FILE,
             ORBIT_SAMPLES_FILE)

# 2: the orbit samples are in ORBIT_SAMPLES_FILE, the checkpoint counts them;
# 1 (still read): the checkpoint holds the samples.
CHECKPOINT_FORMAT = 2
READABLE_CHECKPOINT_FORMATS = (1, 2)
MODEL_KEYS = {"epoch", "model", "model_kwargs", "config", "experiment_name"}


class RunFolderError(ValueError):
    """A run folder, or a file in it, that cannot be used."""


class OrbitFileError(RunFolderError):
    """An orbit file that cannot be read or has the wrong layout."""


class CheckpointError(RunFolderError):
    """A checkpoint that cannot be used to resume."""


# ------------------------------------------------------------------ writing
class _WriteErrors:
    """A file that remembers the OSError of a failed write: torch.save
    reports it (a full disk) as a RuntimeError of its own."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data):
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self):
        self.f.flush()


def save_torch(obj, path):
    def write(f):
        sink = _WriteErrors(f)
        try:
            torch.save(obj, sink)
        except RuntimeError:
            if sink.error is not None:
                raise sink.error from None
            raise
    atomic_write(path, write)


def _need(folder, name):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise RunFolderError(f"{folder} has no {name}: is it a training output folder?")
    return path


def _file_kind(path):
    """What the first bytes of ``path`` say it is: "zip" (PyTorch's format),
    "pickle" (PyTorch's legacy format), "empty", "text" or "binary"."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return "binary"
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80":
        return "pickle"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "binary"


def _load_problem(path, error, trust_option=None):
    """One line on why ``torch.load`` failed on ``path``; ``trust_option``:
    the option that loads pickled objects, where the command has one."""
    text = str(error)
    kind = _file_kind(path)
    if kind in ("zip", "pickle") and "Unsupported global" in text:
        advice = (f"; pass {trust_option} if you trust the file" if trust_option else
                  "; this command does not load such files")
        return (f"{path} holds pickled Python objects, which can run arbitrary code, so it is "
                f"refused{advice}")
    if kind == "empty":
        return f"{path} is damaged or incomplete: it is empty"
    if kind == "text":
        return (f"{path} is not a PyTorch file: it holds text (is it another of the run's "
                "files?)")
    if kind == "binary":
        return f"{path} is damaged or not a PyTorch file: it cannot be read as one"
    return f"{path} is damaged or incomplete: it cannot be read as a PyTorch file"


def _check_types(path, data, types, error, what):
    """Each key of ``data`` named in ``types`` has a value of its type."""
    for key, kind in types.items():
        value = data.get(key)
        if key in data and (not isinstance(value, kind) or
                            (kind is int and isinstance(value, bool))):
            raise error(f"{path} is not {what}: its '{key}' is a {type(value).__name__}")


# ------------------------------------------------------------------ checksums
DIGEST_KEY = "sha256"
_DAMAGED = ("{} is damaged: its contents do not match their checksum (if it was changed on "
            "purpose, delete its 'sha256' key)")


def content_digest(obj):
    """SHA-256 of the contents of ``obj``, made of dicts, lists, tuples,
    tensors, NumPy arrays and plain values: tensors are read in place (no
    copy of a contiguous CPU tensor), so a large checkpoint costs no memory
    to check. Equal contents give equal digests in any process."""
    digest = hashlib.sha256()

    def feed(x):
        if isinstance(x, (torch.Tensor, np.ndarray)):
            kind = "T" if isinstance(x, torch.Tensor) else "A"
            t = torch.as_tensor(x).detach().cpu().contiguous()
            digest.update(f"{kind}{t.dtype}{tuple(t.shape)};".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
        elif isinstance(x, dict):
            digest.update(f"D{len(x)};".encode())
            for key, value in x.items():
                feed(key)
                feed(value)
        elif isinstance(x, (list, tuple)):
            digest.update(f"{'L' if isinstance(x, list) else 'U'}{len(x)};".encode())
            if all(type(item) is int for item in x):   # Python's random state: 625 ints
                # the bytes feed() would give each, in one update
                digest.update("".join(f"int{len(t)};{t}" for t in map(repr, x)).encode())
                return
            for item in x:
                feed(item)
        elif isinstance(x, (bytes, bytearray)):
            digest.update(f"B{len(x)};".encode())
            digest.update(x)
        elif x is None or isinstance(x, (bool, int, float, complex, str, torch.dtype)):
            text = repr(x)      # exact for floats, and type-specific (1 != 1.0 != True)
            digest.update(f"{type(x).__name__}{len(text)};{text}".encode())
        else:
            raise TypeError(f"cannot checksum a {type(x).__name__}")

    feed(obj)
    return digest.hexdigest()


def save_verified(obj, path):
    """``torch.save`` the dict ``obj`` with one more key, ``"sha256"``, the
    :func:`content_digest` of the rest: a plain PyTorch file, read by
    ``torch.load(weights_only=True)``, whose damage is found on loading."""
    save_torch({**obj, DIGEST_KEY: content_digest(obj)}, path)


def load_verified(path, map_location="cpu", error=RunFolderError):
    """What :func:`save_verified` wrote, its checksum verified and removed
    (a file without one, of an older version, is read as it is); one-line
    errors."""
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise error(_load_problem(path, e)) from None
    if isinstance(data, dict) and set(data) == {DIGEST_KEY, "payload"}:
        return _load_wrapped(path, data, map_location, error)
    return check_digest(data, path, error)


def check_digest(data, path, error=RunFolderError):
    """``data`` without its ``"sha256"`` key, which must match its contents
    (data without the key, as the original's files, is returned as it is)."""
    if isinstance(data, dict) and DIGEST_KEY in data:
        expected = data.pop(DIGEST_KEY)
        try:
            digest = content_digest(data)
        except (TypeError, RecursionError):   # contents this project never writes
            raise error(f"{path} is not a file of this project: it holds "
                        "values of other kinds") from None
        if digest != expected:
            raise error(_DAMAGED.format(path))
    return data


def _load_wrapped(path, data, map_location, error):
    """The earlier layout: the whole file serialised again as bytes, which
    torch.save stores as text, larger than the file and costly to write."""
    payload = data["payload"]
    if (not isinstance(payload, bytes)
            or hashlib.sha256(payload).hexdigest() != data[DIGEST_KEY]):
        raise error(_DAMAGED.format(path))
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:
        raise error(_load_problem(path, e)) from None


# ------------------------------------------------------------------ config
def write_config(config, folder):
    write_json(config, os.path.join(folder, CONFIG_FILE))


def read_config(folder):
    """The saved config of a run folder, a dict; one-line errors."""
    path = _need(folder, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (ValueError, RecursionError) as e:   # JSON, UTF-8, digits
        raise RunFolderError(f"{path} is damaged or not a config file: "
                             f"{str(e).splitlines()[0][:80]}") from None
    if not isinstance(config, dict):
        raise RunFolderError(f"{path} is not a config file: it holds no JSON object")
    return config


# ------------------------------------------------------------------ history
def _cell(value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()[()]
    # str() of a NumPy or Python number is its shortest exact text.
    return str(value)


class History:
    """``history.csv``, one row per epoch, in the layout pandas' ``to_csv``
    gives (an unnamed index column first), as the original code wrote it.

    Rows are appended and flushed as they come, rather than rewriting the
    whole table every epoch, which grew quadratically over long runs.
    ``lines`` keeps the text of every row, to rewrite the file on resume.
    """

    def __init__(self, folder, columns, lines=()):
        self.path = os.path.join(folder, HISTORY_FILE)
        self.columns = list(columns)
        self.lines = list(lines)
        header = "," + ",".join(self.columns) + "\n"
        text = header + "".join(line + "\n" for line in self.lines)
        atomic_write(self.path, lambda f: f.write(text.encode()))

    def append(self, row):
        missing = set(self.columns) - set(row)
        if missing:
            raise KeyError(f"history row lacks {sorted(missing)}")
        cells = [str(len(self.lines))] + [_cell(row[k]) for k in self.columns]
        self.lines.append(",".join(cells))
        with open(self.path, "a") as f:
            f.write(self.lines[-1] + "\n")


def read_history(folder, columns=(), rows=False):
    """``history.csv`` as a DataFrame (its first, unnamed column is the
    index), of numbers, with at least ``columns`` (and a row, with
    ``rows``); one-line errors."""
    import pandas as pd     # here: a training run, which only writes, does not load it (34 MB)
    path = _need(folder, HISTORY_FILE)
    try:
        history = pd.read_csv(path, index_col=0)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError,
            IndexError, OverflowError, RecursionError):
        raise RunFolderError(f"{path} is empty, damaged or not a CSV table") from None
    missing = [c for c in columns if c not in history.columns]
    if missing:
        raise RunFolderError(f"{path} lacks the column(s) {', '.join(missing)}; it has "
                             f"{', '.join(map(str, history.columns)) or 'none'}")
    if history.shape[1] == 0:
        raise RunFolderError(f"{path} has no columns")
    if len(history) == 0:
        if rows:
            raise RunFolderError(f"{path} has no rows yet: the run has not finished an epoch")
        return history
    for c in history.columns:  # every column a training run writes holds numbers
        if not pd.api.types.is_numeric_dtype(history[c]):
            raise RunFolderError(f"{path}: column '{c}' does not hold numbers")
    # rows are written whole, numbered from 0: anything else was cut or edited
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 1))
        whole = f.read(1) in (b"\n", b"")
    numbered = list(history.index) == list(range(len(history)))
    if not whole or not numbered or history.iloc[:, 0].isna().any():
        raise RunFolderError(f"{path} is damaged or incomplete: its rows are not whole "
                             "rows numbered from 0")
    return history


# ------------------------------------------------------------------ model.pth
def save_model_file(folder, *, epoch, model, model_kwargs, optimizer, losses, config,
                    experiment_name, state=None):
    """``model.pth``: the weights with what rebuilds the model, the epoch's
    losses (plain numbers or tensors), the config and ``state``, the initial
    states of the orbit trajectories (a list of tensors, h before c; None
    without orbit sampling), under the keys the original wrote; and a
    checksum, ``"sha256"`` (see :func:`save_verified`)."""
    save_verified({
        "epoch": epoch,
        "model": model.state_dict(),
        "state": state,
        "model_kwargs": dict(model_kwargs),
        "optimizer": optimizer.state_dict(),
        **{k: _plain(v) for k, v in losses.items() if k != "epoch"},
        "config": dict(config),
        "experiment_name": experiment_name,
    }, os.path.join(folder, MODEL_FILE))


def _plain(value):
    return value.detach().cpu() if isinstance(value, torch.Tensor) else value


def load_model_file(folder, map_location="cpu", trust_pickle=False):
    """The dict saved in ``model.pth``, read without unpickling arbitrary
    objects. A file of the original code (it pickled an ``argparse.Namespace``)
    is refused unless ``trust_pickle``; its config is then turned into a dict."""
    path = _need(folder, MODEL_FILE)
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        old = _file_kind(path) in ("zip", "pickle") and "Unsupported global" in str(e)
        if not (trust_pickle and old):
            raise RunFolderError(
                (f"{path} holds pickled Python objects (a model.pth of the original code "
                 "stores its config as an argparse.Namespace); unpickling can run arbitrary "
                 "code, so it is refused. If you trust the file, pass --trust_pickle"
                 if old else _load_problem(path, e))) from None
        saved = _load_trusted(path, map_location)
    saved = check_digest(saved, path)
    if not isinstance(saved, dict) or not MODEL_KEYS <= set(saved):
        raise RunFolderError(f"{path} is not a model file of this project "
                             f"(needs keys {', '.join(sorted(MODEL_KEYS))})")
    _check_types(path, saved, {"epoch": int, "model": dict, "model_kwargs": dict,
                               "config": dict, "experiment_name": str},
                 RunFolderError, "a model file of this project")
    if not all(isinstance(k, str) for k in saved["model"]):
        raise RunFolderError(f"{path} is not a model file of this project: its 'model' is "
                             "not a state dict")
    return saved


def _load_trusted(path, map_location):
    try:
        saved = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise RunFolderError(_load_problem(path, e)) from None
    if isinstance(saved, dict) and isinstance(saved.get("config"), argparse.Namespace):
        saved["config"] = vars(saved["config"])
    return saved


# ------------------------------------------------------------------ checkpoint.pth
def capture_rng_state():
    """The torch, CUDA, NumPy and Python random states, in plain types."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        # 625 numbers as one tensor: as a list, pickling and checksumming them
        # one by one took a fifth of the time to write a small checkpoint
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss": python_gauss},
    }


def restore_rng_state(state):
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    p = state["python"]
    internal = p["internal"]   # a list in the checkpoints of earlier versions
    internal = internal.tolist() if isinstance(internal, torch.Tensor) else internal
    random.setstate((p["version"], tuple(internal), p["gauss"]))


def save_checkpoint_file(folder, *, epoch, model, optimizer, scheduler, best, history_lines,
                         orbit, config, data=None, within=None):
    """``checkpoint.pth``: everything needed to continue a run exactly where
    it stopped (model, optimiser, scheduler, random-number states, history,
    the orbit's initial states and number of samples): its size does not
    grow with the number of orbit samples. ``data``: a short fingerprint of
    the run's data, when it comes from outside the config (a corpus).
    ``within``: written when a run stopped inside epoch ``epoch + 1``: that
    epoch, its last step done and what the loop carried past it."""
    save_verified({
        "format_version": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "best": best,
        # the CSV lines themselves, so a resumed history.csv is byte-identical
        "history": list(history_lines),
        "orbit": orbit.state_dict() if orbit is not None else None,
        "rng": capture_rng_state(),
        "config": dict(config),
        "data": data,
        **({"within": within} if within is not None else {}),
    }, os.path.join(folder, CHECKPOINT_FILE))


def load_checkpoint_file(folder, map_location="cpu"):
    """Read and check ``checkpoint.pth``; one-line errors."""
    path = os.path.join(folder, CHECKPOINT_FILE)
    try:
        data = load_verified(path, map_location, CheckpointError)
    except FileNotFoundError:
        raise CheckpointError(f"nothing to resume in {folder}: it has no {CHECKPOINT_FILE}") from None
    needed = {"format_version", "epoch", "model", "optimizer", "best", "history", "rng",
              "config"}
    if not isinstance(data, dict) or not needed <= set(data):
        raise CheckpointError(f"{path} is not a training checkpoint of this project")
    _check_types(path, data, {"format_version": int, "epoch": int, "model": dict,
                              "optimizer": dict, "best": (int, float), "history": list,
                              "rng": dict, "config": dict},
                 CheckpointError, "a training checkpoint of this project")
    # -1: stopped within the first epoch (a language model's "within")
    first = -1 if isinstance(data.get("within"), dict) else 0
    if data["epoch"] < first or not all(isinstance(line, str) for line in data["history"]):
        raise CheckpointError(f"{path} is not a training checkpoint of this project: its "
                              "epoch or history is malformed")
    if data["format_version"] not in READABLE_CHECKPOINT_FORMATS:
        raise CheckpointError(f"{path} has format {data['format_version']}, "
                              f"this version reads {READABLE_CHECKPOINT_FORMATS}")
    if len(data["history"]) != data["epoch"] + 1:
        raise CheckpointError(f"{path} is inconsistent: {len(data['history'])} history rows "
                              f"for epoch {data['epoch']}")
    return data


# ------------------------------------------------------------------ orbit file
def save_orbit_file(path, trajectory, interval):
    """``{"frequency": interval, "trajectory": T, "sha256": ...}``: the file
    keeps the original's key ``frequency`` for the number of epochs between
    samples; the checksum finds damage to the samples (see :func:`save_verified`)."""
    save_verified({"frequency": int(interval), "trajectory": trajectory}, path)


def load_orbit_file(path):
    """``(trajectory as a NumPy array, interval)`` from an orbit file written
    by this project or by the original code; ``interval`` is the number of
    epochs between two samples (the file's ``frequency``)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise OrbitFileError(f"no such orbit file: {path}") from None
    except IsADirectoryError:
        raise OrbitFileError(f"{path} is a folder, not an orbit file") from None
    except Exception as e:  # pickle, zip and weights_only errors all land here
        raise OrbitFileError(_load_problem(path, e)) from None
    data = check_digest(data, path, OrbitFileError)   # a file without one (older) as it is
    if not isinstance(data, dict) or not {"frequency", "trajectory"} <= set(data):
        raise OrbitFileError(f"{path} is not an orbit file (needs keys 'frequency' and 'trajectory')")
    trajectory = data["trajectory"]
    if (not isinstance(trajectory, torch.Tensor) or trajectory.dim() != 5
            or not (trajectory.is_floating_point() and not trajectory.is_complex())):
        raise OrbitFileError(f"{path}: 'trajectory' must be a 5-D tensor of real numbers "
                             "(seq_len, n_seq, n_inputs, n_outputs, n_samples)")
    if 0 in trajectory.shape[:4]:
        raise OrbitFileError(f"{path}: 'trajectory' is empty (shape {tuple(trajectory.shape)})")
    if trajectory.shape[-1] == 0:
        raise OrbitFileError(f"{path} holds no orbit sample yet")
    interval = data["frequency"]
    if isinstance(interval, float) and math.isfinite(interval) and interval == int(interval):
        interval = int(interval)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= 10 ** 9:
        raise OrbitFileError(f"{path}: 'frequency' (epochs between samples) must be an integer "
                             f"from 1 to 10**9, got {interval!r}")
    return trajectory.detach().float().numpy(), interval
