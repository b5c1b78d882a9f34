"""K copies of a run as stacked tensors: every parameter, buffer and Adam
moment of the copies' models becomes one tensor with a leading copy
dimension, and the copies run as one batched computation.

The copies themselves stay: each copy's model, optimiser, scheduler and
orbit recorder, made by the task's own ``build`` with the copy's seed,
exactly as a single run makes them. They hold the state that is written to
the copy's folder; :meth:`Population.sync` copies the stacked values into
them before it is, and :meth:`Population.stack` takes them back (after a
resume restored them).
"""
import copy
import types

import torch
from torch.func import vmap

from expRNN.cell import PROJECT_EVERY
from expRNN.orthogonal import project

from .. import functional
from ..options import UsageError
from ..rnn import RecurrentLayer, stabilize_lstm_
from ..run_files import capture_rng_state
from .lstm import lstm
from .optim import StackedAdam

BASE = "rnn.rnn.parametrizations.recurrent_kernel.0.base"      # dtriv's and exprnn's base
ANGLES = "rnn.rnn.parametrizations.recurrent_kernel.original"  # their unconstrained A


class Population:
    """K copies of a run, seeds ``seeds``, built by ``build(config, device)``
    (the task's function that makes one run: data, model, optimiser,
    scheduler, orbit recorder, drawing from torch's generator seeded with
    ``config["seed"]``) and trained as one batched computation.

    The training loop sees the same names as with one run: ``model``
    (called on inputs with a leading copy dimension, returns outputs with
    one), ``optimizer`` (``step``), ``orbit`` (``sample``), ``data`` (each
    copy's data stacked, a copy dimension first) and :meth:`each`.
    """

    def __init__(self, build, config, seeds, device):
        self.seeds, self.config = list(seeds), config
        self.runs, self.rng = [], []
        for seed in self.seeds:
            self.runs.append(build({**config, "seed": seed}, device))
            self.rng.append(capture_rng_state())  # the copy's random state from here on
        first = self.runs[0]
        self.layer = _recurrent_layer(first.model)
        self.rnn_type = self.layer.rnn_type
        # step_params of the stacked tensors goes through this layer; an
        # orthogonal cell's base is the stacked one (each copy's own).
        self.template = copy.deepcopy(self.layer)
        self.model = StackedModel(self)
        self.optimizer = StackedAdam(self, first.optimizer)
        self.orbit = StackedOrbit(self) if first.orbit is not None else None
        self.scheduler = None  # each copy's own, stepped by its trainer
        self.data = stack_data([run.data for run in self.runs])
        self.active = torch.ones(len(self.seeds), dtype=torch.bool)   # copies still training
        self.stepping = self.active.clone()   # copies whose batch updates them
        self.stack()
        _check_forward(self)

    def __len__(self):
        return len(self.seeds)

    @staticmethod
    def each(fn):
        """``fn`` (a loss of one copy's outputs and targets) for every copy
        at once: its arguments and results get a leading copy dimension."""
        return vmap(fn)

    def trainer(self, system, config, experiment_name, model_kwargs, **options):
        from .trainer import PopulationTrainer
        return PopulationTrainer(system, self, config, experiment_name, model_kwargs, **options)

    # -- stacked tensors and the copies --------------------------------------
    def stack(self):
        """The stacked tensors from the copies' models and optimisers."""
        models = [run.model for run in self.runs]
        with torch.no_grad():
            named = [dict(m.named_parameters()) for m in models]
            self.params = {name: torch.stack([n[name].detach() for n in named]).requires_grad_()
                           for name in named[0]}
            buffers = [dict(m.named_buffers()) for m in models]
            self.buffers = {name: torch.stack([b[name] for b in buffers]) for name in buffers[0]}
        if BASE in self.buffers:
            self.template.rnn.parametrizations.recurrent_kernel[0].base = self.buffers[BASE]
        cells = [_recurrent_layer(m).rnn for m in models]
        self.rebase_counts = [(cell.steps, cell.rebases) if self.rnn_type == "dtriv" else None
                              for cell in cells]
        self.optimizer.stack([run.optimizer for run in self.runs], [m.parameters() for m in models])

    @torch.no_grad()
    def sync(self, k):
        """Copy the stacked values of copy ``k`` into its model and optimiser."""
        model = self.runs[k].model
        for name, p in model.named_parameters():
            p.copy_(self.params[name][k])
        for name, b in model.named_buffers():
            b.copy_(self.buffers[name][k])
        if self.rnn_type == "dtriv":
            cell = _recurrent_layer(model).rnn
            cell.steps, cell.rebases = self.rebase_counts[k]
        self.optimizer.unstack(k, self.runs[k].optimizer, list(model.parameters()))

    def step_params(self):
        """The recurrent layer's step parameters of every copy (stacked)."""
        return functional.step_params(self.template, self.params, prefix="rnn.rnn.")

    # -- after an optimiser step ---------------------------------------------
    @torch.no_grad()
    def stabilize_(self):
        """The stable-LSTM projection of the copies that stepped."""
        if self.rnn_type != "LSTM":
            raise ValueError("only an LSTM can be stabilised")
        names = [n for n in self.params if n.startswith("rnn.rnn.weight_")]
        chosen = self.stepping.nonzero().flatten()
        every = len(chosen) == len(self)
        chosen = chosen.to(self.params[names[0]].device)
        weights = {n[len("rnn.rnn."):]: self.params[n] if every else self.params[n][chosen]
                   for n in names}
        stabilize_lstm_(types.SimpleNamespace(num_layers=self.layer.num_layers, **weights))
        if not every:
            for n in names:
                self.params[n][chosen] = weights[n[len("rnn.rnn."):]]

    @torch.no_grad()
    def after_step(self, stepped):
        """dtriv's change of base every K optimiser steps of a copy (what
        its cell does after each step of its own optimiser)."""
        if self.rnn_type != "dtriv":
            return
        due = []
        for k in stepped:
            steps, rebases = self.rebase_counts[k]
            self.rebase_counts[k] = (steps + 1, rebases)
            if (steps + 1) % self.config["K"] == 0:
                due.append(k)
        if not due:
            return
        orthogonal = self.template.rnn.parametrizations.recurrent_kernel[0]
        recurrent = orthogonal(self.params[ANGLES])   # base @ expm(skew(A)), every copy
        for k in due:
            self.buffers[BASE][k] = recurrent[k]
            self.params[ANGLES][k] = 0
            steps, rebases = self.rebase_counts[k]
            self.rebase_counts[k] = (steps, rebases + 1)
            if (rebases + 1) % PROJECT_EVERY == 0:
                self.buffers[BASE][k] = project(self.buffers[BASE][k])


