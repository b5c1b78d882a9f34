"""``checkpoint.pth``: everything needed to continue a run exactly where it
stopped (model, optimiser, scheduler, random-number states, history, orbit
samples), stored as tensors and plain values so that
``torch.load(weights_only=True)`` reads it."""
import random

import numpy as np
import torch

from .files import save_torch

CHECKPOINT_FILE = "checkpoint.pth"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used to resume."""


def capture_rng_state():
    """The torch, CUDA, NumPy and Python random states, in plain types."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "internal": list(internal), "gauss": python_gauss},
    }


def restore_rng_state(state):
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def save_checkpoint(path, *, epoch, model, optimizer, scheduler, best, history_lines,
                    orbit, config):
    save_torch({
        "format_version": FORMAT_VERSION,
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
    }, path)


def load_checkpoint_file(path, map_location="cpu"):
    """Read and check ``checkpoint.pth``; one-line errors."""
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"nothing to resume: {path} does not exist") from None
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"cannot read {path}: {first}") from None
    needed = {"format_version", "epoch", "model", "optimizer", "best", "history", "rng",
              "config"}
    if not isinstance(data, dict) or not needed <= set(data):
        raise CheckpointError(f"{path} is not a training checkpoint of this project")
    if data["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format {data['format_version']}, "
                              f"this version reads {FORMAT_VERSION}")
    if len(data["history"]) != data["epoch"] + 1:
        raise CheckpointError(f"{path} is inconsistent: {len(data['history'])} history rows "
                              f"for epoch {data['epoch']}")
    return data
