"""The analysis of this project on a model of your own (see docs/api.md).

* :class:`OrbitRecorder` (from :mod:`attractors.orbit`): record the orbit
  diagram in your own training loop and write the orbit file that
  ``plot_orbit_diagram.py`` and ``plot_training_dynamics.py`` draw.
* :func:`fixed_points`: the fixed points of a recurrent cell under constant
  inputs, with the eigenvalues of the state Jacobian and their stability.
* :func:`lyapunov_exponents`: the Lyapunov spectrum (or its k largest) of a
  cell under a constant input.
* :func:`loss_along_line`, :func:`loss_on_slice`, :func:`smoothness_vs_length`:
  your loss ``loss_fn(model, seq_len)`` along a line or on a 2-D slice of
  parameter space, and the Lipschitz constant of its derivative against the
  sequence length.

Cells: ``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` (tanh or relu; any number of
layers; sequence first, one direction, no projection), ``nn.LSTMCell``,
``nn.GRUCell``, ``nn.RNNCell``, the orthogonal cells of ``expRNN``
(``OrthogonalRNN``), or a module holding one of them at ``.rnn``.
The analysis scripts of this project run on these same functions.
"""
import warnings

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import dynamics
from .dynamics import StateMap
from .options import first_line
from .orbit import OrbitRecorder  # noqa: F401 (part of the API)
from .smoothness import (DEFAULT_SEQ_LENS, TaskLoss, analyse, direction_towards,
                         line_grid, line_losses, parameters_of, random_direction)

__all__ = ["OrbitRecorder", "state_map", "fixed_points", "lyapunov_exponents",
           "ModelLoss", "loss_along_line", "loss_on_slice", "smoothness_vs_length"]


# ------------------------------------------------------------ dynamics
def state_map(cell, input, dtype=torch.float64):
    """The map ``x -> f(x)`` of ``cell`` under the constant ``input``
    ``(input_size,)``, on flat states ``(*batch, D)`` (a
    :class:`attractors.dynamics.StateMap`): ``D`` is ``num_layers * hidden``
    (h of every layer), twice that for LSTMs (then c of every layer).
    ``.flatten(state)`` and ``.unflatten(x)`` convert between flat states and
    the module's own state layout; ``.output(x)`` is the last layer's h."""
    return StateMap(cell, input, dtype)


def _as_inputs(inputs, dtype):
    inputs = torch.as_tensor(inputs)
    single = inputs.dim() == 1
    inputs = inputs.to(dtype)
    return inputs.reshape(-1, inputs.shape[-1]), single


def fixed_points(cell, inputs, n_starts=64, std=1.0, seed=0, starts=None, settle=0,
                 newton_steps=50, tol=1e-9, dedup_tol=1e-6, dtype=torch.float64):
    """The distinct fixed points of ``cell`` under each constant input.

    ``inputs``: ``(n_inputs, input_size)``, or one input ``(input_size,)``.
    Newton's method runs from ``n_starts`` random flat states per input
    (Gaussian, ``std``, drawn from ``seed``), or from ``starts`` (flat,
    ``(n_starts, D)`` shared by all inputs or ``(n_inputs, n_starts, D)``);
    with ``settle`` > 0 also from where each start is after ``settle`` steps
    (stable fixed points are found more often). All starts of all inputs run
    as one batch.

    Returns, per input, a list of dicts, one per distinct point (in order of
    discovery): ``x`` the flat state ``(D,)`` (see :func:`state_map`),
    ``state`` the same in the module's layout without a batch dimension,
    ``output`` the last layer's h ``(hidden,)``,
    ``residual`` ``|f(x) - x|``, ``eigenvalues`` of the state Jacobian
    ``(D,)`` (complex), ``spectral_radius`` and ``stable`` (radius < 1).
    For a single input (1-D ``inputs``), that input's list alone.
    """
    inputs, single = _as_inputs(inputs, dtype)
    n_inputs = inputs.shape[0]
    probe = StateMap(cell, inputs[0], dtype)
    if starts is None:
        generator = torch.Generator().manual_seed(seed)
        starts = std * torch.randn(n_inputs, n_starts, probe.dim, dtype=dtype,
                                   generator=generator)
    starts = torch.as_tensor(starts).to(device=probe.device, dtype=dtype)
    if starts.dim() == 2:
        starts = starts.expand(n_inputs, *starts.shape)
    if starts.shape[0] != n_inputs or starts.shape[-1] != probe.dim:
        raise ValueError(f"starts must be (n_starts, {probe.dim}) or "
                         f"({n_inputs}, n_starts, {probe.dim})")
    per_input = starts.shape[1]
    inputs = inputs.to(probe.device)
    if settle > 0:
        fmap = StateMap(cell, inputs.repeat_interleave(per_input, 0), dtype)
        ends = fmap.iterate(starts.reshape(-1, probe.dim), settle).reshape(starts.shape)
        starts = torch.cat([starts, ends], dim=1)
        per_input *= 2
    fmap = StateMap(cell, inputs.repeat_interleave(per_input, 0), dtype)
    found = dynamics.find_fixed_points(fmap, starts.reshape(-1, probe.dim), newton_steps, tol,
                                       dedup_tol, group_size=per_input)
    for points in found:
        for p in points:
            p["state"] = fmap.unflatten(p["x"])
            p["output"] = fmap.output(p["x"])
    return found[0] if single else found


