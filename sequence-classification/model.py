"""Temporal-order classifier: a recurrent layer, a linear layer to the class
logits, and the loss and accuracy read off the last time step."""
import torch.nn.functional as F
from torch import nn

from attractors.rnn import RecurrentLayer


class SequenceClassifier(nn.Module):
    """Maps one-hot symbols ``(seq_len, batch, input_size)`` to class logits
    ``(seq_len, batch, n_classes)`` at every step; the class of a sequence is
    read from the last step. The recurrent layer is built before the
    read-out, as in the old code, so a seed gives the same starting weights."""

    def __init__(self, n_classes, input_size, rnn_type="LSTM", hidden_size=50, num_layers=1,
                 K=100, init="henaff"):
        super().__init__()
        self.n_classes = n_classes
        self.input_size = input_size
        self.rnn = RecurrentLayer(input_size, hidden_size, rnn_type, num_layers, K, init)
        self.linear = nn.Linear(hidden_size, n_classes)

    def forward(self, inp, state=None):
        hidden, state = self.rnn(inp, state)
        return self.linear(hidden), state


def loss_and_correct(logits, target):
    """Summed cross-entropy of the last step's logits and the number of
    sequences whose largest last-step logit is the right class.

    ``logits`` is ``(seq_len, batch, n_classes)``, ``target`` ``(batch,)``.
    Both results are 0-d tensors; divide by the number of sequences for the
    epoch's loss and accuracy.
    """
    last = logits[-1]
    loss = F.cross_entropy(last, target, reduction="sum")
    correct = (last.argmax(dim=1) == target).sum()
    return loss, correct
