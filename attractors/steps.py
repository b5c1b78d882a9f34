"""One time step of any recurrent cell, as the analysis sees it.

Fixed points, Lyapunov exponents, the state map and the orbit recorder all
work on a :class:`Step`: ``step(input, state)``, batched over trajectories,
returning the new state (and possibly an output), pure in the state so that
``torch.func`` differentiates it. :func:`as_step` makes one from

* a cell built into PyTorch or this project (``nn.LSTM``/``GRU``/``RNN``,
  their ``*Cell`` versions, the orthogonal cells of ``expRNN``, a
  ``RecurrentLayer``), stepped by the pure functions of
  :mod:`attractors.functional`; ``batch_first`` does not matter to one step;
* a model holding exactly one such module, at any attribute;
* a cell of your own: a module or function ``step(input, state)`` that
  returns the new state, or ``(output, new_state)``; the state of one
  trajectory is a tensor or a tuple of tensors (``state_shape``).

A call the analysis cannot run ends in a :class:`CellError`: one line that
says what was wrong, what was expected and what to do.
"""
import math

import torch
from torch import nn
from torch.func import functional_call

from expRNN import OrthogonalRNN

from .functional import LAYERED_TYPES, LSTM_TYPES, output_of, params_of, rnn_type_of, step_function
from .options import first_line

BUILTIN = (nn.RNNBase, nn.RNNCellBase, OrthogonalRNN)
BUILTIN_NAMES = ("nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell, "
                 "expRNN's OrthogonalRNN")


class CellError(ValueError):
    """A call the analysis cannot run; the message says why and what to do."""


def shape_text(x):
    """A state, tensor or shape as short text: ``(2, 8)``, ``((1, 8), (1, 8))``."""
    if isinstance(x, torch.Tensor):
        x = x.shape
    if isinstance(x, (tuple, list)) and x and not isinstance(x[0], int):
        return "(" + ", ".join(shape_text(p) for p in x) + ")"
    if isinstance(x, (tuple, list, torch.Size)):
        return str(tuple(x)).replace(",)", ")")
    return type(x).__name__


def describe(module):
    """``nn.GRU(3, 8)``: a built-in module in a few words."""
    args = f"({module.input_size}, {module.hidden_size})"
    kind = "expRNN." if isinstance(module, OrthogonalRNN) else "nn."
    return kind + type(module).__name__ + args


def recurrent_modules(model):
    """``(attribute path, module)`` of every built-in recurrent module in ``model``."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, BUILTIN)]


def find_recurrent(model, who):
    """The built-in recurrent module of ``model``: itself, or the only one
    among its submodules (at any attribute); None if there is none, a
    :class:`CellError` naming them if there are several."""
    if isinstance(model, BUILTIN):
        return model
    if not isinstance(model, nn.Module):
        return None
    found = recurrent_modules(model)
    if len(found) > 1:
        names = ", ".join(f"model.{path} ({describe(m)})" for path, m in found)
        raise CellError(f"{who}: {type(model).__name__} holds {len(found)} recurrent modules, "
                        f"{names}; pass the one to analyse, e.g. {who}(model.{found[0][0]}, ...)")
    return found[0][1] if found else None


def check_values(module, who):
    """A module whose weights have no values (the meta device) is an error."""
    if any(t.is_meta for t in module.parameters()):
        raise CellError(f"{who}: the weights of {type(module).__name__} are on the meta device "
                        "(no values); give them values first, e.g. module.to_empty(device='cpu') "
                        "and load_state_dict(...)")


def builtin_type(module, who):
    """The functional step's name for a built-in module, with settings it
    cannot step named in the error."""
    if isinstance(module, nn.RNNBase):
        name = type(module).__name__
        if module.bidirectional:
            raise CellError(f"{who}: nn.{name} with bidirectional=True has no single time step "
                            "(its second direction runs from the end of the sequence); analyse "
                            "a one-directional module (bidirectional=False)")
        if getattr(module, "proj_size", 0):
            raise CellError(f"{who}: nn.LSTM with proj_size={module.proj_size} (a projected "
                            "state) is not supported; analyse an nn.LSTM with proj_size=0")
    check_values(module, who)
    return rnn_type_of(module)


def parse_state_shape(state_shape, who):
    """``state_shape`` -> (shapes, tuple_state). An int or a tuple of ints is
    one tensor's shape; a tuple of those is a tuple state."""
    def one(shape):
        shape = (shape,) if isinstance(shape, int) else shape
        if (isinstance(shape, (tuple, list, torch.Size)) and shape
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)):
            return tuple(shape)
        raise ValueError
    try:
        if isinstance(state_shape, (tuple, list)) and state_shape \
                and not isinstance(state_shape[0], int):
            return tuple(one(s) for s in state_shape), True
        return (one(state_shape),), False
    except ValueError:
        raise CellError(f"{who}: state_shape={state_shape!r} is not a state's shape; give one "
                        "trajectory's state without a batch dimension: (hidden,) for one tensor, "
                        "((hidden,), (hidden,)) for a tuple such as (h, c)") from None


