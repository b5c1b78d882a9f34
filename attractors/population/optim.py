"""Gradient clipping and Adam for each copy of a population, on the
stacked tensors.

Each copy's update is the one its own ``torch.optim.Adam`` would make: the
single-tensor algorithm PyTorch runs on a CPU, operation for operation (its
bias corrections in double precision, then rounded), with the copy's own
step count (a copy whose batch is skipped does not count it, as a single
run does not: PyTorch keeps one count per tensor, so a stacked tensor needs
one per copy), its own learning rate (its scheduler's) and the clipping of
its own gradient norm. Given the same gradients, the update is the single
run's bit for bit; a handful of operations per parameter tensor update
every copy at once.
"""
import torch

from ..options import UsageError


def clip_per_copy(params, max_norm):
    """Scale each copy's gradient to norm at most ``max_norm``, as
    ``clip_grad_norm_`` does for one model; returns the copies' norms
    before clipping ``(K,)``."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])
    total = torch.linalg.vector_norm(norms, dim=0)
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *(1,) * (g.dim() - 1)))
    return total


class StackedAdam:
    """Adam for every copy, from the copies' own optimisers (which must be
    ``torch.optim.Adam`` over their model's parameters, one group, without
    weight decay, amsgrad or maximize). :meth:`step` updates the copies
    ``population.stepping`` marks."""

    def __init__(self, population, optimizer):
        group = optimizer.param_groups[0]
        if (type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1
                or group["weight_decay"] or group["amsgrad"] or group["maximize"]
                or group.get("capturable") or group.get("differentiable")):
            raise UsageError("--population trains with plain Adam only (one parameter group, "
                             "no weight decay, amsgrad or maximize)")
        self.population = population
        (self.beta1, self.beta2), self.eps = group["betas"], group["eps"]

    def stack(self, optimizers, params_per_copy):
        """Moments and step counts from the copies' optimisers (one that
        never stepped has no state: zeros, step 0)."""
        names = list(self.population.params)
        self.steps, states = [], []
        for optimizer, params in zip(optimizers, params_per_copy):
            params = list(params)
            if [id(p) for p in optimizer.param_groups[0]["params"]] != [id(p) for p in params]:
                raise UsageError("--population needs each copy's Adam over its model's "
                                 "parameters, in their order")
            state = [optimizer.state.get(p, {}) for p in params]
            self.steps.append(int(state[0]["step"]) if state[0] else 0)
            states.append(state)
        self.exp_avg, self.exp_avg_sq = {}, {}
        for j, name in enumerate(names):
            zeros = torch.zeros_like(self.population.params[name][0])
            for key, into in (("exp_avg", self.exp_avg), ("exp_avg_sq", self.exp_avg_sq)):
                into[name] = torch.stack([s[j][key] if s[j] else zeros for s in states])

    def unstack(self, k, optimizer, params):
        """Write copy ``k``'s moments and step count into its optimiser."""
        if not self.steps[k]:
            return
        step = torch.tensor(float(self.steps[k]), dtype=torch.float32)
        for name, p in zip(self.population.params, params):
            optimizer.state[p] = {"step": step.clone(),
                                  "exp_avg": self.exp_avg[name][k].clone(),
                                  "exp_avg_sq": self.exp_avg_sq[name][k].clone()}

    @torch.no_grad()
    def step(self):
        pop = self.population
        chosen = pop.stepping.nonzero().flatten().tolist()
        if not chosen:
            return
        for k in chosen:
            self.steps[k] += 1
            # what a copy's own step would mark, so that its scheduler
            # does not warn of being stepped before its optimiser
            pop.runs[k].optimizer._opt_called = True
        # As torch.optim.Adam: the step size and bias correction in double
        # precision, rounded to the parameters' type where they meet them.
        lrs = [pop.runs[k].optimizer.param_groups[0]["lr"] for k in chosen]
        some = next(iter(pop.params.values()))
        like = {"dtype": some.dtype, "device": some.device}
        neg_step_size = torch.tensor([-lr / (1 - self.beta1 ** self.steps[k])
                                      for lr, k in zip(lrs, chosen)], **like)
        bias2_sqrt = torch.tensor([(1 - self.beta2 ** self.steps[k]) ** 0.5 for k in chosen],
                                  **like)
        every = len(chosen) == len(self.steps)
        index = torch.tensor(chosen, device=some.device)
        for name, p in pop.params.items():
            tensors = (p, p.grad, self.exp_avg[name], self.exp_avg_sq[name])
            if every:
                self._update(*tensors, neg_step_size, bias2_sqrt)
            else:  # the chosen copies' slices, updated and put back
                part = [t.index_select(0, index) for t in tensors]
                self._update(*part, neg_step_size, bias2_sqrt)
                for t, new in zip(tensors[:1] + tensors[2:], part[:1] + part[2:]):
                    t.index_copy_(0, index, new)
        pop.after_step(chosen)

    def _update(self, p, grad, exp_avg, exp_avg_sq, neg_step_size, bias2_sqrt):
        per_copy = (-1,) + (1,) * (p.dim() - 1)
        exp_avg.lerp_(grad, 1 - self.beta1)
        exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        denom = (exp_avg_sq.sqrt() / bias2_sqrt.view(per_copy)).add_(self.eps)
        p.addcdiv_(exp_avg * neg_step_size.view(per_copy), denom)
