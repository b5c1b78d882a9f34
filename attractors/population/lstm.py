"""The LSTM of a population: K parameter sets run over their sequences as
one autograd node, with a hand-written backward.

Through autograd, a step of :func:`attractors.functional.lstm_step` records
about fifteen nodes, and at the quick start's sizes (hidden 32, batch 10)
each costs more than its arithmetic: a loop over time steps spends its time
in per-operation overhead, not in the products. Here a step of the forward
is eight operations, in place, into buffers made once per sequence, and a
step of the backward five: what depends on the forward alone (the gates'
slopes) is computed for a run of steps at once, and the weights' gradients
are one batched product over all steps after the loop (at K = 1 a sequence
takes about a quarter less time than with the thirteen operations a step
of the backward had before; at K = 32 no change beyond the noise).
The arithmetic is PyTorch's LSTM (gate order i, f, g, o), tested equal to
``functional.lstm_step`` in values and gradients (tests/test_population.py);
benchmarks/bench_population.py times it.

Shapes: x ``(K, T, B, I)``; per layer ``w_ih (K, 4H, I)``, ``w_hh (K, 4H, H)``,
``b_ih, b_hh (K, 4H)``; a state ``(h, c)``, each ``(num_layers, K, B, H)``
(the stacked layout of :mod:`attractors.functional`). The gates, c and
tanh(c) are kept step-major, ``(T, K, B, .)``, so that a step works on
contiguous memory; h and the gates' gradients copy-major, ``(K, T, B, .)``,
so that the outputs and the weights' gradients need no transposed copy. (A
transposed layout, gates ``(4H, B)`` per copy,
made each gate block contiguous but the recurrent product twice as slow.)
"""
import contextlib

import torch


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
    """The views of the gate blocks i, f, g, o."""
    return [gates[..., k * H:(k + 1) * H] for k in range(4)]


def _project(x, w_ih_t, bias, out):
    """``bias + x w_ih^T`` for one step: a batched matrix product, or for a
    one-dimensional input (the sine task's) a broadcast product, which
    costs a fraction of a matrix product with an inner dimension of one."""
    if x.shape[-1] == 1:
        return torch.addcmul(bias, x, w_ih_t, out=out)
    return torch.baddbmm(bias, x, w_ih_t, out=out)


def _inputs(x, w_ih, bias, gates):
    """Every step's input term ``bias + x_t w_ih^T`` at once, into the
    step-major ``gates`` ``(T, K, B, 4H)``."""
    K, T, B, I = x.shape
    if I == 1:
        torch.addcmul(bias[None, :, None], x.transpose(0, 1), w_ih.mT[None], out=gates)
    else:
        terms = torch.baddbmm(bias.unsqueeze(1), x.reshape(K, T * B, I), w_ih.mT)
        gates.copy_(terms.view(K, T, B, -1).transpose(0, 1))


def _views(gates, H):
    """The views ``_cell`` works on: i and f together, then i, f, g and o
    (made once; a view costs about a microsecond)."""
    return [gates[..., :2 * H]] + _blocks(gates, H)


def _cell(sig_if, i, f, g, o, c_prev, c_next, tanh_c, h_next):
    """The LSTM cell on one step's gate pre-activations, in place: the
    nonlinearities (sigmoid on i, f and o, tanh on g), then c and h."""
    sig_if.sigmoid_()
    g.tanh_()
    o.sigmoid_()
    torch.mul(f, c_prev, out=c_next).addcmul_(i, g)
    torch.tanh(c_next, out=tanh_c)
    torch.mul(o, tanh_c, out=h_next)


def _slopes(gates, c_prev, tanh_c, H, q, r):
    """What the backward multiplies gradients by, for a run of steps at
    once, into ``q`` and ``r``: through ``q`` the gradient of c reaches the
    pre-activations of i, f and g (``dc * q``) and that of h the one of o
    (``dh * q``); through ``r`` the gradient of h reaches c (``dh * r``)."""
    i, f, g, o = _blocks(gates, H)
    q_i, q_f, q_g, q_o = _blocks(q, H)
    one = gates.new_ones(())
    torch.addcmul(gates, gates, gates, value=-1, out=q)   # s - s^2: the sigmoids' slope
    torch.addcmul(one, g, g, value=-1, out=q_g)            # 1 - g^2: the tanh's
    q_i.mul_(g)
    q_f.mul_(c_prev)
    q_g.mul_(i)
    q_o.mul_(tanh_c)
    torch.addcmul(one, tanh_c, tanh_c, value=-1, out=r).mul_(o)