class StackedModel:
    """The copies' models as one: a recurrent layer and a linear read-out,
    run for every copy at once. ``model(u, state)`` takes ``u`` ``(K, T, B,
    I)`` and a state in the stacked layout of :mod:`attractors.functional`
    (None: zeros) and returns ``(outputs (K, T, B, out), last state)``."""

    def __init__(self, population):
        self.population = population
        self.rnn = _StackedLayer(population)
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, u, state=None):
        pop = self.population
        hidden, state = self.rnn(u, state)
        weight, bias = pop.params["linear.weight"], pop.params["linear.bias"]
        K, T, B, H = hidden.shape
        out = torch.baddbmm(bias.unsqueeze(1), hidden.reshape(K, T * B, H), weight.mT)
        return out.view(K, T, B, -1), state


class _StackedLayer:
    """The recurrent layer of every copy: the LSTM's own sequence function
    (:mod:`.lstm`), the other cells step by step through
    :mod:`attractors.functional` (autograd records each step)."""

    def __init__(self, population):
        self.population = population

    def __call__(self, u, state=None):
        pop = self.population
        params = pop.step_params()
        if pop.rnn_type == "LSTM":
            return lstm(params, u, state)
        layer, some = pop.layer, pop.params["linear.weight"]
        if state is None:
            state = functional.initial_state(pop.rnn_type, layer.num_layers, layer.hidden_size,
                                             (u.shape[0], u.shape[2]), dtype=some.dtype,
                                             device=some.device)
        step, outputs = functional.step_function(pop.rnn_type), []
        for x in u.unbind(1):
            state = step(params, x, state)
            outputs.append(functional.output_of(pop.rnn_type, state))
        return torch.stack(outputs, 1), state

    def stabilize_(self):
        """Project the LSTM copies that stepped onto the stable set."""
        self.population.stabilize_()


