"""Orbit sampling: run the model from fixed random initial states on
constant inputs, every few epochs, and keep what it settles to.

The orbit file holds ``{"frequency": N, "trajectory": T}`` (N: epochs
between samples) with ``T`` of shape
``(seq_len - burnout, n_seq, n_i, n_o, n_samples)``.
"""
import torch

from .run_files import save_orbit_file


def add_orbit_options(group, interval_save, n_sequences, seq_len, burnout, std=100.0):
    group.add_argument("--interval_orbit", type=int, default=-1,
                       help="sample the orbit diagram every N epochs (-1: never)")
    group.add_argument("--interval_save_orbit", type=int, default=interval_save,
                       help="write the orbit file every N epochs (and at the end)")
    group.add_argument("--n_sequences_orbit", type=int, default=n_sequences,
                       help="random initial states per constant input")
    group.add_argument("--seq_len_orbit", type=int, default=seq_len,
                       help="steps simulated per orbit trajectory")
    group.add_argument("--burnout_orbit", type=int, default=burnout,
                       help="first steps of each orbit trajectory dropped")
    group.add_argument("--std_orbit", type=float, default=std,
                       help="standard deviation of the random initial states")


class OrbitSampler:
    """Samples the long-run output of ``model`` for every constant input.

    ``const_inputs`` is ``(n_i, *input_shape)``: one constant input per row
    (a frequency, a one-hot symbol, a word id). ``model(inp, state)`` must
    return ``(output, state)`` with output ``(seq_len, batch, n_out)``, and
    ``model.rnn`` must be a :class:`RecurrentLayer`. ``projection`` maps the
    kept outputs to the ``n_o`` recorded values; ``feedback_model``, if
    given, is run from the same states and its projected outputs appended.

    The random initial states are drawn here, once (h before c), so building
    the sampler consumes the random stream exactly like the old code did.
    """

    def __init__(self, model, const_inputs, n_sequences, seq_len, burnout, std,
                 projection=None, feedback_model=None, max_batch=None):
        if not 0 <= burnout < seq_len:
            raise ValueError(f"burnout ({burnout}) must be in [0, seq_len={seq_len})")
        self.model = model
        self.n_inputs = const_inputs.shape[0]
        self.n_sequences = n_sequences
        self.seq_len = seq_len
        self.burnout = burnout
        self.projection = projection
        self.feedback_model = feedback_model
        self.max_batch = max_batch
        batch = self.n_inputs * n_sequences
        # Sequence-major layout: trajectory b is input b % n_i, state b // n_i.
        reps = (n_sequences,) + (1,) * (const_inputs.dim() - 1)
        self.inputs = const_inputs.repeat(*reps)
        device = const_inputs.device
        self.state0 = model.rnn.initial_state(
            batch, device, lambda *shape, device: std * torch.randn(*shape, device=device))
        self.samples = []

    def __len__(self):
        return len(self.samples)

    @torch.no_grad()
    def _run(self, model, index):
        inp = self.inputs[index]
        inp = inp.unsqueeze(0).expand(self.seq_len, *inp.shape)
        state = self.model.rnn.select_state(self.state0, index)
        output, _ = model(inp, state)
        kept = output[self.burnout:]
        return kept if self.projection is None else self.projection(kept)

    @torch.no_grad()
    def sample(self):
        """Add one sample (call with the model in eval mode)."""
        was_training = self.model.training
        self.model.eval()
        total = self.inputs.shape[0]
        step = self.max_batch or total
        parts = []
        for start in range(0, total, step):
            index = slice(start, min(start + step, total))
            part = self._run(self.model, index)
            if self.feedback_model is not None:
                part = torch.cat([part, self._run(self.feedback_model, index)], dim=-1)
            parts.append(part.float().cpu())
        self.samples.append(torch.cat(parts, dim=1))
        self.model.train(was_training)

    def trajectory(self):
        """All samples so far as ``(seq_len - burnout, n_seq, n_i, n_o, n_samples)``."""
        if not self.samples:
            raise RuntimeError("no orbit sample taken yet")
        stacked = torch.stack(self.samples, dim=-1)
        steps, _, n_out, n_samples = stacked.shape
        return stacked.reshape(steps, self.n_sequences, self.n_inputs, n_out, n_samples)

    def state_dict(self):
        """Initial states and samples, to continue sampling after a resume."""
        state0 = list(self.state0) if isinstance(self.state0, tuple) else [self.state0]
        samples = torch.stack(self.samples, dim=-1) if self.samples else None
        return {"state0": state0, "samples": samples}

    def load_state_dict(self, state):
        mine = self.state0 if isinstance(self.state0, tuple) else (self.state0,)
        if [tuple(s.shape) for s in state["state0"]] != [tuple(s.shape) for s in mine]:
            raise ValueError("orbit initial states do not match this run's orbit settings")
        device = mine[0].device
        loaded = tuple(s.to(device) for s in state["state0"])
        self.state0 = loaded if isinstance(self.state0, tuple) else loaded[0]
        samples = state["samples"]
        self.samples = [] if samples is None else list(samples.unbind(-1))

    def save(self, path, interval):
        """Write the orbit file; ``interval``: epochs between two samples."""
        save_orbit_file(path, self.trajectory(), interval)
