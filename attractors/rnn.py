"""The RNN factory: PyTorch's LSTM/GRU/RNN and the orthogonal cells of
``expRNN`` behind one interface, plus the stable-LSTM projection of Miller and Hardt (2018).

The wrapped module sits at ``.rnn`` so that state-dict keys read
``rnn.rnn.weight_hh_l0`` as in the old code, and old weights still load.
"""
import torch
from torch import nn

from expRNN import ORTHOGONAL_TYPES, OrthogonalRNN

from .rules import BIG, Choice, Integer, only_when

TORCH_TYPES = ("LSTM", "GRU", "RNN")
RNN_TYPES = TORCH_TYPES + ORTHOGONAL_TYPES

# Column L1 norms of the Miller & Hardt (2018) stability condition, per gate
# block of weight_hh in PyTorch order (input, forget, cell, output).
STABLE_HH_NORMS = (0.395, 0.155, 0.099, 0.395)
STABLE_IH_FORGET_NORM = 0.25


def initial_state(rnn_type, num_layers, hidden_size, batch_shape, fill=0.0, dtype=None,
                  device=None):
    """A state of ``rnn_type`` with batch dimensions ``batch_shape`` (for a
    stack of P parameter sets: (P, B)). ``fill`` is a number, or a function
    ``fill(*shape, device=...)`` that makes each tensor (for LSTM h before c,
    so random draws come in the original code's order). Every state tensor
    is ``(num_layers, *batch_shape, hidden)``, except for the orthogonal
    cells and the ``nn.*Cell`` types of :mod:`attractors.functional`
    (``LSTMCell``, ``GRUCell``, ...): ``(*batch_shape, hidden)``."""
    def make(*shape):
        if callable(fill):
            tensor = fill(*shape, device=device)
            return tensor if dtype is None else tensor.to(dtype)
        return torch.full(shape, fill, dtype=dtype, device=device)
    if rnn_type in ORTHOGONAL_TYPES or "Cell" in rnn_type:  # no layer dimension
        shape = (*batch_shape, hidden_size)
    else:
        shape = (num_layers, *batch_shape, hidden_size)
    if rnn_type in ("LSTM", "LSTMCell"):
        h = make(*shape)
        return h, make(*shape)
    return make(*shape)


# The type of --rnn_type, with a clear word on EURNN.
RNN_TYPE = Choice(RNN_TYPES, explain={
    "EURNN": "EURNN was listed by the original code but never implemented; "
             f"choose one of {', '.join(RNN_TYPES)}"})

MAX_LAYERS = 1000  # building more takes minutes before anything can fail


def add_rnn_options(group, hidden_size, with_hidden_size=True):
    group.add_argument("--rnn_type", type=RNN_TYPE, default="LSTM", metavar="TYPE",
                       help=f"recurrent cell: one of {', '.join(RNN_TYPES)}")
    if with_hidden_size:
        group.add_argument("--hidden_size", type=Integer(1, BIG), default=hidden_size,
                           help="number of hidden units")
    group.add_argument("--num_layers", type=Integer(1, MAX_LAYERS), default=1,
                       help=f"stacked layers (LSTM, GRU, RNN only; at most {MAX_LAYERS})")
    only_when(group.add_argument(
        "--stabilize", action="store_true",
        help="project an LSTM onto the stable set of Miller and Hardt (2018) after every "
             "optimiser step"),
        "to --rnn_type LSTM", lambda c: c["rnn_type"] == "LSTM", {"rnn_type": "GRU"})
    only_when(group.add_argument("--K", type=Integer(1, BIG), default=100,
                                 help="dtriv: optimiser steps between changes of base"),
              "to --rnn_type dtriv", lambda c: c["rnn_type"] == "dtriv", {"rnn_type": "LSTM"})
    only_when(group.add_argument("--init", choices=("henaff", "cayley"), default="henaff",
                                 help="initialisation of the orthogonal cells"),
              f"to the orthogonal cells ({', '.join(ORTHOGONAL_TYPES)})",
              lambda c: c["rnn_type"] in ORTHOGONAL_TYPES, {"rnn_type": "LSTM"})


