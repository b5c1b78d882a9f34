"""The orthogonal RNN: h[t+1] = modrelu(W_in u[t] + h[t] B), with B orthogonal."""
import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.utils import parametrize

from .orthogonal import INITS, ORTHOGONAL_TYPES, Orthogonal, init_skew, project

# Rebasings between two projections of the dtriv base back onto the orthogonal
# group; rounding errors of the products base @ expm(S) slowly accumulate.
PROJECT_EVERY = 100


def modrelu(z, b):
    """sign(z) * relu(|z| + b); sign(0) = 0 keeps a zero pre-activation at zero."""
    return torch.sign(z) * torch.relu(torch.abs(z) + b)


def recurrence_autograd(x, h, B, b):
    """Run h <- modrelu(x[t] + h B) for every t of x, the projected inputs.

    Plain autograd: every step records its handful of small operations. It
    is the reference of the hand-written backward (tests, benchmark) and the
    fallback under torch.func transforms (vmap, jacrev, jacfwd).

    Only the recurrence is left in the Python loop. On CPU (see
    benchmarks/bench_exprnn_loop.py) torch.jit.script of it is no faster, and
    torch.compile unrolls all the steps: minutes of compilation per sequence
    length for a steady-state gain of about a third, so plain Python it is.
    """
    outputs = []
    for xt in x.unbind(0):
        h = modrelu(torch.addmm(xt, h, B), b)
        outputs.append(h)
    if not outputs:  # empty sequence: nothing happens to the state
        return x.new_empty(0, *h.shape), h
    return torch.stack(outputs), h


def _forward_loop(x, h, B, b):
    """The outputs (T, batch, hidden) of the recurrence, without autograd.

    Bit for bit the values of recurrence_autograd: the same operations in the
    same order, written into preallocated buffers.
    """
    out = torch.empty(x.shape[0], *h.shape, dtype=x.dtype, device=x.device)
    z = torch.empty_like(h)
    mag = torch.empty_like(h)
    for t in range(x.shape[0]):
        torch.addmm(x[t], h, B, out=z)
        torch.abs(z, out=mag).add_(b).relu_()  # relu(|z| + b)
        h = torch.sign(z, out=out[t]).mul_(mag)  # sign(z) * relu(|z| + b)
    return out


class _Recurrence(torch.autograd.Function):
    """The whole recurrence as one autograd node with a hand-written backward.

    Forward: the loop of recurrence_autograd under no_grad, keeping only the
    outputs H. Backward, with G[t] the gradient at the pre-activation z[t]:
    modrelu's derivative in z is 1 where the output is nonzero and 0 where
    it is zero (|z| + b <= 0, or z == 0 where sign(0) = 0: the derivative
    autograd gives), so the loop carries
        G[t] = (dL/dH[t] + G[t+1] B^T) * [H[t] != 0]
    one matrix product, one add and one multiply per step. Then
    dL/dx = G, dL/dh0 = G[0] B^T, and with H_prev = (h0, H[0], ..., H[T-2]):
        dL/dB = sum_t H_prev[t]^T G[t],   dL/db = sum_t,n G[t] * sign(H[t]).

    autograd_order=True sums these two in the loop, step by step from the
    last, as autograd accumulates them: the gradients are then bit for bit
    those of recurrence_autograd (same kernels, same order), so seeded
    training runs keep their history. autograd_order=False computes each as
    ONE matrix product / reduction over all T * batch rows after the loop:
    a little faster, equal up to rounding only.

    Double backward is not supported (once_differentiable raises a clear
    error); neither is forward-mode AD. torch.func transforms use
    recurrence_autograd (see recurrence).
    """

    @staticmethod
    def forward(ctx, x, h0, B, b, autograd_order):
        out = _forward_loop(x, h0, B, b)
        ctx.save_for_backward(out, h0, B)
        ctx.autograd_order = autograd_order
        return out, out[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_last):
        out, h0, B = ctx.saved_tensors
        need_x, need_h0, need_B, need_b, _ = ctx.needs_input_grad
        in_loop = ctx.autograd_order
        T = out.shape[0]
        Bt = B.mT
        mask = out.ne(0).to(out.dtype)  # modrelu'(z) on every step
        sign = out.sign() if need_b else None
        G = torch.empty_like(out)
        grad_B = grad_b = None
        g = grad_out[-1] + grad_last
        for t in range(T - 1, -1, -1):
            Gt = torch.mul(g, mask[t], out=G[t])
            if in_loop and need_B:
                step = (out[t - 1] if t else h0).mT.mm(Gt)
                grad_B = step if grad_B is None else grad_B.add_(step)
            if in_loop and need_b:
                step = (Gt * sign[t]).sum(0)
                grad_b = step if grad_b is None else grad_b.add_(step)
            if t:
                g = torch.mm(Gt, Bt).add_(grad_out[t - 1])
        if not in_loop and need_B:
            hidden = out.shape[-1]
            h_prev = torch.cat([h0.unsqueeze(0), out[:-1]]).reshape(-1, hidden)
            grad_B = h_prev.mT @ G.reshape(-1, hidden)
        if not in_loop and need_b:
            grad_b = (G * sign).sum((0, 1))
        grad_x = G if need_x else None
        grad_h0 = G[0].mm(Bt) if need_h0 else None
        return grad_x, grad_h0, grad_B, grad_b, None


