import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.func import functional_call

import expRNN.cell
from expRNN import INITS, ORTHOGONAL_TYPES, OrthogonalRNN, modrelu
from expRNN.orthogonal import Orthogonal, cayley_map, init_skew, skew

A_KEY = "parametrizations.recurrent_kernel.original"




def random_orthogonal(n, generator):
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    return Q


def eye_error(B):
    return (B.T @ B - torch.eye(B.shape[0], dtype=B.dtype)).abs().max().item()


def test_types():
    assert ORTHOGONAL_TYPES == ("exprnn", "dtriv", "cayley")
    assert INITS == ("henaff", "cayley")


@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
def test_stays_orthogonal_after_adam(mode):
    torch.manual_seed(0)
    model = OrthogonalRNN(2, 7, mode, K=10)  # odd size: a lone last row
    head = torch.nn.Linear(7, 1)
    opt = torch.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=0.05)
    model.attach_optimizer(opt)
    inp, target = torch.randn(6, 4, 2), torch.randn(6, 4, 1)
    B0 = model.recurrent_matrix().detach().clone()
    for _ in range(50):
        opt.zero_grad()
        out, _ = model(inp)
        torch.nn.functional.mse_loss(head(out), target).backward()
        opt.step()
    B = model.recurrent_matrix().detach()
    assert (B - B0).abs().max() > 1e-2  # training really moved B
    assert eye_error(B) < 1e-5
    assert model.rebases == (5 if mode == "dtriv" else 0)


