"""The analysis of this project on a model of your own (see docs/api.md).

* :class:`OrbitRecorder` (from :mod:`attractors.orbit`): record the orbit
  diagram in your own training loop and write the orbit file that
  ``plot_orbit_diagram.py`` and ``plot_training_dynamics.py`` draw.
* :func:`fixed_points`: the fixed points of a recurrent cell under constant
  inputs, with the eigenvalues of the state Jacobian and their stability.
* :func:`lyapunov_exponents`: the Lyapunov spectrum (or its k largest) of a
  cell under a constant input.
* :func:`state_map`: one step of a cell under a constant input as a map of
  flat states, with its Jacobian.
* :func:`loss_along_line`, :func:`loss_on_slice`, :func:`smoothness_vs_length`:
  your loss ``loss_fn(model, seq_len)`` along a line or on a 2-D slice of
  parameter space, and the Lipschitz constant of its derivative against the
  sequence length.

Cells (:func:`as_step`, one mechanism for all): a cell of your own, a module
or function ``step(input, state)`` returning the new state or ``(output,
new_state)`` (state: a tensor or a tuple of tensors, ``state_shape``);
``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` (tanh or relu; any number of layers;
``batch_first`` or not; one direction, no projection), ``nn.LSTMCell``,
``nn.GRUCell``, ``nn.RNNCell``, the orthogonal cells of ``expRNN``, this
project's ``RecurrentLayer``, or a model holding exactly one of them at any
attribute. The analysis scripts of this project run on these same functions.
"""
import warnings

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import checks, dynamics
from .dynamics import StateMap
from .options import first_line
from .orbit import OrbitRecorder  # noqa: F401 (part of the API)
from .smoothness import (DEFAULT_SEQ_LENS, TaskLoss, analyse, direction_towards,
                         line_grid, line_losses, parameters_of, random_direction)
from .steps import CellError, as_step  # noqa: F401 (part of the API)

__all__ = ["OrbitRecorder", "as_step", "state_map", "fixed_points", "lyapunov_exponents",
           "ModelLoss", "loss_along_line", "loss_on_slice", "smoothness_vs_length"]


class NoFixedPointWarning(RuntimeWarning):
    """:func:`fixed_points` found no fixed point for some input."""


# ------------------------------------------------------------ dynamics
def state_map(cell, input, dtype=torch.float64, state_shape=None):
    """The map ``x -> f(x)`` of one step of ``cell`` under the constant
    ``input`` ``(input_size,)``, on flat states ``(*batch, D)`` (a
    :class:`attractors.dynamics.StateMap`). ``cell`` and ``state_shape``: see
    :func:`as_step`. ``D`` is the number of values in one trajectory's state
    (built-in cells: ``num_layers * hidden``, twice that for LSTMs: h of
    every layer, then c of every layer). ``.flatten(state)`` and
    ``.unflatten(x)`` convert between flat states and the cell's own state
    layout; ``.output(x)`` is the cell's output; ``.jacobian(x)``."""
    input = checks.one_input(input, "state_map", dtype)
    return StateMap(cell, input, dtype, state_shape, who="state_map")


