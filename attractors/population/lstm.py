"""The LSTM of a population: K parameter sets run over their sequences as
one autograd node, with a hand-written backward.

Through autograd, a step of :func:`attractors.functional.lstm_step` records
about fifteen nodes, and at the quick start's sizes (hidden 32, batch 10)
each costs more than its arithmetic: a loop over time steps spends its time
in per-operation overhead, not in the products. Here a step of the forward
is nine operations, in place, into buffers made once per sequence, and a
step of the backward thirteen; the weights' gradients are one batched
product over all steps. K copies then cost little more than one
(benchmarks/bench_population.py). The arithmetic is PyTorch's LSTM (gate
order i, f, g, o), tested equal to ``functional.lstm_step`` in values and
gradients (tests/test_population.py).

Shapes: x ``(K, T, B, I)``; per layer ``w_ih (K, 4H, I)``, ``w_hh (K, 4H, H)``,
``b_ih, b_hh (K, 4H)``; a state ``(h, c)``, each ``(num_layers, K, B, H)``
(the stacked layout of :mod:`attractors.functional`). The gates, c and
tanh(c) are kept step-major, ``(T, K, B, .)``, so that a step works on
contiguous memory; h and the gates' gradients copy-major, ``(K, T, B, .)``,
so that the weights' gradients need no transposed copy.
"""
import contextlib

import torch

_tanh_backward = torch.ops.aten.tanh_backward.grad_input


@contextlib.contextmanager
def _denormals_flushed():
    """Numbers below 1e-38 become 0 meanwhile. The products of saturated
    gates make such denormal numbers, and on x86 every operation on one
    takes a slow path: a sequence ran three times slower."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)  # PyTorch's default


def _blocks(gates, H):
    """The views of the gate blocks i, f, g, o and of i and f together."""
    return [gates[..., k * H:(k + 1) * H] for k in range(4)] + [gates[..., :2 * H]]


def _project(x, w_ih_t, bias, out):
    """``bias + x w_ih^T`` for one step: a batched matrix product, or for a
    one-dimensional input (the sine task's) a plain product, which costs a
    fraction of a matrix product with an inner dimension of one."""
    if x.shape[-1] == 1:
        return torch.addcmul(bias, x, w_ih_t, out=out)
    return torch.baddbmm(bias, x, w_ih_t, out=out)


def _cell(i, f, g, o, sig_if, c_prev, c_next, tanh_c, h_next):
    """The LSTM cell on one step's gate pre-activations, in place: the
    gates' nonlinearities (sigmoid on i, f and o, tanh on g), then c and h."""
    sig_if.sigmoid_()
    g.tanh_()
    o.sigmoid_()
    torch.mul(f, c_prev, out=c_next).addcmul_(i, g)
    torch.tanh(c_next, out=tanh_c)
    torch.mul(o, tanh_c, out=h_next)


class _Layer(torch.autograd.Function):
    """One LSTM layer over a whole sequence, for K parameter sets. Returns
    the outputs ``(K, T, B, H)`` and the last h and c ``(K, B, H)``."""

    @staticmethod
    @_denormals_flushed()
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0):
        K, T, B, _ = x.shape
        H = w_hh.shape[-1]
        bias, w_ih_t = (b_ih + b_hh).unsqueeze(1), w_ih.mT
        w_hh_t = w_hh.mT.contiguous()  # a contiguous operand makes bmm faster
        gates = x.new_empty(T, K, B, 4 * H)
        h, c, tc = x.new_empty(K, T + 1, B, H), x.new_empty(T + 1, K, B, H), x.new_empty(T, K, B, H)
        h[:, 0], c[0] = h0, c0
        # Per-step views made by one call each (a view costs about a microsecond).
        steps = zip(x.unbind(1), gates.unbind(0), *(b.unbind(0) for b in _blocks(gates, H)),
                    h.unbind(1), h[:, 1:].unbind(1), c.unbind(0), c[1:].unbind(0), tc.unbind(0))
        for x_t, gates_t, i, f, g, o, sig_if, h_prev, h_next, c_prev, c_next, tanh_c in steps:
            _project(x_t, w_ih_t, bias, gates_t).baddbmm_(h_prev, w_hh_t)
            _cell(i, f, g, o, sig_if, c_prev, c_next, tanh_c, h_next)
        ctx.save_for_backward(x, w_ih, w_hh, gates, h, c, tc)
        return h[:, 1:], h[:, T].clone(), c[T].clone()

    @staticmethod
    @_denormals_flushed()
    def backward(ctx, grad_out, grad_h_last, grad_c_last):
        x, w_ih, w_hh, gates, h, c, tc = ctx.saved_tensors
        T, K, B, G = gates.shape
        H = G // 4
        d_gates = x.new_empty(K, T, B, G)
        # One step's buffers: the gates' slopes from their activations
        # (s - s^2 for the sigmoids, 1 - g^2 for the tanh), and the
        # gradients reaching them (dc g, dc c_prev, dc i, dh tanh(c)).
        slope, upstream = x.new_empty(K, B, G), x.new_empty(K, B, G)
        slope_g = slope[..., 2 * H:3 * H]
        up_i, up_f, up_g, up_o = _blocks(upstream, H)[:4]
        ones = x.new_ones(())
        tmp, dc, carry = (x.new_empty(K, B, H) for _ in range(3))
        grads = grad_out.unbind(1)
        dh = grads[T - 1] + grad_h_last
        carry.copy_(grad_c_last)
        steps = list(zip(gates.unbind(0), *(b.unbind(0) for b in _blocks(gates, H)[:4]),
                         c.unbind(0), tc.unbind(0), d_gates.unbind(1)))
        for t in range(T - 1, -1, -1):
            gates_t, i, f, g, o, c_prev, tanh_c, d_gates_t = steps[t]
            torch.mul(dh, o, out=tmp)
            _tanh_backward(tmp, tanh_c, grad_input=dc)
            dc.add_(carry)
            torch.mul(dc, g, out=up_i)
            torch.mul(dc, c_prev, out=up_f)
            torch.mul(dc, i, out=up_g)
            torch.mul(dh, tanh_c, out=up_o)
            torch.addcmul(gates_t, gates_t, gates_t, value=-1, out=slope)
            torch.addcmul(ones, g, g, value=-1, out=slope_g)
            torch.mul(upstream, slope, out=d_gates_t)
            torch.mul(dc, f, out=carry)
            dh = torch.baddbmm(grads[t - 1], d_gates_t, w_hh) if t else d_gates_t @ w_hh
        # The weights' gradients: one product over all steps and sequences.
        by_copy = d_gates.view(K, T * B, G)
        need = ctx.needs_input_grad
        dx = torch.bmm(by_copy, w_ih).view(x.shape) if need[0] else None
        dw_ih = torch.bmm(by_copy.mT, x.reshape(K, T * B, -1)) if need[1] else None
        dw_hh = torch.bmm(by_copy.mT, h[:, :T].reshape(K, T * B, H)) if need[2] else None
        db = by_copy.sum(1) if need[3] or need[4] else None
        return dx, dw_ih, dw_hh, db, db, dh if need[5] else None, carry if need[6] else None


