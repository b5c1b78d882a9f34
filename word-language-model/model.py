"""Word-level language model: embedding, recurrent layer, linear decoder.

Importing this module builds nothing and runs nothing.
"""
import warnings

import torch
from torch import nn
import torch.nn.functional as F

from attractors.orbit import OrbitSampler
from attractors.rnn import RecurrentLayer

# Words whose logits are recorded in the orbit diagram, in this order, after
# the mean and the two random projections. The old code hard-coded their ids
# in WikiText-2; here they are looked up by name.
ORBIT_WORDS = ("<eos>", "of", "the", ",", ".", "to", "is", "by", "secret", "Japan",
               "Valkyria", "<unk>")
N_RANDOM_PROJECTIONS = 2


class WordLanguageModel(nn.Module):
    """``(seq_len, batch)`` word ids -> ``(seq_len, batch, n_words)`` logits.

    The layers are built in the old code's order (embedding, recurrent layer,
    decoder) under the old attribute names (``encoder``, ``rnn``, ``decoder``),
    so a seed gives the same starting weights and old weights load.
    """

    def __init__(self, n_words, embed_size=800, hidden_size=800, rnn_type="LSTM",
                 num_layers=1, dropout=0.5, tied_weights=False, K=100, init="henaff"):
        super().__init__()
        if tied_weights and hidden_size != embed_size:
            raise ValueError(f"tied weights need hidden_size == embed_size "
                             f"(got {hidden_size} and {embed_size})")
        self.n_words = n_words
        self.encoder = nn.Embedding(n_words, embed_size)
        self.drop = nn.Dropout(dropout)
        self.rnn = RecurrentLayer(embed_size, hidden_size, rnn_type, num_layers, K, init)
        self.decoder = nn.Linear(hidden_size, n_words)
        if tied_weights:
            # One tensor for both (Press & Wolf 2017; Inan et al. 2017). The
            # decoder was still built first, so the random stream is unchanged.
            self.decoder.weight = self.encoder.weight

    def forward(self, inp, state=None):
        hidden, state = self.rnn(self.drop(self.encoder(inp)), state)
        return self.decoder(self.drop(hidden)), state


