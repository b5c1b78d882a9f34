"""The language model's loss on held-out text: windows of a batchified
stream (WikiText-2) or the last word of each passage (LAMBADA)."""
from collections import defaultdict

import torch

from attractors.tasks import import_sibling

data = import_sibling(__file__, "data")
model_py = import_sibling(__file__, "model")


@torch.no_grad()
def evaluate(model, source, seq_len, between=None):
    """Mean cross-entropy per token over a batchified ``source``, the state
    carried across windows as in training. ``between()`` is called before
    each window (the trainer's stop check)."""
    model.eval()
    state = model.rnn.initial_state(source.size(1), source.device)
    total = torch.zeros((), device=source.device)
    for inp, target in data.iter_batches(source, seq_len):
        if between is not None:
            between()
        logits, state = model(inp, state)
        total += model_py.cross_entropy_sum_(logits, target)
        del logits    # else two windows' logits, the largest tensors, coexist
    return total / ((source.size(0) - 1) * source.size(1))


@torch.no_grad()
def evaluate_passages(model, passages, batch_size, device, between=None):
    """Mean cross-entropy of the last word of each LAMBADA passage, each
    passage read from a zero state. Passages of equal length are stacked as
    columns of one batch, which gives the same numbers as one at a time.
    ``between()`` is called before each batch (the trainer's stop check)."""
    model.eval()
    by_length = defaultdict(list)
    for passage in passages:
        by_length[len(passage)].append(passage)
    total = torch.zeros((), device=device)
    for group in by_length.values():
        for start in range(0, len(group), batch_size):
            if between is not None:
                between()
            examples = [data.lambada_example(p) for p in group[start:start + batch_size]]
            inp = torch.cat([i for i, _ in examples], dim=1).to(device)
            target = torch.cat([t for _, t in examples]).to(device)
            logits, _ = model(inp)
            total += model_py.cross_entropy_sum(logits[-1], target)
    return total / len(passages)
