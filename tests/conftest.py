"""Helpers to load a task's scripts (folders with dashes, same module names
``data``/``model`` in every task) into the test process."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parent.parent
TASK_MODULES = ("data", "model", "train")


def load_script(relpath, name=None):
    """Import ``ROOT/relpath`` as a fresh module; its folder's ``data`` and
    ``model`` resolve to that task's files."""
    path = ROOT / relpath
    for module in TASK_MODULES:
        sys.modules.pop(module, None)
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(name or path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The test models are tiny: a second thread only adds synchronisation,
    which on a busy 2-core machine made runs up to 20 times slower."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def sine():
    """The sine-generator task: ``sine.train``, ``sine.data``, ``sine.model``."""
    train = load_script("sine-generator/train.py", "sine_train")
    return type("Task", (), {"train": train, "data": sys.modules["data"],
                             "model": sys.modules["model"]})


TINY_SINE = ["--epochs", "3", "--seq_len", "20", "--n_sequences", "4", "--batch_size", "2",
             "--hidden_size", "8", "--interval_orbit", "1", "--seq_len_orbit", "30",
             "--burnout_orbit", "20", "--n_sequences_orbit", "2"]