def same_structure(value, state):
    """Whether ``value`` is laid out like ``state`` (a tensor, or a tuple of
    as many tensors)."""
    if isinstance(state, torch.Tensor):
        return isinstance(value, torch.Tensor)
    return (isinstance(value, (tuple, list)) and len(value) == len(state)
            and all(isinstance(v, torch.Tensor) for v in value))


def split_return(result, state, name):
    """``(output or None, new state)`` from what a step returned given
    ``state``: the new state, or ``(output, new_state)``."""
    if same_structure(result, state):
        return None, tuple(result) if isinstance(result, list) else result
    if isinstance(result, (tuple, list)) and len(result) == 2 and same_structure(result[1], state):
        new = result[1]
        return result[0], tuple(new) if isinstance(new, list) else new
    raise CellError(f"{name} returned {shape_text(result)} from a state {shape_text(state)}; a "
                    "step must return the new state (laid out like the state it was given) "
                    "or (output, new_state)")


class Step:
    """``step(input, state)`` of one cell, batched over trajectories.

    ``fn(u, state) -> (output or None, new_state)``. One trajectory's state
    is a tensor of shape ``shapes[0]``, or (``tuple_state``) a tuple of
    tensors of ``shapes``; the trajectory dimensions ``*batch`` sit at
    position ``batch_dim`` of every tensor (1 for ``nn.LSTM``/``GRU``/``RNN``:
    ``(num_layers, *batch, hidden)``; 0 otherwise). ``needs_batch``: ``fn``
    wants exactly one batch dimension (a cell of your own sees ``(B, n_in)``
    and ``(B, *shape)``, as PyTorch's cells do); the built-in steps take any
    number, none included. ``readout(state)``: the output (None: the output
    is what ``fn`` returns).
    """

    def __init__(self, fn, shapes, tuple_state, *, name, dtype, device, batch_dim=0,
                 needs_batch=True, readout=None, input_size=None, rebuild=None, rnn_type=None):
        self.fn, self.shapes, self.tuple_state = fn, tuple(shapes), tuple_state
        self.name, self.dtype, self.device = name, dtype, device
        self.batch_dim, self.needs_batch, self.readout = batch_dim, needs_batch, readout
        self.input_size, self.rnn_type = input_size, rnn_type
        self._rebuild = rebuild
        self.sizes = [math.prod(s) for s in self.shapes]
        self.dim = sum(self.sizes)

    def __repr__(self):
        return f"Step({self.name}, state {shape_text(self.shapes)}, {self.dtype})"

    def __call__(self, u, state):
        return self.fn(u, state)

    def to(self, dtype):
        """The same step computing in ``dtype`` (a built-in's or a module's
        weights are converted; a function is called as it is)."""
        return self if dtype is None or dtype == self.dtype else self._rebuild(dtype)

    def refresh(self):
        """Read the module's weights again: a step holds them as they were
        when it was made (in its dtype); the orbit recorder refreshes its
        step at every sample, so that it follows training."""
        self.fn = self._rebuild(self.dtype).fn

    def flatten(self, state):
        """The state (``*batch`` at ``batch_dim``) -> flat ``(*batch, D)``:
        every tensor's values for one trajectory, in order, concatenated."""
        parts = state if self.tuple_state else (state,)
        flat = []
        for part, shape in zip(parts, self.shapes):
            nb = part.dim() - len(shape)
            b = self.batch_dim
            part = part.movedim(tuple(range(b, b + nb)), tuple(range(nb)))
            flat.append(part.reshape(*part.shape[:nb], -1))
        return torch.cat(flat, dim=-1)

    def unflatten(self, x):
        """Flat ``(*batch, D)`` -> the state, ``*batch`` at ``batch_dim``."""
        batch, nb, b = x.shape[:-1], x.dim() - 1, self.batch_dim
        parts = [p.reshape(*batch, *shape).movedim(tuple(range(nb)), tuple(range(b, b + nb)))
                 for p, shape in zip(x.split(self.sizes, dim=-1), self.shapes)]
        return tuple(parts) if self.tuple_state else parts[0]

    def initial_state(self, batch_shape, fill):
        """A state with trajectory dimensions ``batch_shape``; ``fill(*shape,
        device=...)`` makes each tensor, in order."""
        parts = []
        for shape in self.shapes:
            b = self.batch_dim
            parts.append(fill(*shape[:b], *batch_shape, *shape[b:], device=self.device)
                         .to(self.dtype))
        return tuple(parts) if self.tuple_state else parts[0]

    def check_input(self, u, who):
        """A clear error for an input the cell cannot take; for a cell of your
        own, one trial step, whose failure is reported in one line."""
        n = u.shape[-1] if u.dim() else 0
        if self.input_size is not None and n != self.input_size:
            raise CellError(f"{who}: the input has {n} values per step but {self.name} takes "
                            f"input_size={self.input_size}; give inputs (..., {self.input_size})")
        if self.input_size is not None:
            return
        state = self.initial_state((1,), lambda *s, device: torch.zeros(*s, device=device))
        given = f"an input {shape_text((1, n))} and a state {shape_text(state)}"
        try:
            _, new = self.fn(u.reshape(-1, n)[:1], state)
        except CellError as e:
            raise CellError(f"{who}: {e}") from None
        except Exception as e:
            raise CellError(f"{who}: {self.name}(input, state) failed on {given} ({self.dtype}): "
                            f"{first_line(e)}; check the input size, state_shape and the dtype of "
                            "the step's own weights") from None
        news = new if self.tuple_state else (new,)
        olds = state if self.tuple_state else (state,)
        if [t.shape for t in news] != [t.shape for t in olds]:
            raise CellError(f"{who}: {self.name} returned a state {shape_text(new)} from {given}; "
                            "it must keep the state's shape: check state_shape")
        if any(t.dtype != self.dtype for t in news):
            raise CellError(f"{who}: {self.name} returned a {news[0].dtype} state from a "
                            f"{self.dtype} one; give the step weights of dtype {self.dtype}, "
                            "or pass dtype= the step's own")
        if any(t.device != o.device for t, o in zip(news, olds)):
            moved = next(t.device for t, o in zip(news, olds) if t.device != o.device)
            raise CellError(f"{who}: {self.name} returned a state on the {moved} device from "
                            f"one on {olds[0].device}; keep the state where it is (a state on "
                            "the meta device has no values to analyse)")


