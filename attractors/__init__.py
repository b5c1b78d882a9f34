"""Shared core: options, output files, RNN factory, training loop pieces, orbit sampling.

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
