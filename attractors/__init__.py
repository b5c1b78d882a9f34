"""The shared core of the project. Its modules (docs/architecture.md):

- ``api``: the public API below, for any PyTorch recurrent model;
- ``tasks``: how a task folder plugs in, and the one loader of task files;
- ``options``, ``training``, ``run_files``: the command line of every
  train.py, the bookkeeping of a run, and the files of a run folder;
- ``rules``, ``parsing``, ``command``, ``script_options``: the rules every
  option is declared with, the parser that applies them, how every script
  ends (one line, an exit status), and a script's options read from its
  parser;
- ``rnn``, ``functional``: the RNN factory and a pure step of every cell;
- ``steps``, ``checks``: one time step of any cell as the analysis sees it,
  and the one-line errors of a wrong call;
- ``orbit``, ``orbit_analysis``, ``dynamics``, ``smoothness``, ``chaos``:
  orbit sampling and what an orbit file says, fixed points and Lyapunov
  exponents, loss smoothness, the chaotic 2-unit LSTM;
- ``plotting``: orbit diagrams and the training-dynamics figure;
- ``sweeps``: many runs through submitit (``sweep.py``);
- ``robustness``, ``portable``: one command under the math-library settings
  of other CPUs and seeds (``check_robustness.py``), and
  ``--portable_numerics``, the same numbers on any x86-64 CPU with AVX2.

The public API for a model of your own (documented in docs/api.md)::

    from attractors import (OrbitRecorder, as_step, fixed_points, lyapunov_exponents, state_map,
                            loss_along_line, loss_on_slice, smoothness_vs_length,
                            plot_results)
"""
import importlib

# Imported when first used (PEP 562), so that what needs no torch (sweep.py,
# its job processes, the options) starts without importing it.
_PUBLIC = {"OrbitRecorder": "api", "as_step": "api", "fixed_points": "api",
           "lyapunov_exponents": "api", "state_map": "api", "ModelLoss": "api", "loss_along_line": "api",
           "loss_on_slice": "api", "smoothness_vs_length": "api", "plot_results": "smoothness"}
__all__ = list(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
