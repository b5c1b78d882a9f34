"""The chaotic 2-unit LSTM of the paper: its weights, simulation, and the
loss of fitting its own output along a line or a 2-D slice of weights.

Every point of a line or slice is a separate LSTM; all of them run together
as one batch of models through the functional step of
:mod:`attractors.functional` (in chunks), not one model after another.
"""
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import functional
from .smoothness import TaskLoss

# Recurrent weight, rows in PyTorch's gate order (i, i, f, f, g, g, o, o).
CHAOTIC_WEIGHT = [[-1.0, -4.0], [-3.0, -2.0],
                  [-2.0, 6.0], [0.0, -6.0],
                  [-1.0, -6.0], [6.0, -9.0],
                  [4.0, 1.0], [-9.0, -7.0]]
HIDDEN = 2
INITIAL_VALUE = 0.5  # h = c = 0.5 for both units

def chaotic_params(dtype=torch.float32):
    """The step parameters of the chaotic LSTM (one input, no biases)."""
    return {"weight_ih_l0": torch.zeros(4 * HIDDEN, 1, dtype=dtype),
            "weight_hh_l0": torch.tensor(CHAOTIC_WEIGHT, dtype=dtype)}


def chaotic_lstm(dtype=torch.float32):
    """The chaotic system as an ``nn.LSTM`` module."""
    lstm = nn.LSTM(1, HIDDEN, bias=False).to(dtype)
    with torch.no_grad():
        for name, value in chaotic_params(dtype).items():
            getattr(lstm, name).copy_(value)
    return lstm


def random_weights(seed, dtype=torch.float32):
    """R: weights of the same shapes, uniform in [0, 1) as in the original
    study, from a generator of their own (the old script drew them unseeded)."""
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.rand(p.shape, generator=generator, dtype=torch.float64).to(dtype)
            for name, p in chaotic_params().items()}


def simulate(params, steps, dtype=torch.float32, burnout=0, progress=None):
    """Outputs h of one parameter set or of a stack from h = c = 0.5 with
    zero input: ``(steps - burnout, *stack, 2)``."""
    stack = params["weight_hh_l0"].shape[:-2]
    state = functional.initial_state("LSTM", 1, HIDDEN, (*stack, 1), INITIAL_VALUE, dtype)
    x = torch.zeros(1, 1, dtype=dtype)
    outputs, _ = functional.run("LSTM", params, (x, steps), state, burnout, progress)
    return outputs.squeeze(-2)


