"""Loading the original code's orthogonal-RNN weights (keys under ``rnn_cell.``)."""
import io

import numpy as np
import pytest
import scipy.linalg
import torch

from conftest import load_script
from expRNN import ORTHOGONAL_TYPES, OrthogonalRNN

SineGenerator = load_script("sine-generator/model.py").SineGenerator
HIDDEN = 6
OLD = "rnn.rnn.rnn_cell."  # where the sine model's original cell keys sit


def random_orthogonal(n, generator):
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    return Q.float()


def original_state_dict(A, base="identity", B="empty", seed=0):
    """A sine model's state dict as the original code saved it (float32)."""
    gen = torch.Generator().manual_seed(seed)
    state = {OLD + "recurrent_kernel._A": A}
    if isinstance(base, torch.Tensor):
        state[OLD + "recurrent_kernel.base"] = base
    elif base == "identity":
        state[OLD + "recurrent_kernel.base"] = torch.eye(HIDDEN)
    if B == "empty":
        state[OLD + "recurrent_kernel._B"] = torch.empty(0)
    elif B == "stale":  # B of some earlier A: must not be used
        state[OLD + "recurrent_kernel._B"] = random_orthogonal(HIDDEN, gen)
    state[OLD + "input_kernel.weight"] = torch.randn(HIDDEN, 1, generator=gen)
    state[OLD + "nonlinearity.b"] = 0.3 * torch.randn(HIDDEN, generator=gen)
    state["linear.weight"] = torch.randn(1, HIDDEN, generator=gen)
    state["linear.bias"] = torch.randn(1, generator=gen)
    return state


def original_B(mode, A, base):
    """base @ f(S) in float64, with SciPy / NumPy, as the original defines it."""
    A = A.double().numpy()
    S = np.triu(A, 1) - np.triu(A, 1).T
    eye = np.eye(len(S))
    f = np.linalg.solve(eye + S, eye - S) if mode == "cayley" else scipy.linalg.expm(S)
    return (eye if base is None else base.double().numpy()) @ f


def original_outputs(state, B, u):
    """The original forward written out in float64: h <- modrelu(u W^T + h B, b)."""
    W = state[OLD + "input_kernel.weight"].double().numpy()
    b = state[OLD + "nonlinearity.b"].double().numpy()
    h = np.zeros((u.shape[1], len(b)))
    ys = []
    for ut in u.double().numpy():
        z = ut @ W.T + h @ B
        h = np.sign(z) * np.maximum(np.abs(z) + b, 0)
        ys.append(h @ state["linear.weight"].double().numpy().T
                  + state["linear.bias"].double().numpy())
    return np.stack(ys)


def model(mode):
    # The sine model: its state-dict keys read rnn.rnn.<OrthogonalRNN keys>
    return SineGenerator(mode, HIDDEN)


def test_key_layout():
    # the original's rnn.rnn.rnn_cell.<...> is this project's rnn.rnn.<...>
    assert set(model("dtriv").state_dict()) == {
        "rnn.rnn._extra_state", "rnn.rnn.parametrizations.recurrent_kernel.original",
        "rnn.rnn.parametrizations.recurrent_kernel.0.base", "rnn.rnn.input_kernel.weight",
        "rnn.rnn.nonlinearity.b", "linear.weight", "linear.bias"}


@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
@pytest.mark.parametrize("B", ["missing", "empty", "stale"])
@pytest.mark.parametrize("base", ["identity", "missing", "empty", "moved"])
def test_load_original(mode, B, base):
    gen = torch.Generator().manual_seed(1)
    A = torch.randn(HIDDEN, HIDDEN, generator=gen)
    if base == "moved":
        if mode == "cayley":
            pytest.skip("refused, see test_cayley_refuses_a_moved_base")
        base = random_orthogonal(HIDDEN, gen)
    elif base == "empty":
        base = torch.empty(0)
    state = original_state_dict(A, base, B)
    net = model(mode).double()
    assert str(net.load_state_dict(state)) == "<All keys matched successfully>"

    real_base = base if isinstance(base, torch.Tensor) and base.numel() else None
    expected_B = original_B(mode, A, real_base)
    np.testing.assert_allclose(net.rnn.rnn.recurrent_matrix().detach().numpy(), expected_B,
                               atol=1e-12, rtol=0)
    u = torch.linspace(0.2, 0.4, 3, dtype=torch.float64).expand(25, 3).unsqueeze(-1)
    with torch.no_grad():
        y, _ = net(u)
    np.testing.assert_allclose(y.numpy(), original_outputs(state, expected_B, u),
                               atol=1e-10, rtol=0)
    assert (net.rnn.rnn.steps, net.rnn.rnn.rebases) == (0, 0)