class StackedOrbit:
    """The copies' orbit recorders, sampled together: every copy's
    trajectories from its own initial states in one batched run, each
    copy's sample added to its recorder (and so to its samples file)."""

    def __init__(self, population):
        self.population = population
        recorders = [run.orbit for run in population.runs]
        first = recorders[0]
        if first.projection is not None or first.feedback_model is not None \
                or first.max_batch is not None or first.kind != "sequence" \
                or getattr(first, "batch_first", False):
            raise UsageError("--population samples orbits of plain sequence models only")
        if any(not torch.equal(r.inputs, first.inputs) for r in recorders):
            raise UsageError("--population needs the same orbit inputs in every copy")
        self.recorders = recorders

    def _state(self):
        """The copies' initial states, stacked along their trajectory dimension."""
        states = [r.state0 for r in self.recorders]
        dim = self.recorders[0].batch_dim
        if isinstance(states[0], tuple):
            return tuple(torch.stack(parts, dim) for parts in zip(*states))
        return torch.stack(states, dim)

    @torch.no_grad()
    def sample(self):
        """Take one sample of every copy still training."""
        pop, first = self.population, self.recorders[0]
        inputs = first.inputs.unsqueeze(0).unsqueeze(0)
        u = inputs.expand(len(pop), first.seq_len, *first.inputs.shape)
        output, _ = pop.model(u, self._state())
        kept = output[:, first.burnout:].float().cpu()
        for k in pop.active.nonzero().flatten().tolist():
            self.recorders[k].add(kept[k])

    def __len__(self):
        return len(self.recorders[0])


def stack_data(items):
    """The copies' data, each tensor stacked with a leading copy dimension
    (a view of one tensor when all copies hold the same); other values
    must be equal in every copy."""
    first = items[0]
    if isinstance(first, dict):
        return {key: stack_data([item[key] for item in items]) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(stack_data(list(parts)) for parts in zip(*items))
    if isinstance(first, torch.Tensor):
        if all(torch.equal(first, item) for item in items[1:]):
            return first.unsqueeze(0).expand(len(items), *first.shape)
        return torch.stack(items)
    same = all((item == first).all() if hasattr(item == first, "all") else item == first
               for item in items[1:])
    if not same:
        raise UsageError("--population needs data whose values other than tensors are the "
                         "same in every copy")
    return first


def _recurrent_layer(model):
    layer = getattr(model, "rnn", None)
    if not isinstance(layer, RecurrentLayer) or not hasattr(model, "linear"):
        raise UsageError("--population trains models made of a recurrent layer at .rnn and a "
                         "linear read-out at .linear")
    return layer


@torch.no_grad()
def _check_forward(pop):
    """The stacked forward must be each copy's own: run both on a short
    random input (a model that does more than linear(rnn(x)) is refused)."""
    first = pop.runs[0].model
    generator = torch.Generator().manual_seed(0)   # leaves torch's global generator alone
    some = pop.params["linear.weight"]
    x = torch.rand(3, 2, first.rnn.rnn.input_size, generator=generator).to(some)
    expected, _ = first(x)
    got, _ = pop.model(x.unsqueeze(0).expand(len(pop), *x.shape))
    if got.shape[1:] != expected.shape or not torch.allclose(got[0], expected, rtol=1e-4,
                                                             atol=1e-5):
        raise UsageError("--population trains models whose output is linear(rnn(input)); "
                         "this model's differs")
