"""Loss smoothness along a line in parameter space.

The paper reads "exploding gradients" as a loss whose gradient has a large
Lipschitz constant, growing with the sequence length when the model is not
contractive. This module evaluates a task's training loss along the line
``theta + s d`` for several sequence lengths and estimates, from the grid,
the Lipschitz constant of the derivative along the line.

A loss plugs in through :class:`TaskLoss` (each task folder's ``task.py``
makes one for its runs; :mod:`attractors.chaos` has another).
"""
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import functional
from .run_files import RunFolderError

DEFAULT_SEQ_LENS = (25, 50, 100, 200, 400, 800)


# ----------------------------------------------------------------- the estimate
def derivative_lipschitz(s, values):
    """Largest change of the finite-difference slope per unit ``s``.

    The slopes of consecutive grid intervals sit at the interval midpoints;
    the estimate is ``max |slope[k+1] - slope[k]| / (mid[k+1] - mid[k])``,
    which is exact (2|a|) for a quadratic ``a s^2 + b s + c`` on any grid and
    tends to ``max |f''|`` for a smooth ``f`` as the grid is refined. ``nan``
    if a value is not finite.
    """
    s = np.asarray(s, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or s.shape != values.shape or len(s) < 3:
        raise ValueError("need at least three grid points and one value per point")
    if np.any(np.diff(s) <= 0):
        raise ValueError("the grid must be strictly increasing")
    if not np.all(np.isfinite(values)):
        return math.nan
    slopes = np.diff(values) / np.diff(s)
    mids = (s[1:] + s[:-1]) / 2
    return float(np.max(np.abs(np.diff(slopes)) / np.diff(mids)))


def grid_limit(s, values):
    """The largest estimate a grid can give for values spanning their range:
    ``2 (max - min) / h^2`` with ``h`` the smallest spacing. An estimate near
    it means the loss varies faster than the grid resolves (use a finer grid
    or a shorter range)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return math.nan
    h = np.min(np.diff(np.asarray(s, dtype=np.float64)))
    return float(2 * (values.max() - values.min()) / h ** 2)


# ------------------------------------------------------------ the direction
def parameters_of(model):
    """``theta``: the model's trainable parameters, detached copies, by name."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def random_direction(theta, seed=0):
    """A Gaussian direction with each tensor scaled to the norm of its
    parameter tensor (filter-normalised loss landscapes, per tensor). Drawn
    in float64 on the CPU from its own generator, so a seed gives the same
    direction on every device; a zero parameter tensor gets a zero direction."""
    generator = torch.Generator().manual_seed(seed)
    direction = {}
    for name, p in theta.items():
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64)
        scale = p.double().norm() / d.norm() if d.norm() > 0 else 0.0
        direction[name] = (d * scale).to(dtype=p.dtype, device=p.device)
    return direction


def direction_towards(theta, other):
    """``other - theta``: s = 0 is this run, s = 1 the other one."""
    if theta.keys() != other.keys():
        missing = sorted(set(theta) ^ set(other))
        raise RunFolderError(f"the two models have different parameters ({', '.join(missing)})")
    for name in theta:
        if theta[name].shape != other[name].shape:
            raise RunFolderError(f"parameter {name} has shape {tuple(theta[name].shape)} here "
                                 f"and {tuple(other[name].shape)} in the other run")
    return {name: other[name].to(theta[name]) - theta[name] for name in theta}


def points_on_line(theta, direction, s):
    """A stack of parameter sets ``theta + s_k d``, one per value of ``s``."""
    return {name: theta[name] + s.reshape(-1, *([1] * p.dim())).to(p) * direction[name]
            for name, p in theta.items()}


# ------------------------------------------------------------------ tasks
class TaskLoss:
    """What the analysis needs from a task: its model and its training loss.

    ``model`` has its weights loaded and is in evaluation mode; ``config``
    is the run's config. Subclasses implement :meth:`loss` and, to use
    :meth:`data`, :meth:`make_data`. A task that can run many parameter sets
    at once also implements :meth:`batched_loss` and sets ``batched = True``.
    """
    batched = False

    def __init__(self, model, config=None):
        self.model, self.config = model, config
        some = next(model.parameters())
        self.device, self.dtype = some.device, some.dtype
        self._data = {}

    def data(self, seq_len):
        """The task's data of length ``seq_len``, made once by :meth:`make_data`."""
        if seq_len not in self._data:
            self._data[seq_len] = self.make_data(seq_len)
        return self._data[seq_len]

    def make_data(self, seq_len):
        raise NotImplementedError

    def loss(self, seq_len):
        """The training loss, a float, at the model's current weights with
        data of length ``seq_len``; called under ``torch.no_grad``."""
        raise NotImplementedError

    def batched_loss(self, tensors, seq_len):
        """The loss for a stack of P parameter sets, a ``(P,)`` tensor.
        ``tensors`` is keyed like ``model.named_parameters()``, each tensor
        with a leading dimension P (see attractors.functional)."""
        raise NotImplementedError


