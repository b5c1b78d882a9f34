import pytest
import torch

from attractors.rnn import (STABLE_HH_NORMS, STABLE_IH_FORGET_NORM, RecurrentLayer,
                            stabilize_lstm_)


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU", "RNN"])
def test_shapes_and_initial_state(rnn_type):
    layer = RecurrentLayer(3, 5, rnn_type, num_layers=2)
    state = layer.initial_state(4)
    out, last = layer(torch.randn(6, 4, 3), state)
    assert out.shape == (6, 4, 5)
    states = last if rnn_type == "LSTM" else (last,)
    assert all(s.shape == (2, 4, 5) for s in states)
    part = layer.select_state(last, slice(1, 3))
    assert all(s.shape == (2, 2, 5) for s in (part if rnn_type == "LSTM" else (part,)))


def test_initial_state_draws_h_before_c():
    layer = RecurrentLayer(1, 4, "LSTM")
    torch.manual_seed(0)
    h, c = layer.initial_state(3, fill=lambda *s, device: torch.randn(*s, device=device))
    torch.manual_seed(0)
    assert torch.equal(h, torch.randn(1, 3, 4)) and torch.equal(c, torch.randn(1, 3, 4))


def test_stabilize_gives_exact_column_norms():
    torch.manual_seed(0)
    layer = RecurrentLayer(3, 6, "LSTM", num_layers=2)
    before_ih = [layer.rnn.weight_ih_l0.detach().clone().chunk(4)[k] for k in (0, 2, 3)]
    layer.stabilize_()
    for l in range(2):
        w_hh = getattr(layer.rnn, f"weight_hh_l{l}").detach().double()
        for block, norm in zip(w_hh.chunk(4), STABLE_HH_NORMS):
            assert torch.allclose(block.abs().sum(0), torch.full((6,), norm, dtype=torch.float64), atol=1e-7)
        forget_in = getattr(layer.rnn, f"weight_ih_l{l}").detach().double().chunk(4)[1]
        assert torch.allclose(forget_in.abs().sum(0), torch.full_like(forget_in[0], STABLE_IH_FORGET_NORM), atol=1e-7)
    # the other input blocks are left alone, and the projection keeps column directions
    after_ih = layer.rnn.weight_ih_l0.detach().chunk(4)
    for before, k in zip(before_ih, (0, 2, 3)):
        assert torch.equal(before, after_ih[k])


def test_stabilize_is_a_projection_and_keeps_signs():
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(2, 4)
    signs = lstm.weight_hh_l0.detach().sign()
    stabilize_lstm_(lstm)
    once = lstm.weight_hh_l0.detach().clone()
    stabilize_lstm_(lstm)
    assert torch.allclose(once, lstm.weight_hh_l0, atol=1e-7)
    assert torch.equal(signs, once.sign())


def test_stabilize_refuses_other_types():
    with pytest.raises(ValueError):
        RecurrentLayer(1, 3, "GRU").stabilize_()


def test_unknown_type_is_refused():
    with pytest.raises(ValueError, match="unknown rnn_type"):
        RecurrentLayer(1, 3, "TRANSFORMER")