# Default of recurrence's autograd_order; benchmarks and curious users may
# set it to False for the one-product sums (gradients equal up to rounding).
AUTOGRAD_ORDER = True


def _functorch_active():
    check = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(check and check())


def recurrence(x, h, B, b, autograd_order=None):
    """Run h <- modrelu(x[t] + h B) for every t of x, the projected inputs.

    x (T, batch, hidden), h (batch, hidden), B (hidden, hidden), b (hidden).
    Returns all the states (T, batch, hidden) and the last one. The values
    are those of recurrence_autograd bit for bit; the gradients come from
    the hand-written backward of _Recurrence, which records one autograd
    node per sequence instead of several per step. autograd_order (default
    AUTOGRAD_ORDER): see _Recurrence.
    """
    if x.shape[0] == 0:  # empty sequence: nothing happens to the state
        return x.new_empty(0, *h.shape), h
    if _functorch_active():
        return recurrence_autograd(x, h, B, b)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, h, B, b)):
        order = AUTOGRAD_ORDER if autograd_order is None else autograd_order
        return _Recurrence.apply(x, h, B, b, bool(order))
    out = _forward_loop(x, h, B, b)
    return out, out[-1].clone()


class ModReLU(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.b = nn.Parameter(torch.empty(features).uniform_(-0.01, 0.01))

    def forward(self, z):
        return modrelu(z, self.b)


class OrthogonalRNN(nn.Module):
    """Single-layer RNN with an orthogonal recurrent matrix.

    mode: `exprnn` (B = expm(S)), `dtriv` (B = base @ expm(S), base moved to
    B every K optimiser steps, see attach_optimizer) or `cayley`
    (B = (I + S)^-1 (I - S)); init: `henaff` or `cayley` (see init_skew).
    Input (seq_len, batch, input_size); state (batch, hidden_size).
    load_state_dict also takes the original code's keys (``rnn_cell.`` one
    level down, see translate_original_keys).
    """

    def __init__(self, input_size, hidden_size, mode, init="henaff", K=100):
        super().__init__()
        if mode not in ORTHOGONAL_TYPES:
            raise ValueError(f"mode must be one of {ORTHOGONAL_TYPES}, got {mode!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if mode == "dtriv" and (not isinstance(K, int) or K < 1):
            raise ValueError(f"K must be a positive integer, got {K!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.mode, self.init, self.K = mode, init, K
        self.steps = 0  # optimiser steps seen by the dtriv hook
        self.rebases = 0  # rebasings done by it

        # Same seed, same numbers: the old code (Lezcano's expRNN cell) drew
        # from torch's global generator, and nothing from NumPy, in this
        # order: (1) the n // 2 block values of A; (2) nn.Linear's own default
        # init of W_in (kaiming-uniform, overwritten below but it still
        # consumes draws); (3) the modrelu bias; (4) the kaiming-normal W_in.
        # The parameters are also registered in that order (A, W_in, b).
        self.recurrent_kernel = nn.Parameter(init_skew(hidden_size, init))
        parametrize.register_parametrization(
            self, "recurrent_kernel", Orthogonal(hidden_size, mode))
        self.input_kernel = nn.Linear(input_size, hidden_size, bias=False)
        self.nonlinearity = ModReLU(hidden_size)
        nn.init.kaiming_normal_(self.input_kernel.weight, nonlinearity="relu")
        if mode == "dtriv":
            # Dynamic trivialisation starts from A = 0 around base = B(A_init)
            # (the old code did this at the first evaluation of B). B is
            # unchanged; the gradients are taken at A = 0 from the start.
            self.rebase()

    def recurrent_matrix(self):
        """The current orthogonal B, (hidden_size, hidden_size)."""
        return self.recurrent_kernel

    def forward(self, inp, state=None):
        if inp.dim() != 3:
            raise ValueError(f"expected input (seq_len, batch, input_size), got {tuple(inp.shape)}")
        if state is None:
            state = inp.new_zeros(inp.shape[1], self.hidden_size)
        B = self.recurrent_kernel  # computed once per sequence, not per step
        return recurrence(self.input_kernel(inp), state, B, self.nonlinearity.b)

    @torch.no_grad()
    def rebase(self):
        """base <- B, A <- 0: B is unchanged (base @ expm(0) = base exactly)."""
        if self.mode != "dtriv":
            raise RuntimeError("only the dtriv mode has a base to move")
        param = self.parametrizations.recurrent_kernel
        param[0].base.copy_(self.recurrent_kernel)
        param.original.zero_()

    def attach_optimizer(self, optimizer):
        """Rebase every K steps of `optimizer` (dtriv only; otherwise no-op).

        Returns the hook handle (None for exprnn and cayley). Attach once.
        """
        if self.mode != "dtriv":
            return None
        A = self.parametrizations.recurrent_kernel.original
        if not any(p is A for group in optimizer.param_groups for p in group["params"]):
            raise ValueError("the optimiser does not update this cell's recurrent parameter")
        return optimizer.register_step_post_hook(self._after_optimizer_step)

    def _after_optimizer_step(self, optimizer, args, kwargs):
        # Counting optimiser steps, not forward calls, keeps evaluation and
        # orbit sampling from shifting the schedule.
        self.steps += 1
        if self.steps % self.K:
            return
        self.rebase()
        self.rebases += 1
        if self.rebases % PROJECT_EVERY == 0:
            with torch.no_grad():
                base = self.parametrizations.recurrent_kernel[0].base
                base.copy_(project(base))
        # The optimiser's state for A (Adam's moments) was estimated around the
        # old base and is now stale. Like dynamic trivialisation
        # (Lezcano-Casado 2019) we keep the optimiser running untouched: the
        # moments decay within a few steps and resetting them would make the
        # first steps after every rebasing larger.

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Runs whenever a parent's load_state_dict reaches this module.
        translate_original_keys(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # The schedule counters travel in state_dict, so a resumed run rebases
    # at the same steps as an uninterrupted one.
    def get_extra_state(self):
        return {"steps": self.steps, "rebases": self.rebases}

    def set_extra_state(self, state):
        self.steps, self.rebases = int(state["steps"]), int(state["rebases"])


# The original code (PyTorch 1.1, Lezcano's expRNN cell) had one more module
# level, ``rnn_cell``, where this project has the OrthogonalRNN itself.
ORIGINAL_LEVEL = "rnn_cell."
OWN_KEYS = ("parametrizations.", "input_kernel.", "nonlinearity.", "_extra_state")


def translate_original_keys(model, state_dict, prefix):
    """Rewrite, in place, the original code's keys under ``prefix`` into ours.

    Original keys (under ``prefix + "rnn_cell."``) and where they go:
      recurrent_kernel._A        -> parametrizations.recurrent_kernel.original
      recurrent_kernel.base      -> parametrizations.recurrent_kernel.0.base
                                    (exprnn, dtriv; missing or empty: identity)
      recurrent_kernel._B        -> dropped (a cache of B, possibly stale)
      input_kernel.weight        -> input_kernel.weight
      nonlinearity.b             -> nonlinearity.b
    Both codes compute B = base @ f(triu(A, 1) - triu(A, 1)^T), so B is the
    original's exactly. This project's cayley cell has no base: a base other
    than the identity cannot be represented and raises ValueError. The dtriv
    schedule counters, which the original did not save, keep the model's
    current values. Other keys under ``rnn_cell.`` are left for
    load_state_dict to report as unexpected.
    """
    old = prefix + ORIGINAL_LEVEL
    if not any(key.startswith(old) for key in state_dict):
        return
    mixed = [key for key in state_dict if key.startswith(prefix)
             and key[len(prefix):].startswith(OWN_KEYS)]
    if mixed:
        raise ValueError(f"the state dict has both original expRNN keys ({old}...) and "
                         f"this project's keys ({mixed[0]}, ...) for the same cell")
    n, source = model.hidden_size, "original expRNN"

    def take(name, shape):
        value = state_dict.pop(old + name, None)
        if value is not None and tuple(value.shape) != shape:
            raise ValueError(f"{source} key {old + name} has shape {tuple(value.shape)}; "
                             f"this {model.mode} cell expects {shape}")
        return value

    A = take("recurrent_kernel._A", (n, n))
    base = state_dict.pop(old + "recurrent_kernel.base", None)
    state_dict.pop(old + "recurrent_kernel._B", None)
    weight = take("input_kernel.weight", (n, model.input_size))
    b = take("nonlinearity.b", (n,))

    if base is not None and base.numel() == 0:
        base = None  # the original's placeholder: the identity
    if base is not None and tuple(base.shape) != (n, n):
        raise ValueError(f"{source} key {old}recurrent_kernel.base has shape "
                         f"{tuple(base.shape)}; this {model.mode} cell expects {(n, n)}")
    if model.mode == "cayley":
        if base is not None:
            eye = torch.eye(n, dtype=base.dtype, device=base.device)
            if not torch.allclose(base, eye, rtol=0, atol=1e-6):
                raise ValueError("the original cayley cell has a base other than the identity; "
                                 "this project's cayley cell (B = cayley(S), no base) cannot "
                                 "represent it")
    else:
        current = model.parametrizations.recurrent_kernel[0].base
        state_dict[prefix + "parametrizations.recurrent_kernel.0.base"] = (
            torch.eye(n, dtype=current.dtype, device=current.device) if base is None else base)

    for name, value in (("parametrizations.recurrent_kernel.original", A),
                        ("input_kernel.weight", weight), ("nonlinearity.b", b)):
        if value is not None:  # a missing one is reported by load_state_dict
            state_dict[prefix + name] = value
    state_dict.setdefault(prefix + "_extra_state", model.get_extra_state())