def stacked_outputs(layer, tensors, prefix, inputs, state=None):
    """Run a RecurrentLayer for a stack of P parameter sets at once, from a
    zero state (or ``state``), yielding its output ``(P, N, hidden)`` at
    every step. ``tensors`` holds the stacked weights keyed like the model's
    ``named_parameters()``, the layer's under ``prefix``; ``inputs`` yields
    ``x_t``, ``(N, input)`` shared by all models or ``(P, N, input)``."""
    params = functional.step_params(layer.rnn, tensors, prefix=prefix + "rnn.")
    step = functional.step_function(layer.rnn_type)
    some = next(iter(params.values()))
    for x in inputs:
        if state is None:
            state = functional.initial_state(layer.rnn_type, layer.num_layers, layer.hidden_size,
                                             (some.shape[0], x.shape[-2]), dtype=some.dtype,
                                             device=some.device)
        state = step(params, x, state)
        yield functional.output_of(layer.rnn_type, state)


# --------------------------------------------------------------- the analysis
@torch.no_grad()
def line_losses(task, theta, direction, s, seq_len, batched=True, chunk_size=32,
                progress=None):
    """The loss at ``theta + s_k d`` for every ``s_k`` (a NumPy array).

    Batched: ``chunk_size`` grid points at a time through
    ``task.batched_loss``. Otherwise one point at a time, writing the
    weights into the model (they are put back afterwards).
    """
    s = torch.as_tensor(np.asarray(s, dtype=np.float64))
    losses = np.empty(len(s))
    if batched and task.batched:
        for start in range(0, len(s), chunk_size):
            chunk = s[start:start + chunk_size]
            tensors = points_on_line(theta, direction, chunk)
            losses[start:start + len(chunk)] = task.batched_loss(tensors, seq_len).cpu().numpy()
            if progress is not None:
                progress.update(len(chunk))
        return losses
    params = dict(task.model.named_parameters())
    try:
        for k, value in enumerate(s.tolist()):
            for name, p in params.items():
                p.copy_(theta[name] + value * direction[name])
            losses[k] = task.loss(seq_len)
            if progress is not None:
                progress.update()
    finally:
        for name, p in params.items():
            p.copy_(theta[name])
    return losses


def curvature_at_zero(task, theta, direction, seq_len):
    """The second derivative of the loss along the line at s = 0, exact up to
    rounding: forward-mode AD twice through the task's batched loss (the
    functional step is a pure function). A lower bound of the Lipschitz
    constant of the derivative that no grid spacing limits. ``nan`` for
    tasks without a batched loss."""
    if not task.batched:
        return math.nan
    some = next(iter(theta.values()))

    def loss_at(s):
        return task.batched_loss(points_on_line(theta, direction, s.reshape(1)), seq_len)[0]
    with torch.enable_grad():
        zero = torch.zeros((), dtype=some.dtype, device=some.device)
        try:
            return float(torch.func.jacfwd(torch.func.jacfwd(loss_at))(zero))
        except Exception:
            # A loss of the user's own (attractors.api.ModelLoss) may hold
            # what forward-mode AD cannot run through: no exact value then.
            if getattr(task, "strict", True):
                raise
            return math.nan


def analyse(task, theta, direction, s, seq_lens=DEFAULT_SEQ_LENS, batched=True,
            chunk_size=32, curvature=True, desc="smoothness"):
    """Loss curves and derivative-Lipschitz estimates for each length.

    Returns a dict with ``s``, ``seq_lens``, ``curves`` (lengths x points),
    ``lipschitz`` (the grid estimate), ``curvature`` (the exact second
    derivative at s = 0, or nan) and ``seconds`` (time of each curve).
    """
    s = np.asarray(s, dtype=np.float64)
    curves, lipschitz, curvatures, seconds = [], [], [], []
    # disable=None: a bar on a terminal, none in a log file
    with tqdm(total=len(s) * len(seq_lens), desc=desc, unit="point", disable=None,
              dynamic_ncols=True, mininterval=0.5) as progress:
        for seq_len in seq_lens:
            progress.set_postfix(seq_len=seq_len, refresh=False)
            start = time.perf_counter()
            curve = line_losses(task, theta, direction, s, seq_len, batched, chunk_size, progress)
            seconds.append(time.perf_counter() - start)
            curves.append(curve)
            lipschitz.append(derivative_lipschitz(s, curve))
            curvatures.append(curvature_at_zero(task, theta, direction, seq_len)
                              if curvature else math.nan)
    return {"s": s, "seq_lens": list(seq_lens), "curves": np.array(curves),
            "lipschitz": lipschitz, "curvature": curvatures, "seconds": seconds}