@torch.no_grad()
def grid_losses(params, steps, burnout, reference, chunk_size, dtype, keep_first=False,
                desc="grid"):
    """MSE of every model of the stack ``params`` (P sets) to the output of
    model ``reference`` over the kept steps; optionally also every model's
    first output ``(steps - burnout, P)`` for a bifurcation diagram.

    The reference trajectory is taken from the batch itself, computing its
    chunk first: in a chaotic system the smallest rounding difference grows
    to the size of the attractor within a few hundred steps, so a reference
    computed any other way would not give a zero loss at the reference.
    """
    n_models = params["weight_hh_l0"].shape[0]
    starts = list(range(0, n_models, chunk_size))
    first = (reference // chunk_size) * chunk_size
    starts.remove(first)
    losses = torch.empty(n_models, dtype=torch.float64)
    first_output = np.empty((steps - burnout, n_models)) if keep_first else None
    target = None
    with tqdm(total=(len(starts) + 1) * steps, desc=desc, unit="step", dynamic_ncols=True,
              disable=None,  # a bar on a terminal, none in a log file
              mininterval=0.5) as progress:
        for start in [first] + starts:
            part = {k: v[start:start + chunk_size] for k, v in params.items()}
            out = simulate(part, steps, dtype, burnout, progress)  # (T, p, 2)
            if target is None:
                target = out[:, reference - start].clone()
            error = ((out - target[:, None]) ** 2).mean(dim=(0, 2))
            losses[start:start + out.shape[1]] = error.double()
            if keep_first:
                first_output[:, start:start + out.shape[1]] = out[:, :, 0].double().numpy()
    return losses.numpy(), first_output


def line(s, steps, burnout, chunk_size, dtype=torch.float32):
    """Loss and first output along ``s * W`` (``s`` must contain 1)."""
    base = chaotic_params(dtype)
    s_t = torch.as_tensor(s, dtype=dtype)
    params = {k: s_t.reshape(-1, 1, 1) * v for k, v in base.items()}
    reference = int(np.flatnonzero(np.asarray(s) == 1.0)[0])
    return grid_losses(params, steps, burnout, reference, chunk_size, dtype, keep_first=True,
                       desc="line s*W")


def loss_slice(s1, s2, R, steps, burnout, chunk_size, dtype=torch.float32):
    """Loss on the grid ``s1[i] * W + s2[j] * R`` as an array ``[i, j]``
    (``s1`` must contain 1 and ``s2`` contain 0: the reference)."""
    base = chaotic_params(dtype)
    a, b = np.meshgrid(s1, s2, indexing="ij")  # point k = (i, j) with k = i * len(s2) + j
    a_t = torch.as_tensor(a.ravel(), dtype=dtype).reshape(-1, 1, 1)
    b_t = torch.as_tensor(b.ravel(), dtype=dtype).reshape(-1, 1, 1)
    params = {k: a_t * base[k] + b_t * R[k] for k in base}
    i1 = int(np.flatnonzero(np.asarray(s1) == 1.0)[0])
    j0 = int(np.flatnonzero(np.asarray(s2) == 0.0)[0])
    losses, _ = grid_losses(params, steps, burnout, i1 * len(s2) + j0, chunk_size, dtype,
                            desc="slice s1*W+s2*R")
    return losses.reshape(len(s1), len(s2))


class ChaoticFit(TaskLoss):
    """Fitting the chaotic LSTM's own output: the MSE over the first
    ``seq_len`` steps between the model at ``theta`` (the chaotic weights)
    and a perturbed model, both from h = c = 0.5 with zero input."""
    batched = True

    def __init__(self, dtype=torch.float64):
        super().__init__(chaotic_lstm(dtype).eval())

    def make_data(self, seq_len):
        """The target: the chaotic weights' own output."""
        return simulate(chaotic_params(self.dtype), seq_len, self.dtype)

    def loss(self, seq_len):
        h0 = torch.full((1, 1, HIDDEN), INITIAL_VALUE, dtype=self.dtype)
        out, _ = self.model(torch.zeros(seq_len, 1, 1, dtype=self.dtype), (h0, h0.clone()))
        return float(((out[:, 0] - self.data(seq_len)) ** 2).mean())

    def batched_loss(self, tensors, seq_len):
        out = simulate(tensors, seq_len, self.dtype)               # (T, P, 2)
        return ((out - self.data(seq_len)[:, None]) ** 2).mean(dim=(0, 2))


def along_line(s, steps, burnout, record, dtype=torch.float64, seed=0):
    """For each ``s``: the largest Lyapunov exponent of the LSTM with
    weights ``s * W`` from h = c = 0.5 (tangent carried by Jacobian-vector
    products, see :func:`attractors.dynamics.lyapunov_exponents`) and its
    first output over the last ``record`` of ``burnout + steps`` steps, for
    a bifurcation diagram. Returns ``(exponents (P,), outputs (record, P))``; all P models
    run as one batch."""
    from .dynamics import lyapunov_exponents
    s_t = torch.as_tensor(s, dtype=dtype).reshape(-1, 1, 1)
    params = {k: s_t * v for k, v in chaotic_params(dtype).items()}
    P = s_t.shape[0]
    x = torch.zeros(P, 1, 1, dtype=dtype)                # each model: one sequence, zero input

    def f(flat):                                         # (P, 4) = [h, c] -> (P, 4)
        h, c = (part.reshape(1, P, 1, HIDDEN) for part in flat.split(HIDDEN, dim=-1))
        h, c = functional.lstm_step(params, x, (h, c))
        return torch.cat([h.reshape(P, HIDDEN), c.reshape(P, HIDDEN)], dim=-1)

    x0 = torch.full((P, 2 * HIDDEN), INITIAL_VALUE, dtype=dtype)
    exponents = lyapunov_exponents(f, x0, steps, burnout,
                                   generator=torch.Generator().manual_seed(seed))[:, 0]
    outputs = simulate(params, burnout + steps, dtype, burnout + steps - record)[..., 0]
    return exponents.numpy(), outputs.numpy()
