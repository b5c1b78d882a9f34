"""How a task plugs into the shared code, and the one loader of task files.

A task is a folder with ``train.py``, ``model.py``, ``data.py`` and a
``task.py`` whose ``TASK`` object describes the task to the analysis tools
(``analyse_attractors.py``, ``analyse_smoothness.py``): a subclass of
:class:`Task`. This package never names a task: it finds them.

Task folders have dashes in their names and all call their files ``model``,
``data`` and ``train``, so they are not packages. :func:`load_task_module`
imports one file of a folder under a name of its own
(``attractors_task_<folder>_<hash>.<file>``), so the files of two tasks live
side by side in one process; inside a task folder the files import each
other with :func:`import_sibling`::

    from attractors.tasks import import_sibling
    data = import_sibling(__file__, "data")
"""
import hashlib
import importlib.util
import os
import re
import sys

import torch

from .options import first_line
from .run_files import RunFolderError, load_model_file

TASK_FILE = "task.py"
# Extra folders to search for task folders, separated by os.pathsep.
TASK_PATH_VARIABLE = "ATTRACTORS_TASK_PATH"


class Task:
    """What the analysis tools need from a task.

    Set ``name`` (the ``experiment_name`` its ``train.py`` writes into
    ``model.pth``) and ``model_class``; implement :meth:`constant_inputs`
    and :meth:`smoothness_loss`. The model must keep its recurrent layer
    (an :class:`attractors.rnn.RecurrentLayer`) at ``model.rnn``.
    """
    name = None
    model_class = None
    folder = None  # set by the loader

    def build_model(self, saved, device="cpu", dtype=torch.float64):
        """The model saved in ``saved`` (the dict of a ``model.pth``), in
        evaluation mode, in ``dtype`` on ``device``."""
        _check_size(self.model_class, saved)
        try:
            model = self.model_class(**saved["model_kwargs"])
            model.load_state_dict(saved["model"])
        except (TypeError, ValueError, RuntimeError, KeyError, AttributeError,
                OverflowError) as e:
            raise RunFolderError(f"cannot rebuild the saved model: {first_line(e)}") from None
        for name, tensor in model.state_dict().items():
            if (isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
                    and not torch.isfinite(tensor).all()):
                raise RunFolderError(f"the saved model's weights are not finite ({name} holds "
                                     "nan or inf): there is nothing to analyse")
        return model.to(device=device, dtype=dtype).eval()

    def constant_inputs(self, model, config, options):
        """``(labels, inputs)``: the constant input vectors of the recurrent
        layer whose attractors are analysed, ``(n_inputs, input_size)`` in
        the model's dtype; ``options`` holds the analysis options."""
        raise NotImplementedError

    def smoothness_loss(self, model, config, options):
        """A :class:`attractors.smoothness.TaskLoss` for ``model``: the
        task's training loss at a given sequence length."""
        raise NotImplementedError


def _check_size(model_class, saved):
    """Refuse ``model_kwargs`` that describe a model far larger than the
    weights stored beside them (building it first would exhaust memory);
    the model is sized on PyTorch's meta device, which allocates nothing."""
    stored = sum(t.numel() for t in saved["model"].values() if isinstance(t, torch.Tensor))
    try:
        with torch.device("meta"):
            probe = model_class(**saved["model_kwargs"])
        size = sum(t.numel() for t in probe.state_dict().values()
                   if isinstance(t, torch.Tensor))
    except Exception:   # noqa: BLE001 (a model that cannot be sized so is built as it is)
        return
    if size > 2 * stored + 10 ** 6:
        raise RunFolderError(f"cannot rebuild the saved model: its model_kwargs describe "
                             f"{size} weights, its state dict holds {stored}")


# ------------------------------------------------------------------ loading
def _module_prefix(folder):
    folder = os.path.realpath(folder)
    slug = re.sub(r"\W", "_", os.path.basename(folder))
    digest = hashlib.sha1(folder.encode()).hexdigest()[:8]
    return f"attractors_task_{slug}_{digest}"


def load_task_module(folder, name):
    """The file ``folder/name.py``, imported once under a name of its own."""
    module_name = f"{_module_prefix(folder)}.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = os.path.join(folder, f"{name}.py")
    if not os.path.isfile(path):
        raise RunFolderError(f"{folder} has no {name}.py")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before running it, as import does
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def import_sibling(file, name):
    """From a task file ``file`` (its ``__file__``): the file ``name.py``
    beside it, loaded by :func:`load_task_module`. Beside the file itself,
    not a link to it (a script run through a link finds its siblings, as
    Python's own ``sys.path[0]`` does)."""
    return load_task_module(os.path.dirname(os.path.realpath(file)), name)


def load_task(folder):
    """The ``TASK`` described by ``folder/task.py``."""
    try:
        module = load_task_module(folder, "task")
    except RunFolderError:
        raise
    except Exception as e:   # noqa: BLE001 (a broken task.py found on the search path)
        raise RunFolderError(f"cannot load {os.path.join(folder, TASK_FILE)}: "
                             f"{type(e).__name__}: {first_line(e)}") from None
    task = getattr(module, "TASK", None)
    if not isinstance(task, Task):
        raise RunFolderError(f"{os.path.join(folder, TASK_FILE)} defines no TASK (a Task)")
    task.folder = os.path.abspath(folder)
    return task


def task_folders(search):
    """Every folder directly inside one of ``search`` (or named by it) that
    holds a ``task.py``; ``$ATTRACTORS_TASK_PATH`` adds places to look."""
    places = list(search) + [p for p in os.environ.get(TASK_PATH_VARIABLE, "").split(os.pathsep)
                             if p]
    found = []
    for place in places:
        if os.path.isfile(os.path.join(place, TASK_FILE)):
            found.append(place)
        elif os.path.isdir(place):
            found += sorted(os.path.join(place, d) for d in os.listdir(place)
                            if os.path.isfile(os.path.join(place, d, TASK_FILE)))
    return found


def find_task(experiment_name, search):
    """The task whose ``name`` is ``experiment_name``, among :func:`task_folders`."""
    known = []
    for folder in task_folders(search):
        task = load_task(folder)
        if task.name == experiment_name:
            return task
        known.append(task.name)
    raise RunFolderError(f"no task folder describes '{experiment_name}' runs (found: "
                         f"{', '.join(known) or 'none'}; add a folder to ${TASK_PATH_VARIABLE})")


def load_run(folder, search, device="cpu", dtype=torch.float64, trust_pickle=False):
    """``(task, model, saved)`` for a training output folder: its task (from
    the ``experiment_name`` in ``model.pth``), the saved model rebuilt, and
    the dict of ``model.pth``."""
    saved = load_model_file(folder, map_location=device, trust_pickle=trust_pickle)
    task = find_task(saved["experiment_name"], search)
    return task, task.build_model(saved, device, dtype), saved