def builtin_step(module, dtype, who):
    """The :class:`Step` of a built-in module, through its functional step."""
    rnn_type = builtin_type(module, who)
    params = params_of(module)
    dtype = dtype or next(iter(params.values())).dtype
    params = {k: v.to(dtype) for k, v in params.items()}
    fstep = step_function(rnn_type)
    layered = rnn_type in LAYERED_TYPES
    shape = (module.num_layers, module.hidden_size) if layered else (module.hidden_size,)
    return Step(lambda u, s: (None, fstep(params, u, s)),
                (shape, shape) if rnn_type in LSTM_TYPES else (shape,), rnn_type in LSTM_TYPES,
                name=describe(module), dtype=dtype,
                device=next(iter(params.values())).device, batch_dim=1 if layered else 0,
                needs_batch=False, readout=lambda s: output_of(rnn_type, s),
                input_size=module.input_size, rebuild=lambda d: builtin_step(module, d, who),
                rnn_type=rnn_type)


def custom_step(cell, state_shape, dtype, device, who):
    """The :class:`Step` of a module or function of your own."""
    shapes, tuple_state = parse_state_shape(state_shape, who)
    name = type(cell).__name__ if isinstance(cell, nn.Module) else getattr(cell, "__name__", "step")
    if isinstance(cell, nn.Module):
        check_values(cell, who)
        tensors = {**dict(cell.named_parameters()), **dict(cell.named_buffers())}
        some = [t for t in tensors.values() if t.is_floating_point()]
        dtype = dtype or (some[0].dtype if some else torch.get_default_dtype())
        device = some[0].device if some else (device or torch.device("cpu"))
        tensors = {k: (t.detach().to(dtype) if t.is_floating_point() else t.detach())
                   for k, t in tensors.items()}

        def call(u, state):
            modes = [(m, m.training) for m in cell.modules()]
            cell.eval()  # one step as in evaluation (no dropout)
            try:
                return functional_call(cell, tensors, (u, state))
            finally:
                for m, mode in modes:
                    m.training = mode
    else:
        dtype = dtype or torch.get_default_dtype()
        device = device or torch.device("cpu")
        call = cell

    def fn(u, state):
        # a copy: a step that changes its state in place would otherwise
        # change the caller's (the views of a flat state, under autograd)
        given = tuple(t.clone() for t in state) if tuple_state else state.clone()
        return split_return(call(u, given), state, name)
    return Step(fn, shapes, tuple_state, name=name, dtype=dtype, device=device,
                rebuild=lambda d: custom_step(cell, state_shape, d, device, who))