@torch.no_grad()
@_denormals_flushed()
def _run(x, w_ih, w_hh, b_ih, b_hh, h0, c0):
    """The forward alone (orbit samples, validation), with one step's
    buffers: a long sequence needs no memory beyond its outputs."""
    K, T, B, _ = x.shape
    H = w_hh.shape[-1]
    bias, w_ih_t, w_hh_t = (b_ih + b_hh).unsqueeze(1), w_ih.mT, w_hh.mT.contiguous()
    gates = x.new_empty(K, B, 4 * H)
    blocks = _blocks(gates, H)
    h, c = h0, c0.clone()
    out = x.new_empty(K, T, B, H)
    for x_t, h_next in zip(x.unbind(1), out.unbind(1)):
        _project(x_t, w_ih_t, bias, gates).baddbmm_(h, w_hh_t)
        _cell(*blocks, c, c, h_next, h_next)
        h = h_next
    return out, h.clone(), c


def lstm(params, x, state=None):
    """Run the stacked LSTM ``params`` (``weight_ih_l0``, ... as
    :func:`attractors.functional.step_params` names them, each with a
    leading dimension K) over ``x`` ``(K, T, B, I)`` from ``state`` (default
    zeros). Returns the last layer's outputs ``(K, T, B, H)`` and the last
    state. Differentiable in the weights, the inputs and the initial state."""
    K, _, B, _ = x.shape
    layers = sum(1 for k in params if k.startswith("weight_ih_l"))
    H = params["weight_hh_l0"].shape[-1]
    if state is None:
        zeros = x.new_zeros(layers, K, B, H)
        state = (zeros, zeros)
    grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (x, *params.values(), *state))
    last_h, last_c = [], []
    for layer in range(layers):
        w_ih, w_hh = params[f"weight_ih_l{layer}"], params[f"weight_hh_l{layer}"]
        b_ih, b_hh = params.get(f"bias_ih_l{layer}"), params.get(f"bias_hh_l{layer}")
        if b_ih is None:  # an LSTM without biases
            b_ih = b_hh = w_hh.new_zeros(K, 4 * H)
        layer_state = (state[0][layer], state[1][layer])
        x, h, c = (_Layer.apply if grad else _run)(x, w_ih, w_hh, b_ih, b_hh, *layer_state)
        last_h.append(h)
        last_c.append(c)
    return x, (torch.stack(last_h), torch.stack(last_c))