def test_load_original_float32_and_file():
    gen = torch.Generator().manual_seed(2)
    A, base = torch.randn(HIDDEN, HIDDEN, generator=gen), random_orthogonal(HIDDEN, gen)
    state = original_state_dict(A, base, "stale")
    buffer = io.BytesIO()
    torch.save(state, buffer)  # a model.pth of the original code
    buffer.seek(0)
    net = model("dtriv")
    net.load_state_dict(torch.load(buffer))
    np.testing.assert_allclose(net.rnn.rnn.recurrent_matrix().detach().numpy(),
                               original_B("dtriv", A, base), atol=1e-5, rtol=0)
    # and it trains on, rebasing every K steps
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    net.rnn.attach_optimizer(optimizer)
    for _ in range(net.rnn.rnn.K):
        optimizer.zero_grad()
        net(torch.ones(5, 2, 1))[0].square().sum().backward()
        optimizer.step()
    assert net.rnn.rnn.rebases == 1


def test_original_keys_leave_the_callers_dict_alone():
    state = original_state_dict(torch.randn(HIDDEN, HIDDEN))
    keys = list(state)
    model("exprnn").load_state_dict(state)
    assert list(state) == keys


def test_bare_cell_loads_original_keys():
    # the OrthogonalRNN itself, with no prefix: keys read rnn_cell.<...>
    state = {key[len("rnn.rnn."):]: value for key, value in original_state_dict(
        torch.randn(HIDDEN, HIDDEN)).items() if key.startswith(OLD)}
    cell = OrthogonalRNN(1, HIDDEN, "exprnn")
    cell.load_state_dict(state)
    assert torch.equal(cell.nonlinearity.b, state["rnn_cell.nonlinearity.b"])


def test_cayley_refuses_a_moved_base():
    state = original_state_dict(torch.randn(HIDDEN, HIDDEN),
                                random_orthogonal(HIDDEN, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="cayley.*base other than the identity"):
        model("cayley").load_state_dict(state)


@pytest.mark.parametrize("mode", ORTHOGONAL_TYPES)
def test_own_keys_round_trip(mode):
    torch.manual_seed(4)
    net = model(mode)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    net.rnn.attach_optimizer(optimizer)
    net.rnn.rnn.K = 2
    u = torch.rand(7, 2, 1)
    for _ in range(3):
        optimizer.zero_grad()
        net(u)[0].square().sum().backward()
        optimizer.step()
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    copy = model(mode)
    assert str(copy.load_state_dict(torch.load(buffer))) == "<All keys matched successfully>"
    saved, loaded = net.state_dict(), copy.state_dict()
    assert list(saved) == list(loaded)
    for name, value in saved.items():
        if name.endswith("_extra_state"):
            assert loaded[name] == value and value["steps"] == (3 if mode == "dtriv" else 0)
        else:
            assert torch.equal(loaded[name], value)
    with torch.no_grad():
        assert torch.equal(copy(u)[0], net(u)[0])


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s.update({OLD + "recurrent_kernel._A": torch.randn(5, 5)}),
     ValueError, r"recurrent_kernel\._A has shape \(5, 5\).*expects \(6, 6\)"),
    (lambda s: s.update({OLD + "recurrent_kernel.base": torch.randn(6, 3)}),
     ValueError, r"base has shape \(6, 3\)"),
    (lambda s: s.update({OLD + "input_kernel.weight": torch.randn(6, 2)}),
     ValueError, r"input_kernel\.weight has shape \(6, 2\)"),
    (lambda s: s.update({OLD + "nonlinearity.b": torch.randn(7)}),
     ValueError, r"nonlinearity\.b has shape \(7,\)"),
    (lambda s: s.update({OLD + "recurrent_kernel.junk": torch.zeros(1)}),
     RuntimeError, r"Unexpected key.*rnn_cell\.recurrent_kernel\.junk"),
    (lambda s: s.pop(OLD + "recurrent_kernel._A"),
     RuntimeError, r"Missing key.*parametrizations\.recurrent_kernel\.original"),
    (lambda s: s.update({"rnn.rnn.nonlinearity.b": torch.zeros(6)}),
     ValueError, r"both original expRNN keys"),
])
def test_bad_original_state_dicts(change, error, message):
    state = original_state_dict(torch.randn(HIDDEN, HIDDEN))
    change(state)
    with pytest.raises(error, match=message):
        model("dtriv").load_state_dict(state)


def test_bad_own_state_dict():
    state = model("exprnn").state_dict()
    state["rnn.rnn.parametrizations.recurrent_kernel.original"] = torch.randn(4, 4)
    with pytest.raises(RuntimeError, match="size mismatch"):
        model("exprnn").load_state_dict(state)