def cross_entropy_sum(logits, target):
    """Summed cross-entropy of ``logits`` ``(..., n_words)`` against ``target`` ``(...)``."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1),
                           reduction="sum")


# Rows of the gradient computed at once by the backward pass of
# ``cross_entropy_sum_``: a block of this many elements is its only scratch.
LOSS_BLOCK_ELEMENTS = 2 ** 20
_SUM = 2            # torch's code for reduction="sum" in the aten loss functions
_IGNORE_INDEX = -100


class _CrossEntropySumInPlace(torch.autograd.Function):
    """``F.cross_entropy(logits, target, reduction="sum")`` for 2-D logits,
    with the very kernels it calls (log_softmax, nll_loss and their
    backward functions), hence bit for bit the same loss and gradient, but
    in the memory of the logits alone: the log-probabilities are written
    over the logits, and the backward pass writes the gradient over the
    log-probabilities, a block of rows at a time (rows are independent).

    Nothing may read the logits afterwards; the layer that produced them
    (a linear decoder) does not need them for its own backward pass.
    """

    @staticmethod
    def forward(ctx, logits, target):
        log_probs = torch._log_softmax(logits, 1, False, out=logits)
        loss, total_weight = torch.ops.aten.nll_loss_forward(log_probs, target, None, _SUM,
                                                             _IGNORE_INDEX)
        ctx.save_for_backward(log_probs, target, total_weight)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        log_probs, target, total_weight = ctx.saved_tensors
        rows = max(1, LOSS_BLOCK_ELEMENTS // max(1, log_probs.size(1)))
        for start in range(0, log_probs.size(0), rows):
            block = log_probs[start:start + rows]
            grad_block = torch.ops.aten.nll_loss_backward(
                grad_loss, block, target[start:start + rows], None, _SUM, _IGNORE_INDEX,
                total_weight)
            torch._log_softmax_backward_data(grad_block, block, 1, block.dtype, out=block)
        return log_probs, None


def cross_entropy_sum_(logits, target):
    """``cross_entropy_sum`` (same value, same gradient) that overwrites
    ``logits`` with the log-probabilities instead of allocating more tensors
    of the logits' size: for the training and evaluation loops, where a
    window's logits (``seq_len x batch x n_words``) are the largest tensors
    by far. ``logits`` must not be used afterwards."""
    return _CrossEntropySumInPlace.apply(logits.reshape(-1, logits.size(-1)),
                                         target.reshape(-1))


def detach_state(state):
    """The state cut from the graph of the window that produced it."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class FeedbackModel(nn.Module):
    """Runs ``model`` on its own predictions: the first input is ``inp[0]``,
    every later input the most likely word of the step before. Called like the
    model, for ``inp.shape[0]`` steps."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inp, state=None):
        word = inp[:1]
        outputs = []
        for _ in range(inp.shape[0]):
            out, state = self.model(word, state)
            outputs.append(out)
            word = out.argmax(dim=-1)
        return torch.cat(outputs, dim=0), state


class OrbitProjection:
    """Maps logits ``(..., n_words)`` to the recorded outputs: their mean over
    the vocabulary, ``N_RANDOM_PROJECTIONS`` fixed random averages (weights
    uniform in (0, 2 / n_words)), then the logits of ``ORBIT_WORDS`` found in
    ``dictionary`` (15 values when all are there; a missing word is skipped
    with a warning). ``labels`` names the outputs in order."""

    def __init__(self, dictionary, device=None):
        n_words = len(dictionary)
        # The old code built each projection as an nn.Linear (whose default
        # initialisation draws from the CPU stream) and then overwrote its
        # weight. Draw the same amounts, in the same order, so that the orbit's
        # initial states, drawn next, match runs of the old code.
        torch.empty(1, n_words).uniform_()
        torch.empty(N_RANDOM_PROJECTIONS, n_words).uniform_()
        random = torch.empty(N_RANDOM_PROJECTIONS, n_words, device=device)
        random.uniform_(0, 2 / n_words)
        torch.empty(len(ORBIT_WORDS), n_words).uniform_()

        missing = [w for w in ORBIT_WORDS if w not in dictionary]
        if missing:
            warnings.warn(f"orbit projections: {', '.join(missing)} not in the vocabulary, "
                          f"skipped; {3 + len(ORBIT_WORDS) - len(missing)} outputs per step "
                          "are recorded instead of 15", RuntimeWarning, stacklevel=2)
        words = [w for w in ORBIT_WORDS if w in dictionary]
        self.word_ids = torch.tensor([dictionary.word2idx[w] for w in words], dtype=torch.long,
                                     device=device)
        self.mean = torch.full((1, n_words), 1 / n_words, device=device)
        self.random = random
        self.labels = (["mean"] + [f"random {k + 1}" for k in range(N_RANDOM_PROJECTIONS)]
                       + [f"logit '{w}'" for w in words])

    def __len__(self):
        return len(self.labels)

    def __call__(self, logits):
        return torch.cat([logits @ self.mean.t(), logits @ self.random.t(),
                          logits.index_select(-1, self.word_ids)], dim=-1)


def orbit_inputs(n_words, n_inputs=2, device=None):
    """``n_inputs`` word ids drawn at random from the vocabulary, shape ``(n_inputs,)``."""
    return torch.randint(n_words, (n_inputs,), dtype=torch.long, device=device)


# Largest orbit logits tensor (seq_len_orbit x trajectories x n_words) computed
# at once, in elements; trajectories are run in as many chunks as needed.
ORBIT_LOGITS_BUDGET = 2 ** 26


def make_orbit_sampler(model, dictionary, config, device):
    """Two random word ids as constant inputs, the 15 projections of the
    logits and, with ``orbit_use_feedback``, the model fed its own argmax;
    built in the old code's order (inputs, projections, initial states)."""
    n_words = len(dictionary)
    const_inputs = orbit_inputs(n_words, device=device)
    projection = OrbitProjection(dictionary, device)
    feedback = FeedbackModel(model) if config["orbit_use_feedback"] else None
    max_batch = max(1, ORBIT_LOGITS_BUDGET // (config["seq_len_orbit"] * n_words))
    sampler = OrbitSampler(model, const_inputs, config["n_sequences_orbit"],
                           config["seq_len_orbit"], config["burnout_orbit"],
                           config["std_orbit"], projection=projection,
                           feedback_model=feedback, max_batch=max_batch)
    sampler.labels = projection.labels + (
        [f"feedback {label}" for label in projection.labels] if feedback else [])
    return sampler
