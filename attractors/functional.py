"""One time step of every RNN type of the factory as a pure function.

``torch.vmap`` has no batching rule for ``nn.LSTM``/``nn.GRU`` (PyTorch
issues 105982 and 134606), so scanning many parameter sets at once, or taking
Jacobians of one step, needs the cells written out. Each step here is

    step(params, x, state) -> new state

computed from a dict of the module's own weights (see :func:`params_of`), with
nothing hidden in a module: it works under ``torch.func.jacrev``/``jvp`` and
``torch.vmap``, and it is tested equal to the module it mirrors.

Shapes. With one parameter set, ``x`` is ``(*batch, input_size)`` and each
state tensor ``(num_layers, *batch, hidden)`` (LSTM: a tuple ``(h, c)``; GRU
and RNN: one tensor; orthogonal cells and the ``nn.*Cell`` modules: no layer
dimension, ``(*batch, hidden)``, as their modules use; ``nn.LSTMCell``: a
tuple ``(h, c)``). ``*batch`` may be empty, which is handy for Jacobians.

Types (see :func:`rnn_type_of`): ``LSTM``, ``GRU``, ``RNN`` (tanh),
``RNN_RELU``, the cells ``LSTMCell``, ``GRUCell``, ``RNNCell``,
``RNNCell_RELU``, and the orthogonal cells (``exprnn``, ``dtriv``, ...).

A *stack* of P parameter sets (every tensor with a leading dimension P, see
:func:`stack_params`) runs as one batch of models through the same code:
``x`` is then ``(P, B, input_size)``, or ``(B, input_size)`` when all models
see the same input, and each state tensor ``(num_layers, P, B, hidden)``
(orthogonal cells: ``(P, B, hidden)``). The weights multiply as batched
matrix products, so no Python loop runs over the models.
"""
import torch
from torch import nn

from expRNN import ORTHOGONAL_TYPES, OrthogonalRNN, modrelu

from .rnn import TORCH_TYPES, initial_state  # noqa: F401 (part of this module's interface)
# The orthogonal cells' modules name their weights differently; the step uses
# the matrices it multiplies with, so B is computed from A (see step_params).
ORTHOGONAL_NAMES = {"recurrent_matrix": "parametrizations.recurrent_kernel.original",
                    "input_weight": "input_kernel.weight",
                    "modrelu_bias": "nonlinearity.b"}


def _linear(x, weight, bias=None):
    """``x @ weight^T + bias`` for one weight or a stack of them.

    A stacked weight ``(P, out, in)`` meets ``x`` ``(P, B, in)`` or
    ``(B, in)`` as a batched product; a stacked bias ``(P, out)`` gets a
    singleton dimension so that it broadcasts over the B sequences.
    """
    y = torch.matmul(x, weight.mT)
    if bias is not None:
        y = y + (bias.unsqueeze(-2) if bias.dim() > 1 else bias)
    return y


def _gates(params, layer, x, h):
    ih = _linear(x, params[f"weight_ih_l{layer}"], params.get(f"bias_ih_l{layer}"))
    hh = _linear(h, params[f"weight_hh_l{layer}"], params.get(f"bias_hh_l{layer}"))
    return ih, hh


def num_layers_of(params):
    return sum(1 for k in params if k.startswith("weight_ih_l"))


def lstm_step(params, x, state):
    """One step of a (multi-layer) ``nn.LSTM``; ``state = (h, c)``."""
    h, c = state
    new_h, new_c = [], []
    for layer in range(num_layers_of(params)):
        ih, hh = _gates(params, layer, x, h[layer])
        i, f, g, o = (ih + hh).chunk(4, dim=-1)  # PyTorch's gate order
        c_next = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
        x = torch.sigmoid(o) * torch.tanh(c_next)
        new_h.append(x)
        new_c.append(c_next)
    return torch.stack(new_h), torch.stack(new_c)