CHUNK = 1 << 18   # numbers: a megabyte


def _chunk(K, B, G, T):
    """Steps per run of :func:`_slopes`: as many as fit in about CHUNK
    numbers (on all steps of 32 copies at once, its operations ran from main
    memory, not the cache, and took longer than step by step)."""
    return max(1, min(T, CHUNK // (K * B * G)))


class _Layer(torch.autograd.Function):
    """One LSTM layer over a whole sequence, for K parameter sets. Returns
    the outputs ``(K, T, B, H)`` and the last h and c ``(K, B, H)``."""

    @staticmethod
    @_denormals_flushed()
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0):
        K, T, B, _ = x.shape
        H = w_hh.shape[-1]
        w_hh_t = w_hh.mT.contiguous()  # a contiguous operand makes bmm faster
        gates = x.new_empty(T, K, B, 4 * H)
        _inputs(x, w_ih, b_ih + b_hh, gates)
        h, c, tc = (x.new_empty(K, T + 1, B, H), x.new_empty(T + 1, K, B, H),
                    x.new_empty(T, K, B, H))
        h[:, 0], c[0] = h0, c0
        # Per-step views made by one call each.
        for gates_t, h_prev, *views in zip(
                gates.unbind(0), h.unbind(1), *(v.unbind(0) for v in _views(gates, H)),
                c.unbind(0), c[1:].unbind(0), tc.unbind(0), h[:, 1:].unbind(1)):
            gates_t.baddbmm_(h_prev, w_hh_t)
            _cell(*views)
        ctx.save_for_backward(x, w_ih, w_hh, gates, h, c, tc)
        return h[:, 1:], h[:, T].clone(), c[T].clone()

    @staticmethod
    @_denormals_flushed()
    def backward(ctx, grad_out, grad_h_last, grad_c_last):
        x, w_ih, w_hh, gates, h, c, tc = ctx.saved_tensors
        T, K, B, G = gates.shape
        H = G // 4
        # The gradients of the pre-activations are made in d_gates, copy-major
        # (the weights' gradients need it so), from the slopes of a run of
        # steps at a time.
        d_gates = x.new_empty(K, T, B, G)
        steps_first = d_gates.transpose(0, 1)
        n = _chunk(K, B, G, T)
        r = x.new_empty(n, K, B, H)
        grads = grad_out.unbind(1)
        dh = grads[T - 1] + grad_h_last
        carry, dc = grad_c_last.clone(), x.new_empty(K, B, H)
        steps = list(zip(steps_first.unbind(0),
                         steps_first.view(T, K, B, 4, H)[..., :3, :].unbind(0),
                         _blocks(steps_first, H)[3].unbind(0), _blocks(gates, H)[1].unbind(0)))
        r_steps = r.unbind(0)
        for t in range(T - 1, -1, -1):
            d_gates_t, d_ifg, d_o, f_t = steps[t]
            if t % n == n - 1 or t == T - 1:
                first = t - t % n
                _slopes(gates[first:t + 1], c[first:t + 1], tc[first:t + 1], H,
                        steps_first[first:t + 1], r[:t + 1 - first])
            torch.addcmul(carry, dh, r_steps[t % n], out=dc)
            d_ifg.mul_(dc.unsqueeze(2))
            d_o.mul_(dh)
            torch.mul(dc, f_t, out=carry)
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
    gates, c, tanh_c = x.new_empty(K, B, 4 * H), c0.clone(), x.new_empty(K, B, H)
    views = _views(gates, H)
    out = x.new_empty(K, T, B, H)
    h = h0
    for x_t, h_next in zip(x.unbind(1), out.unbind(1)):
        _project(x_t, w_ih_t, bias, gates).baddbmm_(h, w_hh_t)
        _cell(*views, c, c, tanh_c, h_next)
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
