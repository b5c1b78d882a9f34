"""The temporal-order task, as the analysis tools see it (see attractors.tasks)."""
import torch
import torch.nn.functional as F

from attractors.run_files import RunFolderError
from attractors.smoothness import TaskLoss
from attractors.tasks import Task, import_sibling

data = import_sibling(__file__, "data")
model = import_sibling(__file__, "model")


class TemporalOrderLoss(TaskLoss):
    """Summed cross-entropy of the last step over the training sequences,
    divided by their number (the ``train loss`` of ``history.csv``). For
    another length the windows keep their relative positions. One model at
    a time."""

    def make_data(self, seq_len):
        c = self.config
        try:
            windows = data.scaled_windows(c["position_symbols_start"],
                                          c["position_symbols_len"], seq_len / c["seq_len"])
            sequences = data.data_generator(c["n_symbols"], c["n_distractors"], windows,
                                            seq_len, c["n_sequences"], c["seed"], self.device)
        except ValueError as e:
            raise RunFolderError(f"no temporal-order data of length {seq_len}: {e}") from None
        return sequences["u"].to(self.dtype), sequences["y"]

    @torch.no_grad()
    def loss(self, seq_len):
        u, y = self.data(seq_len)
        logits, _ = self.model(u)
        return float(F.cross_entropy(logits[-1], y, reduction="sum")) / y.numel()


class TemporalOrderTask(Task):
    name = "temporal-order"
    model_class = model.SequenceClassifier

    def constant_inputs(self, net, config, options):
        """Each one-hot symbol held constant, as in the orbit diagram."""
        n = config["n_symbols"] + config["n_distractors"]
        labels = [f"symbol {k}" if k < config["n_symbols"]
                  else f"distractor {k - config['n_symbols']}" for k in range(n)]
        some = next(net.parameters())
        return labels, torch.eye(n, dtype=some.dtype, device=some.device)

    def smoothness_loss(self, net, config, options):
        return TemporalOrderLoss(net, config)


TASK = TemporalOrderTask()
