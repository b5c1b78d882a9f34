"""The hand-written backward of the orthogonal recurrence against plain autograd."""
import subprocess
import sys

import pytest
import torch
from torch import nn

import expRNN.cell
from attractors.rnn import RecurrentLayer
from conftest import ROOT
from expRNN import ORTHOGONAL_TYPES, OrthogonalRNN
from expRNN.cell import recurrence, recurrence_autograd
from expRNN.orthogonal import project

A_KEY = "parametrizations.recurrent_kernel.original"


@pytest.fixture
def plain_autograd(monkeypatch):
    """Make OrthogonalRNN use the plain-autograd recurrence."""
    def use():
        monkeypatch.setattr(expRNN.cell, "recurrence", recurrence_autograd)
    return use


@pytest.fixture(params=[True, False], ids=["autograd_order", "one_product"])
def order(request, monkeypatch):
    """Both summation orders of the hand-written backward."""
    monkeypatch.setattr(expRNN.cell, "AUTOGRAD_ORDER", request.param)
    return request.param


def run_and_grad(model, inp, state, weights):
    """Outputs, last state and the gradients of a weighted sum of both with
    respect to the input, the state (if given) and every parameter."""
    out, last = model(inp, state)
    loss = (out * weights[0]).sum() + (last * weights[1]).sum()
    leaves = [inp] + ([state] if state is not None else []) + list(model.parameters())
    if not loss.requires_grad:  # empty sequence from a zero state: a constant
        return out, last, [None] * len(leaves)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return out, last, grads