def lyapunov_exponents(cell, input, states=None, steps=1000, burnout=200, k=None,
                       n_states=8, std=1.0, seed=0, dtype=torch.float64):
    """The ``k`` largest Lyapunov exponents (default: the whole spectrum,
    ``k = D``) of ``cell`` under the constant ``input`` ``(input_size,)``,
    per step (natural log), from each initial state: ``(n, k)``, each row in
    descending order.

    ``states``: flat states ``(n, D)``, or states in the module's own layout
    (e.g. ``(h, c)`` of an ``nn.LSTM``, each ``(num_layers, n, hidden)``);
    default ``n_states`` random ones (Gaussian, ``std``, from ``seed``). The
    first ``burnout`` steps are not averaged; ``steps`` are."""
    fmap = StateMap(cell, input, dtype)
    generator = torch.Generator().manual_seed(seed)
    if states is None:
        states = fmap.random_states(n_states, std, generator)
    elif isinstance(states, (tuple, list)) or states.dim() != 2 or states.shape[-1] != fmap.dim:
        states = fmap.flatten(tuple(states) if isinstance(states, list) else states)
    states = states.to(device=fmap.device, dtype=dtype)
    exponents = dynamics.lyapunov_exponents(fmap, states, steps, burnout, k or fmap.dim,
                                            generator=generator)
    return exponents.sort(dim=-1, descending=True).values


# ------------------------------------------------------------ smoothness
class _Bound(nn.Module):
    """``loss_fn(model, seq_len)`` as a module, so that
    ``torch.func.functional_call`` can swap the model's parameters."""

    def __init__(self, model, loss_fn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, seq_len):
        return self.loss_fn(self.model, seq_len)


class ModelLoss(TaskLoss):
    """A :class:`attractors.smoothness.TaskLoss` from your loss function
    ``loss_fn(model, seq_len) -> scalar tensor``. The batched loss runs
    ``torch.vmap`` over stacked parameters with
    ``torch.func.functional_call``; :func:`smoothness_vs_length` falls back
    to one point at a time when the model cannot be vmapped."""
    batched = True
    strict = False  # its curvature at s = 0 is nan where forward-mode AD fails

    def __init__(self, model, loss_fn):
        super().__init__(model)
        self.loss_fn = loss_fn
        self._bound = _Bound(model, loss_fn)

    @torch.no_grad()
    def loss(self, seq_len):
        return float(self.loss_fn(self.model, seq_len))

    def batched_loss(self, tensors, seq_len):
        def one(params):
            return torch.func.functional_call(self._bound, params, (seq_len,))
        stacked = {"model." + name: t for name, t in tensors.items()}
        return torch.vmap(one, randomness="different")(stacked)


def _task(model, loss_fn):
    if isinstance(model, TaskLoss):
        return model
    if loss_fn is None:
        raise ValueError("give loss_fn(model, seq_len), or a TaskLoss as the model")
    return ModelLoss(model, loss_fn)


def _direction(task, theta, direction, seed):
    if direction is None:
        return random_direction(theta, seed)
    if isinstance(direction, nn.Module):  # towards another model of the same shape
        return direction_towards(theta, parameters_of(direction))
    return direction