def check_dtype(dtype, who):
    """``dtype`` (None: the default) must be a real floating-point torch.dtype."""
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise CellError(f"{who}: dtype must be a real floating-point torch.dtype, e.g. "
                        f"torch.float64, got {dtype!r}")


def as_step(cell, state_shape=None, dtype=None, device=None, who="as_step"):
    """The :class:`Step` of ``cell``, computing in ``dtype`` (default: the
    cell's own).

    ``cell``: a :class:`Step`; a built-in recurrent module (see the module
    doc), a ``RecurrentLayer``, or a model holding exactly one of them at any
    attribute; or a cell of your own, a module or function
    ``step(input, state)``, whose one-trajectory state is ``state_shape``
    (an int or tuple of ints for one tensor, a tuple of those for a tuple
    state; default for a module with an int ``hidden_size``:
    ``(hidden_size,)``). ``device``: where a function's states live
    (default: the CPU); a module's are on its weights' device. ``who``
    names the caller in error messages.
    """
    check_dtype(dtype, who)
    if isinstance(cell, Step):
        return cell.to(dtype)
    if not callable(cell):
        raise CellError(f"{who}: expected a recurrent module or a step function "
                        f"step(input, state), got {type(cell).__name__}")
    if state_shape is None:
        module = find_recurrent(cell, who)
        if module is not None:
            return builtin_step(module, dtype, who)
        hidden = getattr(cell, "hidden_size", None)
        if isinstance(hidden, int):
            state_shape = (hidden,)
        else:
            kind = "module" if isinstance(cell, nn.Module) else "function"
            raise CellError(
                f"{who}: the {kind} {getattr(cell, '__name__', type(cell).__name__)} holds none of "
                f"the built-in recurrent modules ({BUILTIN_NAMES}); to analyse it as a cell of "
                "your own, step(input, state) -> new state, give one trajectory's state: "
                "state_shape=(hidden,), or ((hidden,), (hidden,)) for a tuple state")
    return custom_step(cell, state_shape, dtype, device, who)
