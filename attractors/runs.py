"""Reading run folders back: config, history and the saved model."""
import argparse
import json
import os

import pandas as pd
import torch

from .files import CONFIG_FILE, HISTORY_FILE, MODEL_FILE

CHECKPOINT_KEYS = {"epoch", "model", "model_kwargs", "config", "experiment_name"}


class RunFolderError(ValueError):
    """A run folder, or a file in it, that cannot be used."""


def _need(folder, name):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise RunFolderError(f"{folder} has no {name}: is it a training output folder?")
    return path


def read_config(folder):
    with open(_need(folder, CONFIG_FILE)) as f:
        return json.load(f)


def read_history(folder):
    """``history.csv`` as a DataFrame (its first, unnamed column is the index)."""
    return pd.read_csv(_need(folder, HISTORY_FILE), index_col=0)


def load_checkpoint(folder, map_location="cpu", trust_pickle=False):
    """The dict saved in ``model.pth``, read without unpickling arbitrary
    objects. A file of the original code (it pickled an ``argparse.Namespace``)
    is refused unless ``trust_pickle``; its config is then turned into a dict."""
    path = _need(folder, MODEL_FILE)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        if not trust_pickle:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            old = "argparse.Namespace" in str(e) or "Unsupported global" in str(e)
            raise RunFolderError(
                (f"{path} holds pickled Python objects (a model.pth of the original code "
                 "stores its config as an argparse.Namespace); unpickling can run arbitrary "
                 "code, so it is refused. If you trust the file, pass --trust_pickle"
                 if old else f"cannot safely load {path}: {first}")) from None
        checkpoint = _load_trusted(path, map_location)
    if not isinstance(checkpoint, dict) or not CHECKPOINT_KEYS <= set(checkpoint):
        raise RunFolderError(f"{path} is not a model checkpoint of this project "
                             f"(needs keys {', '.join(sorted(CHECKPOINT_KEYS))})")
    return checkpoint


def _load_trusted(path, map_location):
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise RunFolderError(f"cannot load {path}: {e}") from None
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("config"), argparse.Namespace):
        checkpoint["config"] = vars(checkpoint["config"])
    return checkpoint
