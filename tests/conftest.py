"""Shared test helpers. Scripts (a task's train.py, the root scripts) are
loaded through the project's one loader, attractors.tasks.load_task_module,
so that their main() runs in the test process: the same code as the command,
without the second or so of a new Python process each time."""
import os
from pathlib import Path

import pytest

from attractors.tasks import load_task_module

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parent.parent


def load_script(relpath):
    """The script ``ROOT/relpath`` as a module, e.g. ``"sine-generator/train.py"``."""
    path = ROOT / relpath
    return load_task_module(str(path.parent), path.stem)


def task_files(folder):
    """A task folder's ``train``, ``data``, ``model`` and ``task`` modules."""
    return type("Task", (), {name: load_script(f"{folder}/{name}.py")
                             for name in ("train", "data", "model", "task")})


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
    """The sine-generator task: ``sine.train``, ``sine.data``, ``sine.model``, ``sine.task``."""
    return task_files("sine-generator")


TINY_SINE = ["--epochs", "3", "--seq_len", "20", "--n_sequences", "4", "--batch_size", "2",
             "--hidden_size", "8", "--interval_orbit", "1", "--seq_len_orbit", "30",
             "--burnout_orbit", "20", "--n_sequences_orbit", "2"]