def fixed_points(cell, inputs, n_starts=64, std=1.0, seed=0, starts=None, settle=0,
                 newton_steps=50, tol=1e-9, dedup_tol=1e-6, dtype=torch.float64, box=None,
                 state_shape=None):
    """The distinct fixed points of ``cell`` under each constant input.

    ``cell`` and ``state_shape``: see :func:`as_step`. ``inputs``:
    ``(n_inputs, input_size)``, or one input ``(input_size,)``. Newton's
    method runs from ``n_starts`` random flat states per input (Gaussian,
    ``std``, drawn from ``seed``; with a ``box``, uniform along its finite
    sides), or from ``starts`` (flat, ``(n_starts, D)`` shared by all inputs
    or ``(n_inputs, n_starts, D)``); with ``settle`` > 0 also from where each
    start is after ``settle`` steps (stable fixed points are found more
    often). All starts of all inputs run as one batch, until every residual
    ``|f(x) - x|`` is below ``tol`` or for ``newton_steps`` steps.

    Returns, per input, a :class:`attractors.dynamics.FixedPoints` list of
    dicts, one per distinct point whose residual is at most ``tol`` (in order
    of discovery; points within ``dedup_tol`` in every coordinate are one):
    ``x`` the flat state ``(D,)`` (see :func:`state_map`), ``state`` the same
    in the cell's layout without a batch dimension, ``output`` the cell's
    output there, ``residual``, ``eigenvalues`` of the state Jacobian ``(D,)``
    (complex), ``spectral_radius`` and ``stable`` (radius < 1). ``box``
    ``(low, high)`` (numbers, or ``(D,)`` tensors for one bound per flat
    coordinate; e.g. ``(-1, 1)``, the range of tanh): points with a
    coordinate outside are not in the list but in its ``.outside``. The list
    also counts its ``.starts`` and the ``.unconverged`` ones. An input with
    no point found gives a :class:`NoFixedPointWarning` that says what to
    try. For a single input (1-D ``inputs``), that input's list alone.
    """
    who = "fixed_points"
    inputs, single = checks.inputs_2d(inputs, who, dtype)
    n_inputs = inputs.shape[0]
    probe = StateMap(cell, inputs[0], dtype, state_shape, who)
    cell = probe.step
    newton_steps, settle = checks.count(newton_steps, "newton_steps", who), \
        checks.count(settle, "settle", who, low=0)
    tol, dedup_tol = checks.number(tol, "tol", who, True), checks.number(dedup_tol, "dedup_tol",
                                                                         who, True)
    box = None if box is None else checks.box_bounds(box, probe.dim, who)
    if starts is None:
        n_starts, std = checks.count(n_starts, "n_starts", who), checks.number(std, "std", who)
        generator = torch.Generator().manual_seed(checks.count(seed, "seed", who, 0, checks.SEED_MAX))
        checks.fits(n_inputs * n_starts * probe.dim, dtype, f"{n_starts} starts per input",
                    who, probe.device)
        starts = dynamics.random_starts((n_inputs, n_starts, probe.dim), std, generator, box,
                                        dtype)
    starts = checks.tensor(starts, "starts", who, dtype).to(probe.device)
    if starts.dim() == 2:
        starts = starts.expand(n_inputs, *starts.shape)
    if starts.dim() != 3 or starts.shape[0] != n_inputs or starts.shape[-1] != probe.dim \
            or starts.shape[1] == 0:
        raise CellError(f"{who}: starts must be flat states (n_starts, {probe.dim}) or "
                        f"({n_inputs}, n_starts, {probe.dim}), got {tuple(starts.shape)}")
    per_input = starts.shape[1]
    inputs = inputs.to(probe.device)
    if settle > 0:
        fmap = StateMap(cell, inputs.repeat_interleave(per_input, 0), dtype, who=who)
        ends = fmap.iterate(starts.reshape(-1, probe.dim), settle).reshape(starts.shape)
        starts = torch.cat([starts, ends], dim=1)
        per_input *= 2
    fmap = StateMap(cell, inputs.repeat_interleave(per_input, 0), dtype, who=who)
    found = dynamics.find_fixed_points(fmap, starts.reshape(-1, probe.dim), newton_steps, tol,
                                       dedup_tol, group_size=per_input, box=box)
    for u, points in zip(inputs, found):
        at_u = StateMap(cell, u, dtype, who=who)
        for p in points + points.outside:
            p["state"] = cell.unflatten(p["x"])
            p["output"] = at_u.output(p["x"])
    _report_empty(found, tol, newton_steps, settle, box is not None)
    return found[0] if single else found


def _report_empty(found, tol, newton_steps, settle, boxed):
    empty = [i for i, points in enumerate(found) if not points]
    if not empty:
        return
    points = found[empty[0]]
    outside = f", {len(points.outside)} distinct point(s) outside the box" if boxed else ""
    hint = "settle=200 (Newton also from where trajectories end), " if settle == 0 else ""
    warnings.warn(f"fixed_points: no fixed point found for input(s) {', '.join(map(str, empty))} "
                  f"(input {empty[0]}: {points.unconverged} of {points.starts} starts did not "
                  f"reach residual tol={tol:g} in {newton_steps} Newton steps{outside}); try "
                  f"{hint}more n_starts or newton_steps, or starts of your own",
                  NoFixedPointWarning, stacklevel=3)


