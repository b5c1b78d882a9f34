"""Sine generator: a recurrent layer followed by a linear read-out."""
from torch import nn

from attractors.rnn import RecurrentLayer


class SineGenerator(nn.Module):
    """Maps a constant frequency input ``(seq_len, batch, 1)`` to a wave
    ``(seq_len, batch, 1)``. The recurrent layer is built before the read-out,
    as in the old code, so a seed gives the same starting weights."""

    def __init__(self, rnn_type="LSTM", hidden_size=200, num_layers=1, K=100, init="henaff"):
        super().__init__()
        self.rnn = RecurrentLayer(1, hidden_size, rnn_type, num_layers, K, init)
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, inp, state=None):
        hidden, state = self.rnn(inp, state)
        return self.linear(hidden), state