def grid(lo, hi, n, required=()):
    """``n`` evenly spaced values from ``lo`` to ``hi`` that include every
    value of ``required`` inside the range: the nearest interior point is
    moved onto it, so the grid keeps ``n`` points (or, when that point is an
    end or another required value, the value is added)."""
    values = np.linspace(lo, hi, n)
    for r in required:
        if not lo <= r <= hi or np.any(values == r):
            continue
        k = int(np.argmin(np.abs(values - r)))
        if 0 < k < len(values) - 1 and values[k] not in required:
            values[k] = r  # the nearest point lies between its neighbours: still sorted
        else:
            values = np.sort(np.append(values, r))
    return values


def line_grid(s_min, s_max, n_points):
    """``n_points`` values from ``s_min`` to ``s_max`` with 0 among them."""
    return grid(s_min, s_max, n_points, required=(0.0,))


# ---------------------------------------------------------------- output
def write_results(results, csv_path, extra=None):
    """``csv_path``: one row per length (seq_len, lipschitz: the grid
    estimate, grid_limit: the largest estimate that grid could give,
    curvature_at_s0: the exact second derivative at s = 0, the loss
    at s = 0, the smallest loss and its s, seconds of the curve);
    ``*_curves.csv`` beside it: s and one loss column per length."""
    import pandas as pd
    s, curves = results["s"], results["curves"]
    zero = int(np.argmin(np.abs(s)))
    rows = []
    for seq_len, curve, lip, curv, sec in zip(results["seq_lens"], curves, results["lipschitz"],
                                              results["curvature"], results["seconds"]):
        best = int(np.nanargmin(curve)) if np.any(np.isfinite(curve)) else zero
        rows.append({"seq_len": seq_len, "lipschitz": lip, "grid_limit": grid_limit(s, curve),
                     "curvature_at_s0": curv,
                     "loss_at_s0": curve[zero],
                     "min_loss": curve[best], "s_of_min": s[best], "seconds": sec,
                     **(extra or {})})
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    curves_path = str(Path(csv_path).with_name(Path(csv_path).stem + "_curves.csv"))
    table = {"s": s, **{f"loss_T{n}": c for n, c in zip(results["seq_lens"], curves)}}
    pd.DataFrame(table).to_csv(curves_path, index=False)
    return curves_path


def format_results(results):
    """The numbers per length as a small text table."""
    lines = ["     T  Lipschitz (grid)  |L''(0)| (exact)  seconds"]
    for seq_len, lip, curv, sec in zip(results["seq_lens"], results["lipschitz"],
                                       results["curvature"], results["seconds"]):
        exact = "-" if math.isnan(curv) else f"{abs(curv):.4g}"
        lines.append(f"{seq_len:6d}  {lip:16.4g}  {exact:>16}  {sec:7.2f}")
    return "\n".join(lines)


def plot_results(results, output, title=None, s_label="s"):
    """Loss along the line per length (left); Lipschitz estimate against the
    length, log scale (right)."""
    import matplotlib.pyplot as plt
    from .plotting import save_figure
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(results["seq_lens"])))
    for seq_len, curve, colour in zip(results["seq_lens"], results["curves"], colours):
        left.plot(results["s"], curve, color=colour, label=f"T = {seq_len}")
    left.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    left.set_xlabel(s_label)
    left.set_ylabel("training loss")
    left.legend(fontsize="small")
    lengths = np.array(results["seq_lens"])
    lip = np.array(results["lipschitz"], dtype=float)
    curvature = np.abs(np.array(results["curvature"], dtype=float))
    right.plot(lengths, lip, "o-", label="grid estimate (largest change of slope)")
    limit = np.array([grid_limit(results["s"], c) for c in results["curves"]])
    right.plot(lengths, limit, ":", color="grey", label="largest value this grid can show")
    if np.any(np.isfinite(curvature)):
        right.plot(lengths, curvature, "s--", label="|second derivative at s = 0| (exact)")
    right.legend(fontsize="small")
    shown = np.concatenate([lip, curvature, limit])
    shown = shown[np.isfinite(shown)]
    if len(shown) and np.all(shown > 0):
        right.set_yscale("log")
    right.set_xlabel("sequence length T")
    right.set_ylabel("Lipschitz constant of the derivative")
    right.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, output)
    plt.close(fig)
