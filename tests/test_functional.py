import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map

from attractors import functional as F
from attractors.rnn import RecurrentLayer

CASES = [("LSTM", 1), ("LSTM", 2), ("GRU", 1), ("GRU", 3), ("RNN", 1), ("RNN", 2),
         ("exprnn", 1), ("dtriv", 1), ("cayley", 1)]


def random_state(layer, batch):
    return layer.initial_state(
        batch, fill=lambda *shape, device: torch.randn(*shape, device=device, dtype=torch.float64))


def make_layer(rnn_type, num_layers, seed=0):
    torch.manual_seed(seed)
    return RecurrentLayer(3, 5, rnn_type, num_layers).double()


@pytest.mark.parametrize("rnn_type,num_layers", CASES)
def test_step_equals_module(rnn_type, num_layers):
    layer = make_layer(rnn_type, num_layers)
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    state = random_state(layer, 4)
    with torch.no_grad():
        expected, expected_last = layer(x, state)
    outputs, last = F.run(rnn_type, F.params_of(layer), x, state)
    assert F.rnn_type_of(layer) == rnn_type
    assert torch.allclose(outputs, expected, atol=1e-12)
    for a, b in zip(tree_leaves(last), tree_leaves(expected_last)):
        assert torch.allclose(a, b, atol=1e-12)  # every layer's h (and c)


def test_bare_modules_and_lstm_without_bias():
    lstm = nn.LSTM(2, 3, bias=False).double()
    x = torch.randn(5, 2, 2, dtype=torch.float64)
    h0 = torch.randn(1, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        expected, _ = lstm(x, (h0, h0))
    outputs, _ = F.run("LSTM", F.params_of(lstm), x, (h0, h0))
    assert set(F.params_of(lstm)) == {"weight_ih_l0", "weight_hh_l0"}
    assert torch.allclose(outputs, expected, atol=1e-12)


@pytest.mark.parametrize("module", [nn.LSTM(1, 2, proj_size=1),
                                    nn.GRU(1, 2, bidirectional=True),
                                    nn.Linear(1, 2)])
def test_unsupported_modules_are_refused(module):
    with pytest.raises((ValueError, TypeError)):
        F.params_of(module)


USER_MODULES = [("RNN_RELU", lambda: nn.RNN(3, 5, 2, nonlinearity="relu")),
                ("LSTMCell", lambda: nn.LSTMCell(3, 5)), ("GRUCell", lambda: nn.GRUCell(3, 5)),
                ("RNNCell", lambda: nn.RNNCell(3, 5)),
                ("RNNCell_RELU", lambda: nn.RNNCell(3, 5, nonlinearity="relu"))]


@pytest.mark.parametrize("rnn_type,make", USER_MODULES)
def test_cells_and_relu_rnn_step_equals_module(rnn_type, make):
    torch.manual_seed(0)
    module = make().double()
    assert F.rnn_type_of(module) == rnn_type
    layers = getattr(module, "num_layers", 1)
    state = F.initial_state(rnn_type, layers, 5, (4,),
                            lambda *shape, device: torch.randn(*shape, dtype=torch.float64))
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    if "Cell" in rnn_type:  # the module steps one input at a time
        expected, s = [], state
        with torch.no_grad():
            for xt in x:
                s = module(xt, s)
                expected.append(s[0] if isinstance(s, tuple) else s)
        expected, expected_last = torch.stack(expected), s
    else:
        with torch.no_grad():
            expected, expected_last = module(x, state)
    outputs, last = F.run(rnn_type, F.params_of(module), x, state)
    assert torch.allclose(outputs, expected, atol=1e-12)
    for a, b in zip(tree_leaves(last), tree_leaves(expected_last)):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("rnn_type,num_layers", [("LSTM", 2), ("GRU", 1), ("RNN", 1),
                                                 ("exprnn", 1), ("cayley", 1)])
def test_stack_equals_separate_runs(rnn_type, num_layers):
    layers = [make_layer(rnn_type, num_layers, seed) for seed in range(3)]
    x = torch.randn(5, 2, 3, dtype=torch.float64)           # the same input for every model
    states = [random_state(layer, 2) for layer in layers]
    stacked_state = tree_map(
        lambda *s: torch.stack(s, dim=-3), *states)          # (layers, P, B, H) or (P, B, H)
    out, _ = F.run(rnn_type, F.stack_params(layers), x, stacked_state)
    assert out.shape == (5, 3, 2, 5)
    for k, (layer, state) in enumerate(zip(layers, states)):
        single, _ = F.run(rnn_type, F.params_of(layer), x, state)
        assert torch.allclose(out[:, k], single, atol=1e-12)


def test_vmap_over_the_step_equals_the_batched_stack():
    layers = [make_layer("LSTM", 2, seed) for seed in range(4)]
    params = F.stack_params(layers)
    x = torch.randn(4, 3, 3, dtype=torch.float64)
    h = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    c = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    direct = F.lstm_step(params, x, (h, c))
    mapped = torch.vmap(F.lstm_step, in_dims=(0, 0, 1), out_dims=1)(params, x, (h, c))
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(direct, mapped))


def test_orthogonal_step_params_from_a_stack_of_A():
    layer = make_layer("dtriv", 1)
    A = layer.rnn.parametrizations.recurrent_kernel.original.detach()
    tensors = {name: torch.stack([p.detach(), 2 * p.detach()])
               for name, p in layer.rnn.named_parameters()}
    params = F.step_params(layer, tensors)
    B1 = layer.rnn.recurrent_matrix().detach()
    assert torch.allclose(params["recurrent_matrix"][0], B1, atol=1e-12)
    with torch.no_grad():
        layer.rnn.parametrizations.recurrent_kernel.original.copy_(2 * A)
    assert torch.allclose(params["recurrent_matrix"][1], layer.rnn.recurrent_matrix(), atol=1e-12)


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU", "exprnn"])
def test_jacrev_and_jvp_through_the_step(rnn_type):
    layer = make_layer(rnn_type, 1)
    params = F.params_of(layer)
    step = F.step_function(rnn_type)
    x = torch.randn(3, dtype=torch.float64)                  # no batch dims at all
    state = F.initial_state(rnn_type, 1, 5, (), 0.3, torch.float64)

    def flat(s):   # the state as one vector, for comparison with autograd
        return torch.cat([t.reshape(-1) for t in tree_leaves(s)])

    J = torch.func.jacrev(lambda s: flat(step(params, x, s)))(state)
    vec = flat(state)

    def as_state(v):
        if rnn_type == "LSTM":
            return v[:5].reshape(1, 5), v[5:].reshape(1, 5)
        return v.reshape(state.shape)
    expected = torch.autograd.functional.jacobian(lambda v: flat(step(params, x, as_state(v))), vec)
    J = torch.cat([j.reshape(len(vec), -1) for j in tree_leaves(J)], dim=1)
    assert torch.allclose(J, expected, atol=1e-12)
    tangent = tree_map(torch.ones_like, state)
    _, directional = torch.func.jvp(lambda s: flat(step(params, x, s)), (state,), (tangent,))
    assert torch.allclose(directional, expected.sum(dim=1), atol=1e-12)
    # and with respect to the weights
    grads = torch.func.jacrev(lambda p: flat(step(p, x, state)).sum())(params)
    assert grads.keys() == params.keys()