def make_case(mode, seq_len, with_state, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    model = OrthogonalRNN(3, 6, mode, K=2).to(dtype)
    with torch.no_grad():  # a B away from the initial block rotations
        model.get_parameter(A_KEY).add_(0.3 * torch.randn(6, 6, dtype=dtype))
        model.nonlinearity.b.copy_(0.5 * torch.randn(6, dtype=dtype))  # some units off
        if mode == "dtriv":
            model.parametrizations.recurrent_kernel[0].base.copy_(
                project(torch.randn(6, 6, dtype=dtype)))
    inp = torch.randn(seq_len, 4, 3, dtype=dtype, requires_grad=True)
    state = torch.randn(4, 6, dtype=dtype, requires_grad=True) if with_state else None
    weights = (torch.randn(seq_len, 4, 6, dtype=dtype), torch.randn(4, 6, dtype=dtype))
    return model, inp, state, weights


@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("seq_len", [0, 1, 9])
def test_matches_plain_autograd(mode, with_state, seq_len, order, plain_autograd):
    model, inp, state, weights = make_case(mode, seq_len, with_state)
    out, last, grads = run_and_grad(model, inp, state, weights)
    plain_autograd()
    ref_out, ref_last, ref_grads = run_and_grad(model, inp, state, weights)
    assert torch.equal(out, ref_out) and torch.equal(last, ref_last)  # same values, bit for bit
    assert len(grads) == len(ref_grads) == (5 if with_state else 4)
    for grad, ref in zip(grads, ref_grads):
        if ref is None:  # empty sequence: the weights get no gradient at all
            assert grad is None and seq_len == 0
        elif seq_len == 0:  # the state goes straight through
            assert torch.equal(grad, weights[1])
        elif order:  # the same kernels in the same order as autograd
            assert torch.equal(grad, ref)
        else:
            torch.testing.assert_close(grad, ref, atol=1e-12, rtol=1e-12)
    if seq_len == 0:
        assert out.shape == (0, 4, 6)
        if with_state:
            assert last is state


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_bit_identical(dtype):
    torch.manual_seed(1)
    x, h = torch.randn(50, 3, 8, dtype=dtype), torch.randn(3, 8, dtype=dtype)
    B = project(torch.randn(8, 8, dtype=dtype))
    b = 0.3 * torch.randn(8, dtype=dtype)
    expected = recurrence_autograd(x, h, B, b)
    with torch.no_grad():
        no_grad = recurrence(x, h, B, b)
    with_grad = recurrence(x, h, B, b.requires_grad_())
    for got in (no_grad, with_grad):
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert with_grad[0].grad_fn is not None and no_grad[0].grad_fn is None


def test_zero_preactivations_and_dead_units_match_autograd(order):
    # z == 0 (sign(0) = 0: output 0 even where b > 0) and |z| + b <= 0 exactly
    x = torch.zeros(3, 2, 4, dtype=torch.float64)
    x[:, 0, 1] = 0.5
    x[:, 1, 2] = -0.25
    x[0, 1, 3] = 0.3
    h = torch.zeros(2, 4, dtype=torch.float64)
    B = torch.eye(4, dtype=torch.float64)
    b = torch.tensor([0.4, -0.1, -0.25, 0.2], dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in (x, h, B, b)]
    weights = torch.randn(3, 2, 4, dtype=torch.float64)
    grads = torch.autograd.grad((recurrence(*leaves)[0] * weights).sum(), leaves)
    ref = torch.autograd.grad((recurrence_autograd(*leaves)[0] * weights).sum(), leaves)
    out = recurrence(*leaves)[0]
    assert (out == 0).any() and (out != 0).any()
    for grad, expected in zip(grads, ref):
        if order:
            assert torch.equal(grad, expected)
        else:
            torch.testing.assert_close(grad, expected, atol=1e-15, rtol=1e-15)


@pytest.mark.parametrize("with_state", [False, True])
def test_gradcheck(with_state, order):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    h = torch.randn(2, 3, dtype=torch.float64, generator=gen, requires_grad=with_state)
    B = project(torch.randn(3, 3, dtype=torch.float64, generator=gen)).requires_grad_()
    b = (0.3 * torch.randn(3, dtype=torch.float64, generator=gen)).requires_grad_()
    assert torch.autograd.gradcheck(recurrence, (x, h, B, b))


def test_gradient_through_the_last_state_only():
    model, inp, state, _ = make_case("exprnn", 5, True)
    last = model(inp, state)[1]
    grad_state, = torch.autograd.grad(last.sum(), state)
    with torch.no_grad():
        eps = 1e-6
        direction = torch.randn_like(state)
        numeric = (model(inp, state + eps * direction)[1].sum()
                   - model(inp, state - eps * direction)[1].sum()) / (2 * eps)
    assert (grad_state * direction).sum().item() == pytest.approx(numeric.item(), rel=1e-6)


def test_double_backward_is_refused():
    model, inp, state, _ = make_case("cayley", 3, True)
    grad, = torch.autograd.grad(model(inp, state)[0].square().sum(), state, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


def test_torch_func_uses_plain_autograd():
    model, inp, state, _ = make_case("exprnn", 4, False)
    inp, state = inp.detach(), torch.randn(4, 6, dtype=torch.float64)
    jac = torch.func.jacrev(lambda s: model(inp, s)[1])(state)
    ref = torch.autograd.functional.jacobian(lambda s: model(inp, s)[1], state)
    torch.testing.assert_close(jac, ref, atol=1e-12, rtol=0)


def test_sine_sizes_gradients_bit_identical(plain_autograd):
    # hidden 200, seq_len 400, batch 10: the BLAS calls of the sine task
    torch.manual_seed(4)
    model = OrthogonalRNN(1, 200, "exprnn")
    u = torch.linspace(0.2, 0.4, 10).expand(400, 10).unsqueeze(-1)
    target = torch.sin(u.cumsum(0))

    def grads():
        model.zero_grad()
        out = model(u)[0]
        (out[..., :1] - target).square().sum().backward()
        return [p.grad.clone() for p in model.parameters()]
    hand = grads()
    plain_autograd()
    assert all(torch.equal(a, b) for a, b in zip(hand, grads()))


def train_losses(rnn_type, steps=6):
    torch.manual_seed(3)
    rnn = RecurrentLayer(1, 16, rnn_type, K=2)
    head = nn.Linear(16, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=0.01)
    rnn.attach_optimizer(optimizer)
    freqs = torch.linspace(0.2, 0.4, 5)
    u = freqs.expand(30, 5).unsqueeze(-1)
    y = torch.sin(u.cumsum(0))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(head(rnn(u)[0]), y, reduction="sum")
        loss.backward()
        nn.utils.clip_grad_norm_(params, 0.25)
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("rnn_type", ORTHOGONAL_TYPES)
def test_training_matches_plain_autograd(rnn_type, order, plain_autograd):
    losses = train_losses(rnn_type)
    plain_autograd()
    expected = train_losses(rnn_type)
    assert losses[0] == expected[0]  # same forward, bit for bit
    if order:  # same gradients bit for bit: the same history
        assert losses == expected
    else:
        assert losses == pytest.approx(expected, rel=1e-6, abs=0)
    assert losses[-1] < losses[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype, order):
    model, inp, state, weights = make_case("dtriv", 7, True, dtype=dtype)
    out, last, grads = run_and_grad(model, inp, state, weights)
    model.cuda()
    cuda = [t.detach().cuda().requires_grad_() for t in (inp, state)]
    out_c, last_c, grads_c = run_and_grad(model, *cuda, [w.cuda() for w in weights])
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == torch.float32 else {}
    torch.testing.assert_close(out_c.cpu(), out, **tol)
    for grad, grad_c in zip(grads, grads_c):
        torch.testing.assert_close(grad_c.cpu(), grad, **tol)


def test_benchmark_runs():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_exprnn_backward.py"),
                             "--hidden", "4", "--seq_len", "3", "--batch", "2",
                             "--n_sequences", "4", "--repeats", "1", "--epochs", "1"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("LSTM", "exprnn", "dtriv", "cayley", "autograd", "one-sum", "autograd/hand"):
        assert name in result.stdout