def check_rnn_options(config):
    """The checks across options (each option's range is its rule)."""
    from .options import UsageError
    rnn_type = config["rnn_type"]
    if config["stabilize"] and rnn_type != "LSTM":
        raise UsageError(f"--stabilize applies to LSTM only, not {rnn_type}")
    if rnn_type in ORTHOGONAL_TYPES and config["num_layers"] != 1:
        raise UsageError(f"{rnn_type} is a single-layer cell; use --num_layers 1")


class RecurrentLayer(nn.Module):
    """One recurrent block of any type, called as ``layer(inp, state)``.

    ``inp`` is ``(seq_len, batch, input_size)``. The state is ``(h, c)`` of
    shape ``(num_layers, batch, hidden)`` for LSTM, one such tensor for GRU
    and RNN, and one ``(batch, hidden)`` tensor for the orthogonal cells.
    """

    def __init__(self, input_size, hidden_size, rnn_type="LSTM", num_layers=1,
                 K=100, init="henaff"):
        super().__init__()
        self.rnn_type = rnn_type
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        if rnn_type in TORCH_TYPES:
            self.rnn = getattr(nn, rnn_type)(input_size, hidden_size, num_layers)
        elif rnn_type in ORTHOGONAL_TYPES:
            if num_layers != 1:
                raise ValueError(f"{rnn_type} is a single-layer cell")
            self.rnn = OrthogonalRNN(input_size, hidden_size, rnn_type, init=init, K=K)
        else:
            raise ValueError(f"unknown rnn_type {rnn_type!r}")

    def forward(self, inp, state=None):
        return self.rnn(inp, state)

    @property
    def batch_dim(self):
        return 0 if self.rnn_type in ORTHOGONAL_TYPES else 1

    def initial_state(self, batch_size, device=None, fill=torch.zeros):
        """A state for ``batch_size`` sequences (see :func:`initial_state`)."""
        return initial_state(self.rnn_type, self.num_layers, self.hidden_size, (batch_size,),
                             fill, device=device)

    def select_state(self, state, index):
        """The part of ``state`` for the sequences ``index`` (a slice or tensor)."""
        if isinstance(state, tuple):
            return tuple(self.select_state(s, index) for s in state)
        return state[index] if self.batch_dim == 0 else state[:, index]

    def attach_optimizer(self, optimizer):
        """Let cells that follow optimiser steps (dtriv's change of base) hook in."""
        if self.rnn_type in ORTHOGONAL_TYPES:
            return self.rnn.attach_optimizer(optimizer)
        return None

    def stabilize_(self):
        """Project an LSTM onto the stable set, in place (every layer)."""
        if self.rnn_type != "LSTM":
            raise ValueError("only an LSTM can be stabilised")
        stabilize_lstm_(self.rnn)


def _scale_columns_(block, norm):
    """Scale every column of ``block`` (the last two dimensions; any before
    them are a stack of matrices) in place to L1 norm ``norm``."""
    col_norms = block.abs().sum(dim=-2, keepdim=True)
    # A zero column has no direction to scale; leave it at zero.
    block.mul_(torch.where(col_norms > 0, norm / col_norms, torch.zeros_like(col_norms)))


@torch.no_grad()
def stabilize_lstm_(lstm):
    """Miller & Hardt (2018) projection of an ``nn.LSTM``, in place. Any
    object with ``num_layers`` and the weights ``weight_hh_l<k>``,
    ``weight_ih_l<k>`` will do, also with a stack of them (a population's,
    leading dimensions before the matrices)."""
    for layer in range(lstm.num_layers):
        w_hh = getattr(lstm, f"weight_hh_l{layer}")
        for block, norm in zip(w_hh.chunk(4, dim=-2), STABLE_HH_NORMS):
            _scale_columns_(block, norm)
        w_ih_forget = getattr(lstm, f"weight_ih_l{layer}").chunk(4, dim=-2)[1]
        _scale_columns_(w_ih_forget, STABLE_IH_FORGET_NORM)
    return lstm
