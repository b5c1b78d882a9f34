"""Shared test helpers. A task folder's files (train.py, data.py, ...) are
loaded through the project's one loader, attractors.tasks.load_task_module,
so that their main() runs in the test process. The root scripts
(chaotic_lstm.py, analyse_*.py, plot_*.py) are never loaded as modules: they
run as commands, through run_script."""
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from attractors.tasks import load_task_module

os.environ.setdefault("MPLBACKEND", "Agg")
# A suite started in the background by a non-interactive shell (`pytest &`)
# inherits SIGINT ignored, and so would every command it starts: the tests
# that press Ctrl-C on a command would wait for it in vain, then leave it
# running. A handler, unlike "ignored", is not inherited across exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
ROOT = Path(__file__).resolve().parent.parent


def load_script(relpath):
    """The script ``ROOT/relpath`` as a module, e.g. ``"sine-generator/train.py"``."""
    path = ROOT / relpath
    return load_task_module(str(path.parent), path.stem)


def run_script(relpath, *args):
    """Run ``ROOT/relpath`` as a command with ``args`` (turned into text);
    the checkout's own ``attractors`` package comes first on PYTHONPATH.
    Returns the CompletedProcess, stdout and stderr as text."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(ROOT / relpath), *map(str, args)],
                          capture_output=True, text=True, env=env)


def together(*calls, jobs=2):
    """Call each of ``calls`` (functions of no argument that each run a
    command, e.g. ``lambda: run_script(...)``) with ``jobs`` of them at a
    time; their results, in order. A tiny command's time is mostly its
    start-up (torch's import, about 2 s), on one core: two at a time use the
    second core of CI's two, and each stays a real command line. The
    commands inherit one thread each (OMP_NUM_THREADS=1, unless set): two
    of PyTorch's default two threads would fight for the two cores. Make
    the folders the calls need before (tmp_path_factory is not thread-safe:
    its first use makes the session's folder)."""
    unset = "OMP_NUM_THREADS" not in os.environ
    if unset:
        os.environ["OMP_NUM_THREADS"] = "1"
    try:
        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(lambda call: call(), calls))
    finally:
        if unset:
            del os.environ["OMP_NUM_THREADS"]


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