def lyapunov_exponents(cell, input, states=None, steps=1000, burnout=200, k=None,
                       n_states=8, std=1.0, seed=0, dtype=torch.float64, state_shape=None):
    """The ``k`` largest Lyapunov exponents (default: the whole spectrum,
    ``k = D``) of ``cell`` under the constant ``input`` ``(input_size,)``,
    per step (natural log), from each initial state: ``(n, k)``, each row in
    descending order. ``cell`` and ``state_shape``: see :func:`as_step`.

    ``states``: flat states ``(n, D)``, or states in the cell's own layout
    (e.g. ``(h, c)`` of an ``nn.LSTM``, each ``(num_layers, n, hidden)``);
    default ``n_states`` random ones (Gaussian, ``std``, from ``seed``).
    ``k`` orthonormal tangent vectors (random, from ``seed``) are carried
    along each trajectory from its start, through the ``burnout`` steps,
    which are not averaged, and the ``steps`` that are: what remains of the
    start in the estimate falls as 1/steps."""
    who = "lyapunov_exponents"
    input = checks.one_input(input, who, dtype)
    fmap = StateMap(cell, input, dtype, state_shape, who)
    steps, burnout = checks.count(steps, "steps", who), checks.count(burnout, "burnout", who, 0)
    k = fmap.dim if k is None else checks.count(k, "k (None: all)", who, 1, fmap.dim)
    generator = torch.Generator().manual_seed(checks.count(seed, "seed", who, 0, checks.SEED_MAX))
    if states is None:
        n_states, std = checks.count(n_states, "n_states", who), checks.number(std, "std", who)
        checks.fits(n_states * fmap.dim * (k + 1), dtype, f"{n_states} states", who,
                    fmap.device)
        states = fmap.random_states(n_states, std, generator)
    else:
        states = checks.flat_states(fmap, states, "states", who)
    exponents = dynamics.lyapunov_exponents(fmap, states, steps, burnout, k, generator=generator)
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


def _task(model, loss_fn, who):
    if isinstance(model, TaskLoss):
        return model
    if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
        raise CellError(f"{who}: model must be a module with parameters (or a TaskLoss), got "
                        f"{type(model).__name__}")
    if not callable(loss_fn):
        raise CellError(f"{who}: give loss_fn(model, seq_len) -> scalar tensor (or a TaskLoss "
                        f"as the model), got {type(loss_fn).__name__}")
    return ModelLoss(model, loss_fn)


def _grid(values, name, who, at_least=1):
    """A strictly increasing 1-D grid of finite numbers."""
    grid = checks.tensor(values, name, who, torch.float64)
    if grid.dim() != 1 or len(grid) < at_least or (grid[1:] <= grid[:-1]).any():
        raise CellError(f"{who}: {name} must be at least {at_least} increasing numbers, got "
                        f"shape {tuple(grid.shape)}")
    return grid.numpy()


def _direction(task, theta, direction, seed, who):
    if direction is None:
        return random_direction(theta, checks.count(seed, "seed", who, 0, checks.SEED_MAX))
    if isinstance(direction, nn.Module):  # towards another model of the same shape
        try:
            return direction_towards(theta, parameters_of(direction))
        except ValueError as e:
            raise CellError(f"{who}: {first_line(e)}") from None
    if not isinstance(direction, dict) or direction.keys() != theta.keys() or any(
            torch.as_tensor(direction[k]).shape != theta[k].shape for k in theta):
        raise CellError(f"{who}: a direction must be a dict of tensors keyed and shaped like "
                        "model.named_parameters(), another model of the same shape, or None")
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
    who = "loss_along_line"
    task = _task(model, loss_fn, who)
    seq_len, chunk_size = checks.count(seq_len, "seq_len", who), checks.count(chunk_size,
                                                                               "chunk_size", who)
    s = checks.tensor(s, "s", who, torch.float64).reshape(-1).numpy()
    theta = parameters_of(task.model)
    direction = _direction(task, theta, direction, seed, who)
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
    who = "loss_on_slice"
    task = _task(model, loss_fn, who)
    seq_len, chunk_size = checks.count(seq_len, "seq_len", who), checks.count(chunk_size,
                                                                               "chunk_size", who)
    s1 = checks.tensor(s1, "s1", who, torch.float64).reshape(-1).numpy()
    s2 = checks.tensor(s2, "s2", who, torch.float64).reshape(-1).numpy()
    theta = parameters_of(task.model)
    d1, d2 = directions if directions is not None else (None, None)
    d1 = _direction(task, theta, d1, seed, who)
    d2 = _direction(task, theta, d2, seed + 1, who)
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
    who = "smoothness_vs_length"
    task = _task(model, loss_fn, who)
    seq_lens = [checks.count(n, "every seq_len", who) for n in np.atleast_1d(seq_lens).tolist()]
    if not seq_lens:
        raise CellError(f"{who}: seq_lens must hold at least one sequence length")
    chunk_size = checks.count(chunk_size, "chunk_size", who)
    s = line_grid(-0.1, 0.1, 101) if s is None else _grid(s, "s", who, at_least=3)
    theta = parameters_of(task.model)
    direction = _direction(task, theta, direction, seed, who)
    batched = _check_batched(task, theta, direction, min(seq_lens), batched)
    return analyse(task, theta, direction, s, seq_lens, batched=batched, chunk_size=chunk_size,
                   curvature=curvature)
