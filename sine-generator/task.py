"""The sine-generator task, as the analysis tools see it (see attractors.tasks)."""
import torch

from attractors.smoothness import TaskLoss, stacked_outputs
from attractors.tasks import Task, import_sibling

data = import_sibling(__file__, "data")
model = import_sibling(__file__, "model")


class SineLoss(TaskLoss):
    """The training loss: summed squared error of the model started from
    zeros, over the run's frequencies, divided by ``seq_len * n_sequences``
    (what ``history.csv`` reports). Batched over parameter sets."""
    batched = True

    def make_data(self, seq_len):
        c = self.config
        waves = data.data_generator(c["min_freq"], c["max_freq"], c["n_sequences"], seq_len,
                                    self.device)
        return waves["u"].to(self.dtype), waves["y"].to(self.dtype)

    @torch.no_grad()
    def loss(self, seq_len):
        u, y = self.data(seq_len)
        prediction, _ = self.model(u)
        return float(((prediction - y) ** 2).sum()) / y.numel()

    def batched_loss(self, tensors, seq_len):
        u, y = self.data(seq_len)
        weight, bias = tensors["linear.weight"], tensors["linear.bias"]
        total = 0.0
        # Accumulate the error step by step: the hidden states of all models
        # and steps would not fit in memory at long lengths. (Not in place, so
        # that forward-mode AD can run through it, see curvature_at_zero.)
        hidden = stacked_outputs(self.model.rnn, tensors, "rnn.", u.unbind(0))
        for h, target in zip(hidden, y.unbind(0)):                  # h: (P, N, H)
            out = torch.matmul(h, weight.mT) + bias.unsqueeze(-2)   # (P, N, 1)
            total = total + ((out - target) ** 2).sum(dim=(-2, -1))
        return total / y.numel()


class SineTask(Task):
    name = "sine-generator"
    model_class = model.SineGenerator

    def constant_inputs(self, net, config, options):
        """The orbit diagram's frequencies."""
        some = next(net.parameters())
        inputs = data.orbit_inputs(some.device).to(some.dtype)
        return [f"w={w:.4f}" for w in inputs[:, 0].tolist()], inputs

    def smoothness_loss(self, net, config, options):
        return SineLoss(net, config)


TASK = SineTask()