@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
def test_gradcheck_parametrisation(mode):
    gen = torch.Generator().manual_seed(1)
    param = Orthogonal(5, mode).double()
    if mode == "dtriv":  # a moved base, as after a rebasing
        param.base.copy_(random_orthogonal(5, gen))
    A = torch.randn(5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(param, (A,))


@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
def test_gradcheck_forward(mode):
    torch.manual_seed(2)
    model = OrthogonalRNN(2, 4, mode).double()
    names = [A_KEY, "input_kernel.weight", "nonlinearity.b"]
    params = [torch.randn_like(model.get_parameter(n), requires_grad=True) for n in names]
    inp = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    state = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

    def run(A, W, b, inp, state):
        return functional_call(model, dict(zip(names, (A, W, b))), (inp, state))

    assert torch.autograd.gradcheck(run, (*params, inp, state))


def test_cayley_closed_form():
    # 2x2: S = [[0, a], [-a, 0]] -> [[1 - a^2, -2a], [2a, 1 - a^2]] / (1 + a^2)
    a = 0.7
    S = torch.tensor([[0.0, a], [-a, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[1 - a * a, -2 * a], [2 * a, 1 - a * a]], dtype=torch.float64) / (1 + a * a)
    torch.testing.assert_close(cayley_map(S), expected)
    # general size, against the textbook inverse formula
    S = skew(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    I = np.eye(6)
    closed = np.linalg.inv(I + S.numpy()) @ (I - S.numpy())
    np.testing.assert_allclose(Orthogonal(6, "cayley").double()(S).numpy(), closed, atol=1e-12)


def test_exp_matches_scipy():
    gen = torch.Generator().manual_seed(4)
    A = torch.randn(6, 6, dtype=torch.float64, generator=gen)
    S = np.triu(A.numpy(), 1) - np.triu(A.numpy(), 1).T
    np.testing.assert_allclose(Orthogonal(6, "exprnn").double()(A).numpy(),
                               scipy.linalg.expm(S), atol=1e-12)
    param = Orthogonal(6, "dtriv").double()
    param.base.copy_(random_orthogonal(6, gen))
    np.testing.assert_allclose(param(A).numpy(), param.base.numpy() @ scipy.linalg.expm(S),
                               atol=1e-12)


def block_angles(B):
    """Angles of the 2x2 rotation blocks [[cos, sin], [-sin, cos]] of B."""
    n = B.shape[0]
    blocks = torch.zeros_like(B)
    angles = []
    for i in range(0, n - 1, 2):
        block = B[i:i + 2, i:i + 2]
        c, s = block[0, 0], block[0, 1]
        torch.testing.assert_close(block, torch.stack([torch.stack([c, s]), torch.stack([-s, c])]))
        blocks[i:i + 2, i:i + 2] = block
        angles.append(math.atan2(s, c))
    if n % 2:
        blocks[-1, -1] = B[-1, -1]
        assert B[-1, -1] == pytest.approx(1.0)
    torch.testing.assert_close(B, blocks)  # nothing off the blocks
    return torch.tensor(angles)


def test_init_henaff_blocks():
    torch.manual_seed(5)
    A = init_skew(201, "henaff")
    assert torch.equal(A, skew(A))
    values = A.diagonal(1)[::2]
    assert values.abs().max() < math.pi and values.min() < -2.5 and values.max() > 2.5
    torch.manual_seed(5)
    angles = block_angles(OrthogonalRNN(1, 201, "exprnn").recurrent_matrix().detach())
    torch.testing.assert_close(angles, values, atol=1e-5, rtol=0)


def test_init_cayley_blocks():
    torch.manual_seed(6)
    A = init_skew(200, "cayley")
    values = A.diagonal(1)[::2]
    assert ((values < 0) & (values > -1)).all()  # -tan(t / 2), t in (0, pi/2)
    torch.manual_seed(6)
    angles = block_angles(OrthogonalRNN(1, 200, "cayley", init="cayley").recurrent_matrix().detach())
    assert ((angles > 0) & (angles < math.pi / 2)).all()
    assert angles.min() < 0.1 and angles.max() > math.pi / 2 - 0.1
    torch.testing.assert_close(angles.float(), -2 * torch.atan(values), atol=1e-5, rtol=0)


def test_draw_order_of_old_code():
    # A's block values, nn.Linear's default init, modrelu's b, kaiming-normal W_in
    torch.manual_seed(7)
    model = OrthogonalRNN(3, 5, "exprnn")
    torch.manual_seed(7)
    values = torch.empty(2).uniform_(-math.pi, math.pi)
    torch.empty(5, 3).uniform_()
    b = torch.empty(5).uniform_(-0.01, 0.01)
    W = torch.empty(5, 3).normal_(0, math.sqrt(2 / 3))
    A = model.get_parameter(A_KEY)
    assert torch.equal(A.diagonal(1)[::2], values)
    assert torch.equal(model.nonlinearity.b, b)
    torch.testing.assert_close(model.input_kernel.weight, W)
    # dtriv starts at A = 0 around the same B
    torch.manual_seed(7)
    dtriv = OrthogonalRNN(3, 5, "dtriv")
    assert not dtriv.get_parameter(A_KEY).any()
    torch.testing.assert_close(dtriv.recurrent_matrix(), model.recurrent_matrix())
    assert torch.equal(dtriv.input_kernel.weight, model.input_kernel.weight)


def test_rebase_keeps_B_and_follows_optimizer_steps():
    torch.manual_seed(8)
    model = OrthogonalRNN(2, 4, "dtriv", K=3)
    with torch.no_grad():
        model.get_parameter(A_KEY).normal_()
    B = model.recurrent_matrix().detach().clone()
    model.rebase()
    assert not model.get_parameter(A_KEY).any()
    torch.testing.assert_close(model.recurrent_matrix(), B, atol=1e-6, rtol=0)

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    handle = model.attach_optimizer(opt)
    inp = torch.randn(5, 2, 2)
    for _ in range(10):  # forward calls alone do not count
        model(inp)
    assert (model.steps, model.rebases) == (0, 0)
    for _ in range(3):
        opt.zero_grad()
        model(inp)[0].sum().backward()
        A = model.get_parameter(A_KEY)
        # B that the third SGD step leads to, before the hook rebases
        expected = model.parametrizations.recurrent_kernel[0](A - 0.1 * A.grad).detach()
        opt.step()
    assert (model.steps, model.rebases) == (3, 1)
    assert not model.get_parameter(A_KEY).any()
    torch.testing.assert_close(model.recurrent_matrix(), expected, atol=1e-6, rtol=0)
    handle.remove()


def test_projection_every_100_rebasings(monkeypatch):
    calls = []
    monkeypatch.setattr(expRNN.cell, "project", lambda M: calls.append(1) or M)
    torch.manual_seed(9)
    model = OrthogonalRNN(1, 3, "dtriv", K=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.attach_optimizer(opt)
    for _ in range(199):
        opt.step()  # no gradients: only the schedule runs
    assert model.rebases == 199 and len(calls) == 1


def test_state_dict_carries_schedule():
    torch.manual_seed(10)
    model = OrthogonalRNN(2, 4, "dtriv", K=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.attach_optimizer(opt)
    for _ in range(5):
        opt.zero_grad()
        model(torch.randn(3, 2, 2))[0].sum().backward()
        opt.step()
    copy = OrthogonalRNN(2, 4, "dtriv", K=2)
    copy.load_state_dict(model.state_dict())
    assert (copy.steps, copy.rebases) == (5, 2)
    torch.testing.assert_close(copy.recurrent_matrix(), model.recurrent_matrix())


@pytest.mark.parametrize("mode", ["exprnn", "cayley"])
def test_attach_is_noop_without_base(mode):
    model = OrthogonalRNN(2, 4, mode)
    assert model.attach_optimizer(torch.optim.SGD(model.parameters(), lr=0.1)) is None


def test_attach_refuses_foreign_optimizer():
    model = OrthogonalRNN(2, 4, "dtriv")
    with pytest.raises(ValueError, match="optimiser"):
        model.attach_optimizer(torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1))


def naive_forward(model, inp, h):
    """The model written out step by step, in the old code's form."""
    W, b, B = model.input_kernel.weight, model.nonlinearity.b, model.recurrent_matrix()
    outputs = []
    for u in inp:
        z = u @ W.T + h @ B
        h = torch.where(z == 0, 0.0, z / z.abs()) * torch.clamp(z.abs() + b, min=0)
        outputs.append(h)
    return torch.stack(outputs), h


@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_shapes_and_reference(mode, dtype):
    torch.manual_seed(11)
    model = OrthogonalRNN(3, 5, mode).to(dtype)
    inp = torch.randn(7, 2, 3, dtype=dtype)
    out, h = model(inp)
    assert out.shape == (7, 2, 5) and h.shape == (2, 5) and out.dtype == dtype
    assert torch.equal(h, out[-1])
    state = torch.randn(2, 5, dtype=dtype)
    out, h = model(inp, state)
    ref_out, ref_h = naive_forward(model, inp, state)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    out, h = model(inp[:0], state)  # empty sequence
    assert out.shape == (0, 2, 5) and torch.equal(h, state)


def test_B_computed_once_per_forward():
    model = OrthogonalRNN(1, 4, "exprnn")
    calls = []
    model.parametrizations.recurrent_kernel[0].register_forward_hook(lambda *a: calls.append(1))
    model(torch.randn(20, 2, 1))
    assert len(calls) == 1


def test_modrelu_keeps_zero():
    b = torch.tensor([0.5, -0.5, 0.5])
    z = torch.tensor([0.0, 0.2, -1.0])
    assert torch.equal(modrelu(z, b), torch.tensor([0.0, 0.0, -1.5]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
def test_cuda(mode):
    torch.manual_seed(12)
    model = OrthogonalRNN(3, 5, mode, K=2)
    inp = torch.randn(4, 2, 3)
    expected = model(inp)[0]
    model.cuda()
    opt = torch.optim.Adam(model.parameters())
    model.attach_optimizer(opt)
    out, h = model(inp.cuda())
    torch.testing.assert_close(out.cpu(), expected, atol=1e-5, rtol=1e-5)
    for _ in range(4):
        opt.zero_grad()
        model(inp.cuda())[0].sum().backward()
        opt.step()
    assert eye_error(model.recurrent_matrix().detach().cpu()) < 1e-5


@pytest.mark.parametrize("kwargs", [dict(mode="lstm"), dict(mode="exprnn", init="haar"),
                                    dict(mode="dtriv", K=0), dict(mode="EURNN")])
def test_bad_options(kwargs):
    with pytest.raises(ValueError):
        OrthogonalRNN(2, 4, **kwargs)