def gru_step(params, x, state):
    """One step of a (multi-layer) ``nn.GRU``; ``state`` is h."""
    new_h = []
    for layer in range(num_layers_of(params)):
        h = state[layer]
        ih, hh = _gates(params, layer, x, h)
        i_r, i_z, i_n = ih.chunk(3, dim=-1)
        h_r, h_z, h_n = hh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)  # the reset gate acts after the bias, as in PyTorch
        x = (1 - z) * n + z * h
        new_h.append(x)
    return torch.stack(new_h)


def _elman_step(activation, params, x, state):
    new_h = []
    for layer in range(num_layers_of(params)):
        ih, hh = _gates(params, layer, x, state[layer])
        x = activation(ih + hh)
        new_h.append(x)
    return torch.stack(new_h)


def rnn_tanh_step(params, x, state):
    """One step of a (multi-layer) ``nn.RNN`` with tanh; ``state`` is h."""
    return _elman_step(torch.tanh, params, x, state)


def rnn_relu_step(params, x, state):
    """One step of a (multi-layer) ``nn.RNN`` with ReLU; ``state`` is h."""
    return _elman_step(torch.relu, params, x, state)


def _cell_step(layer_step):
    """The step of an ``nn.*Cell``: the one-layer step of its layer type on
    a state without the layer dimension (the cell's weights are renamed
    ``*_l0`` by :func:`step_params`)."""
    def step(params, x, state):
        if isinstance(state, tuple):
            return tuple(s[0] for s in layer_step(params, x, tuple(s.unsqueeze(0) for s in state)))
        return layer_step(params, x, state.unsqueeze(0))[0]
    step.__doc__ = f"One step of the cell counterpart of ``{layer_step.__name__}``."
    return step


def orthogonal_step(params, x, state):
    """One step of an orthogonal cell: ``modrelu(W_in x + h B, b)``."""
    b = params["modrelu_bias"]
    pre = _linear(x, params["input_weight"]) + torch.matmul(state, params["recurrent_matrix"])
    return modrelu(pre, b.unsqueeze(-2) if b.dim() > 1 else b)


STEPS = {"LSTM": lstm_step, "GRU": gru_step, "RNN": rnn_tanh_step, "RNN_RELU": rnn_relu_step,
         "LSTMCell": _cell_step(lstm_step), "GRUCell": _cell_step(gru_step),
         "RNNCell": _cell_step(rnn_tanh_step), "RNNCell_RELU": _cell_step(rnn_relu_step),
         **{t: orthogonal_step for t in ORTHOGONAL_TYPES}}
CELL_TYPES = ("LSTMCell", "GRUCell", "RNNCell", "RNNCell_RELU")
# Types whose state tensors carry a leading layer dimension.
LAYERED_TYPES = ("LSTM", "GRU", "RNN", "RNN_RELU")
LSTM_TYPES = ("LSTM", "LSTMCell")


def _unwrap(module):
    """The PyTorch or orthogonal module inside a RecurrentLayer (or itself)."""
    inner = getattr(module, "rnn", None)
    return inner if isinstance(inner, (nn.RNNBase, nn.RNNCellBase, OrthogonalRNN)) else module


def rnn_type_of(module):
    """The name of the cell in ``module``: LSTM, GRU, RNN, RNN_RELU, LSTMCell,
    GRUCell, RNNCell, RNNCell_RELU, exprnn, ... (``batch_first`` modules
    included: the step's state layout is the same)."""
    module = _unwrap(module)
    if isinstance(module, OrthogonalRNN):
        return module.mode
    if isinstance(module, nn.LSTMCell):
        return "LSTMCell"
    if isinstance(module, nn.GRUCell):
        return "GRUCell"
    if isinstance(module, nn.RNNCell):
        return "RNNCell" if module.nonlinearity == "tanh" else "RNNCell_RELU"
    if isinstance(module, nn.RNNBase):  # batch_first does not change one step
        if module.bidirectional:
            raise ValueError(f"no functional step for a bidirectional {module.mode} "
                             "(bidirectional=True)")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"no functional step for an LSTM with proj_size={module.proj_size}")
        if module.mode == "RNN_RELU":
            return "RNN_RELU"
        return module.mode if module.mode in TORCH_TYPES else "RNN"
    raise TypeError(f"no functional step for {type(module).__name__}: expected nn.LSTM, nn.GRU, "
                    "nn.RNN, their *Cell versions, an OrthogonalRNN or a RecurrentLayer")


