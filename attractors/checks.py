"""The arguments of the public API, checked before any work: a wrong call
ends in one :class:`attractors.steps.CellError` in the library's words
(what was wrong, what was expected, what to do), not deep inside PyTorch."""
import math
import numbers
import os

import numpy as np
import torch

from .steps import CellError, check_dtype, shape_text


def _scalar(value):
    """A one-element tensor or array as the Python number it holds."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        return value.item()
    return value


SEED_MAX = 2 ** 64 - 1  # the largest seed of a torch.Generator


def count(value, name, who, low=1, high=None):
    """An integer in ``[low, high]``."""
    value = _scalar(value)
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and low <= value and (high is None or value <= high):
        return int(value)
    bounds = f"at least {low}" if high is None else f"between {low} and {high}"
    raise CellError(f"{who}: {name} must be an integer {bounds}, got {value!r}")


def fits(numbers_needed, dtype, what, who, device="cpu"):
    """Refuse, before allocating it, a tensor of ``numbers_needed`` numbers
    larger than half this machine's memory (checked on the CPU only)."""
    if torch.device(device).type != "cpu":
        return
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):   # not a POSIX system
        return
    need = numbers_needed * torch.empty((), dtype=dtype).element_size()
    if need > memory / 2:
        raise CellError(f"{who}: {what} would take {need / 2 ** 30:.3g} GiB, more than half "
                        f"of this machine's {memory / 2 ** 30:.3g} GiB; ask for fewer")


def number(value, name, who, positive=False):
    """A finite real number, > 0 with ``positive``, else >= 0."""
    value = _scalar(value)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and math.isfinite(value) and (value > 0 if positive else value >= 0):
        return float(value)
    kind = "positive" if positive else "non-negative"
    raise CellError(f"{who}: {name} must be a finite {kind} number, got {value!r}")


def tensor(value, name, who, dtype=None, keep_integers=False):
    """``value`` as a tensor of finite numbers, in ``dtype`` (integers stay
    integers with ``keep_integers``)."""
    check_dtype(dtype, who)
    try:
        t = torch.as_tensor(np.asarray(value) if isinstance(value, (list, tuple)) else value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CellError(f"{who}: {name} must be numbers (a tensor or array), got "
                        f"{type(value).__name__} ({e})") from None
    if t.is_complex() or t.dtype == torch.bool:
        raise CellError(f"{who}: {name} must be real numbers, got {t.dtype}")
    if dtype is not None and not (keep_integers and not t.is_floating_point()):
        t = t.to(dtype)
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise CellError(f"{who}: {name} holds nan or inf values")
    return t


def inputs_2d(inputs, who, dtype):
    """``(n_inputs, input_size)`` and whether one 1-D input was given."""
    t = tensor(inputs, "inputs", who, dtype, keep_integers=True)
    if t.dim() not in (1, 2) or t.numel() == 0:
        raise CellError(f"{who}: inputs must be (n_inputs, input_size), or one input "
                        f"(input_size,), got shape {shape_text(t)}; give one constant input "
                        "vector per row")
    return t.reshape(-1, t.shape[-1]), t.dim() == 1


def one_input(value, who, dtype):
    """One constant input ``(input_size,)``."""
    t = tensor(value, "input", who, dtype, keep_integers=True)
    if t.dim() != 1 or t.numel() == 0:
        more = "; call it once per input" if t.dim() == 2 else ""
        raise CellError(f"{who} takes one constant input (input_size,), got shape "
                        f"{shape_text(t)}{more}")
    return t


def flat_states(fmap, states, name, who):
    """``states`` as flat ``(n, D)`` rows of ``fmap``: given flat, or in the
    cell's own layout (a tensor or tuple, ``n`` trajectories)."""
    step = fmap.step
    shapes = [list(s[:step.batch_dim]) + ["n"] + list(s[step.batch_dim:]) for s in step.shapes]
    layout = ", ".join("(" + ", ".join(map(str, s)) + ")" for s in shapes)
    layout = f"({layout})" if step.tuple_state else layout
    expected = (f"{name} must be flat (n, {fmap.dim}) or in the cell's own layout {layout}")
    if isinstance(states, (tuple, list)) and step.tuple_state:
        parts = [tensor(s, name, who, fmap.dtype) for s in states]
        if len(parts) != len(step.shapes):
            raise CellError(f"{who}: {expected}; got {len(parts)} tensors")
        states = tuple(parts)
        parts_ok = all(p.dim() == len(s) + 1 for p, s in zip(parts, step.shapes))
    else:
        states = tensor(states, name, who, fmap.dtype)
        if states.dim() == 2 and states.shape[-1] == fmap.dim:
            return states.to(fmap.device)
        parts_ok = not step.tuple_state and states.dim() == len(step.shapes[0]) + 1
    if parts_ok:
        try:
            flat = fmap.flatten(tuple(p.to(fmap.device) for p in states) if step.tuple_state
                                else states.to(fmap.device))
            if flat.dim() == 2 and flat.shape[-1] == fmap.dim:
                return flat
        except RuntimeError:
            pass
    raise CellError(f"{who}: {expected}; got {shape_text(states)}")


def box_bounds(box, dim, who):
    """``box = (low, high)``, numbers or ``(D,)`` tensors -> two ``(D,)`` float64 tensors."""
    try:
        low, high = box
    except (TypeError, ValueError):
        low = high = None
    if low is None:
        raise CellError(f"{who}: box must be a pair (low, high) of numbers or ({dim},) tensors, "
                        f"e.g. box=(-1, 1), got {box!r}")
    bounds = []
    for name, b in (("low", low), ("high", high)):
        t = torch.as_tensor(b, dtype=torch.float64)
        if t.dim() > 1 or (t.dim() == 1 and len(t) != dim) or torch.isnan(t).any():
            raise CellError(f"{who}: box {name} must be a number or a ({dim},) tensor (one bound "
                            f"per flat state coordinate), got shape {shape_text(t)}")
        bounds.append(t.expand(dim))
    if not (bounds[0] < bounds[1]).all():
        raise CellError(f"{who}: box must have low < high in every coordinate, got {box!r}")
    return bounds