def _check_batched(task, theta, direction, seq_len, batched):
    """Whether the batched loss runs for this model (a vmap can fail, e.g.
    on ``nn.LSTM`` modules); if not, a warning and the loop instead."""
    if not (batched and task.batched):
        return False
    if not isinstance(task, ModelLoss):  # a task's own batched loss: no probe
        return True
    try:
        with torch.no_grad():
            line_losses(task, theta, direction, [0.0, 1e-3], seq_len, batched=True)
        return True
    except Exception as e:  # any failure of vmap: fall back to the loop
        warnings.warn(f"the batched loss failed ({first_line(e)}); evaluating one point at a time",
                      stacklevel=3)
        return False


def loss_along_line(model, loss_fn, seq_len, s, direction=None, seed=0, batched=True,
                    chunk_size=32, progress=True):
    """The loss at ``theta + s_k d`` for every ``s_k`` of ``s``: a NumPy
    array ``(len(s),)``.

    ``model``: your module (``theta`` is its ``named_parameters()``;
    buffers stay as they are), ``loss_fn(model, seq_len)``: your loss, a
    scalar tensor. ``direction``: a dict keyed like ``named_parameters()``,
    another model of the same shape (``d`` = its weights - ``theta``) or
    None (a Gaussian direction, each tensor scaled to the norm of its
    parameter, from ``seed``). ``batched``: ``chunk_size`` points at a time
    through ``vmap`` when the model allows it, else one point at a time (the
    model's weights are put back afterwards)."""
    task = _task(model, loss_fn)
    theta = parameters_of(task.model)
    direction = _direction(task, theta, direction, seed)
    batched = _check_batched(task, theta, direction, seq_len, batched)
    with tqdm(total=len(s), desc="loss along the line", unit="point", dynamic_ncols=True,
              mininterval=0.5, disable=not progress) as bar:
        return line_losses(task, theta, direction, s, seq_len, batched, chunk_size, bar)


def loss_on_slice(model, loss_fn, seq_len, s1, s2, directions=None, seed=0, batched=True,
                  chunk_size=32, progress=True):
    """The loss at ``theta + a d1 + b d2`` for every ``a`` of ``s1`` and
    ``b`` of ``s2``: a NumPy array ``(len(s1), len(s2))``. ``directions``:
    a pair of directions as for :func:`loss_along_line` (default: two random
    ones, from ``seed`` and ``seed + 1``)."""
    task = _task(model, loss_fn)
    theta = parameters_of(task.model)
    d1, d2 = directions if directions is not None else (None, None)
    d1 = _direction(task, theta, d1, seed)
    d2 = _direction(task, theta, d2, seed + 1)
    batched = _check_batched(task, theta, d2, seq_len, batched)
    values = np.empty((len(s1), len(s2)))
    with tqdm(total=len(s1) * len(s2), desc="loss on the slice", unit="point",
              dynamic_ncols=True, mininterval=0.5, disable=not progress) as bar:
        for row, a in enumerate(np.asarray(s1, dtype=np.float64).tolist()):
            shifted = {name: theta[name] + a * d1[name] for name in theta}
            values[row] = line_losses(task, shifted, d2, s2, seq_len, batched, chunk_size, bar)
    return values


def smoothness_vs_length(model, loss_fn, seq_lens=DEFAULT_SEQ_LENS, s=None, direction=None,
                         seed=0, batched=True, chunk_size=32, curvature=True):
    """The loss along a line for each sequence length, and the Lipschitz
    constant of its derivative along the line against the length.

    ``s`` defaults to 101 points in [-0.1, 0.1] (0 among them, see
    :func:`attractors.smoothness.line_grid`); ``model``, ``loss_fn``,
    ``direction``, ``seed``, ``batched``, ``chunk_size`` as for
    :func:`loss_along_line` (``model`` may also be a ``TaskLoss``, with
    ``loss_fn`` None). ``curvature``: also the exact second derivative at
    s = 0 (forward-mode AD through the batched loss; nan where it fails).

    Returns the dict of :func:`attractors.smoothness.analyse` (``s``,
    ``seq_lens``, ``curves`` ``(n_lengths, n_points)``, ``lipschitz``,
    ``curvature``, ``seconds``), which
    :func:`attractors.smoothness.plot_results` draws."""
    task = _task(model, loss_fn)
    s = line_grid(-0.1, 0.1, 101) if s is None else np.asarray(s, dtype=np.float64)
    theta = parameters_of(task.model)
    direction = _direction(task, theta, direction, seed)
    batched = _check_batched(task, theta, direction, min(seq_lens), batched)
    return analyse(task, theta, direction, s, seq_lens, batched=batched, chunk_size=chunk_size,
                   curvature=curvature)