def step_function(rnn_type):
    """The pure step ``step(params, x, state) -> state`` of ``rnn_type``."""
    try:
        return STEPS[rnn_type]
    except KeyError:
        raise ValueError(f"unknown rnn_type {rnn_type!r}") from None


def step_params(module, tensors=None, prefix=""):
    """The step's parameters of ``module`` (a RecurrentLayer, an
    ``nn.LSTM``/``GRU``/``RNN`` or an ``OrthogonalRNN``).

    ``tensors`` (default: the module's parameters) is a dict keyed like the
    module's ``named_parameters()``, each name preceded by ``prefix``, whose
    tensors may carry leading stack dimensions. The result is differentiable
    in them: for the orthogonal cells B is computed from the unconstrained A
    by the cell's own map (expm or Cayley, and the dtriv base).
    """
    module = _unwrap(module)
    rnn_type = rnn_type_of(module)
    if tensors is None:
        tensors, prefix = dict(module.named_parameters()), ""
    if rnn_type in ORTHOGONAL_TYPES:
        A = tensors[prefix + ORTHOGONAL_NAMES["recurrent_matrix"]]
        to_orthogonal = module.parametrizations.recurrent_kernel[0]
        return {"recurrent_matrix": to_orthogonal(A),
                "input_weight": tensors[prefix + ORTHOGONAL_NAMES["input_weight"]],
                "modrelu_bias": tensors[prefix + ORTHOGONAL_NAMES["modrelu_bias"]]}
    names = [name for name, _ in module.named_parameters()]
    suffix = "_l0" if rnn_type in CELL_TYPES else ""  # a cell's weights as layer 0's
    return {name + suffix: tensors[prefix + name] for name in names}


def params_of(module):
    """The step's parameters of ``module`` at its current weights, detached."""
    with torch.no_grad():
        return {k: v.detach() for k, v in step_params(module).items()}


def stack_params(items):
    """One stack from several parameter sets (modules or dicts from
    :func:`params_of`): each tensor gets a leading dimension, one per set."""
    dicts = [params_of(m) if isinstance(m, nn.Module) else m for m in items]
    if not dicts:
        raise ValueError("nothing to stack")
    keys = dicts[0].keys()
    if any(d.keys() != keys for d in dicts):
        raise ValueError("the parameter sets have different names")
    return {k: torch.stack([d[k] for d in dicts]) for k in keys}


def output_of(rnn_type, state):
    """What the layer outputs at a step: the last layer's h."""
    if rnn_type == "LSTM":
        return state[0][-1]
    if rnn_type == "LSTMCell":
        return state[0]
    if rnn_type not in LAYERED_TYPES:
        return state
    return state[-1]


def run(rnn_type, params, inputs, state, burnout=0, progress=None):
    """Run the step over ``inputs`` (``(T, *x_shape)``, or one ``x`` repeated
    T times given as ``(inputs_x, T)``). Returns the outputs after the first
    ``burnout`` steps, ``(T - burnout, *batch, hidden)``, and the last state.
    ``progress`` (a tqdm bar, optional) is advanced once per step."""
    step = step_function(rnn_type)
    if isinstance(inputs, tuple):
        x, steps = inputs
        xs = (x for _ in range(steps))
    else:
        steps, xs = inputs.shape[0], inputs.unbind(0)
    outputs = []
    for t, x in enumerate(xs):
        state = step(params, x, state)
        if t >= burnout:
            outputs.append(output_of(rnn_type, state))
        if progress is not None:
            progress.update()
    if not outputs:
        raise ValueError(f"burnout ({burnout}) leaves none of the {steps} steps")
    return torch.stack(outputs), state
