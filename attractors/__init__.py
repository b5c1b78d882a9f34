"""The shared core of the project. Its modules (docs/architecture.md):

- ``api``: the public API below, for any PyTorch recurrent model;
- ``tasks``: how a task folder plugs in, and the one loader of task files;
- ``options``, ``training``, ``run_files``: the command line of every
  train.py, the bookkeeping of a run, and the files of a run folder;
- ``rnn``, ``functional``: the RNN factory and a pure step of every cell;
- ``orbit``, ``orbit_analysis``, ``dynamics``, ``smoothness``, ``chaos``:
  orbit sampling and what an orbit file says, fixed points and Lyapunov
  exponents, loss smoothness, the chaotic 2-unit LSTM;
- ``plotting``: orbit diagrams and the training-dynamics figure;
- ``sweeps``: many runs through submitit (``sweep.py``).

The public API for a model of your own (documented in docs/api.md)::

    from attractors import (OrbitRecorder, fixed_points, lyapunov_exponents, state_map,
                            loss_along_line, loss_on_slice, smoothness_vs_length,
                            plot_results)
"""
from .api import (ModelLoss, OrbitRecorder, fixed_points, loss_along_line,  # noqa: F401
                  loss_on_slice, lyapunov_exponents, smoothness_vs_length, state_map)
from .smoothness import plot_results  # noqa: F401

__all__ = ["OrbitRecorder", "fixed_points", "lyapunov_exponents", "state_map", "ModelLoss",
           "loss_along_line", "loss_on_slice", "smoothness_vs_length", "plot_results"]
