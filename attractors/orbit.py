"""Orbit recording: run a model from fixed random initial states on
constant inputs, whenever asked (every few epochs), and keep what it
settles to. :class:`OrbitRecorder` works with any model (see its doc); the
training scripts use it through the name :class:`OrbitSampler`.

The orbit file holds ``{"frequency": N, "trajectory": T}`` (N: epochs
between samples) with ``T`` of shape
``(seq_len - burnout, n_seq, n_i, n_o, n_samples)``.

During a training run the samples are also appended, once each, to
``orbit_samples.bin`` in the run folder (:class:`SamplesFile`), so the
checkpoint need only hold how many there are: writing it costs the same in
the first epoch as in the ten-thousandth.
"""
import os
import struct
import zlib

import numpy as np
import torch
from torch import nn

from .rules import BIG, Integer, Number, only_when
from .run_files import CheckpointError, save_orbit_file


def add_orbit_options(group, interval_save, n_sequences, seq_len, burnout, std=100.0):
    group.add_argument("--interval_orbit", type=Integer(1, BIG, also=(-1,)), default=-1,
                       help="sample the orbit diagram every N epochs (-1: never)")
    # A warning, not an error: --interval_orbit -1 added to a command turns sampling off.
    sampling = ("with --interval_orbit N (N >= 1)", lambda c: c["interval_orbit"] >= 1,
                {"interval_orbit": -1}, False)
    for flag, kind, default, text in (
            ("--interval_save_orbit", Integer(1, BIG), interval_save,
             "write the orbit file every N epochs (and at the end)"),
            ("--n_sequences_orbit", Integer(1, BIG), n_sequences,
             "random initial states per constant input"),
            ("--seq_len_orbit", Integer(1, BIG), seq_len, "steps simulated per orbit trajectory"),
            ("--burnout_orbit", Integer(0, BIG), burnout,
             "first steps of each orbit trajectory dropped"),
            ("--std_orbit", Number(0, 1e6, low_open=True), std,
             "standard deviation of the random initial states")):
        only_when(group.add_argument(flag, type=kind, default=default, help=text), *sampling)


# ------------------------------------------------------------ samples file
class SamplesFile:
    """An append-only file of float32 samples of one shape.

    Layout: the 8 bytes ``ATTRORB1``, the number of dimensions and the shape
    of one sample (little-endian int64), then the samples, each the raw
    little-endian float32 bytes of a C-contiguous tensor. An empty file holds
    no sample yet (the shape is written with the first one). Each sample is
    written once; :meth:`truncate` drops the ones after a given count (a
    resumed run drops those taken after its last checkpoint).
    """
    MAGIC = b"ATTRORB1"

    def __init__(self, path):
        self.path = path
        self.shape = None
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            self.shape = self._read_header()

    @classmethod
    def create(cls, path):
        """A new, empty file at ``path`` (an existing one is replaced)."""
        open(path, "wb").close()
        return cls(path)

    def _read_header(self):
        with open(self.path, "rb") as f:
            head = f.read(16)
            if len(head) < 16 or head[:8] != self.MAGIC:
                raise CheckpointError(f"{self.path} is not an orbit samples file")
            ndim = struct.unpack("<q", head[8:])[0]
            raw = f.read(8 * ndim) if 1 <= ndim <= 8 else b""
            shape = struct.unpack(f"<{ndim}q", raw) if len(raw) == 8 * ndim and raw else ()
            if not shape or not all(0 < n < 2 ** 40 for n in shape):
                raise CheckpointError(f"{self.path} is damaged: its header gives no valid "
                                      "sample shape")
            return tuple(shape)

    @property
    def header_bytes(self):
        return 16 + 8 * len(self.shape)

    @property
    def sample_bytes(self):
        return 4 * int(np.prod(self.shape))

    def __len__(self):
        if self.shape is None:
            return 0
        return (os.path.getsize(self.path) - self.header_bytes) // self.sample_bytes

    def append(self, sample):
        """Write one sample (converted to float32 on the CPU) at the end;
        returns the bytes written for it (for a running checksum)."""
        data = sample.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4")
        with open(self.path, "ab") as f:
            if self.shape is None:
                self.shape = tuple(data.shape)
                f.write(self.MAGIC + struct.pack(f"<q{data.ndim}q", data.ndim, *data.shape))
            elif tuple(data.shape) != self.shape:
                raise ValueError(f"sample of shape {tuple(data.shape)} in a file of {self.shape}")
            raw = data.tobytes()
            f.write(raw)
        return raw

    def read(self, count=None, crc32=None):
        """The first ``count`` samples (default: all), as a list of tensors.
        With ``crc32`` (the running checksum of those samples, see
        :class:`OrbitRecorder`), damaged samples are an error."""
        count = len(self) if count is None else count
        if count > len(self):
            raise CheckpointError(f"{self.path} holds {len(self)} orbit samples, "
                                  f"the checkpoint counts {count}")
        if count == 0:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.header_bytes)
            raw = f.read(count * self.sample_bytes)
        if crc32 is not None and zlib.crc32(raw) != crc32:
            raise CheckpointError(f"{self.path} is damaged: its orbit samples do not match "
                                  "the checksum in the checkpoint")
        data = np.frombuffer(raw, dtype="<f4")
        data = torch.from_numpy(data.astype(np.float32)).reshape(count, *self.shape)
        return list(data.unbind(0))

    def truncate(self, count):
        """Keep the first ``count`` samples only."""
        if self.shape is not None:
            with open(self.path, "r+b") as f:
                f.truncate(self.header_bytes + count * self.sample_bytes)


# ------------------------------------------------------------ the recorder
def _find_recurrent(model):
    """The recurrent module whose state the recorder can draw: the module
    itself, its ``.rnn``, or its only ``nn.RNNBase``/``nn.RNNCellBase``/
    orthogonal submodule; None if there is none (or several)."""
    from expRNN import OrthogonalRNN
    kinds = (nn.RNNBase, nn.RNNCellBase, OrthogonalRNN)
    if isinstance(model, kinds):
        return model
    inner = getattr(model, "rnn", None)
    if isinstance(inner, nn.Module) and hasattr(inner, "initial_state"):
        return inner  # this project's RecurrentLayer
    if isinstance(inner, kinds):
        return inner
    if isinstance(model, nn.Module):
        found = [m for m in model.modules() if isinstance(m, kinds)]
        if len(found) == 1:
            return found[0]
    return None


class OrbitRecorder:
    """Records the long-run output of a model under constant inputs.

    ``model`` is one of

    * a module called ``model(inp, state) -> (output, state)``, sequence
      first: ``inp`` ``(seq_len, batch, *input_shape)``, ``output``
      ``(seq_len, batch, n_out)`` (an ``nn.LSTM``/``GRU``/``RNN``, or a
      model of your own built around one);
    * an ``nn.LSTMCell``/``GRUCell``/``RNNCell`` (its output is h);
    * a function ``step(x, state) -> (output, state)`` for one time step,
      ``x`` ``(batch, *input_shape)``, ``output`` ``(batch, n_out)``.

    ``inputs`` is ``(n_i, *input_shape)``: one constant input per row (a
    frequency, a one-hot symbol, a word id). ``n_states`` random initial
    states (the same at every sample) are run with each input for
    ``seq_len`` steps; the first ``burnout`` outputs are dropped.

    The initial states are drawn here, once, ``std`` times a standard
    normal, unless ``state`` says otherwise:

    * None: inferred for ``nn.LSTM``/``GRU``/``RNN`` (any number of layers),
      the ``nn.*Cell`` modules, orthogonal cells, and a model holding
      exactly one of them (or this project's ``RecurrentLayer`` at ``.rnn``);
    * a shape (tuple of ints): one trajectory's state is a tensor of that
      shape; the states are ``std * randn(n, *shape)``;
    * a function ``state(n)`` returning the initial state of ``n``
      trajectories (a tensor or a tuple of tensors; ``std`` is not applied).

    ``batch_dim`` is the trajectory dimension of the state tensors (default:
    1 for ``nn.LSTM``/``GRU``/``RNN``, else 0). ``projection`` maps the kept
    outputs ``(steps, batch, n_out)`` to the recorded values;
    ``feedback_model``, if given, is run from the same states and its
    projected outputs appended; ``max_batch`` caps the trajectories run at
    once. Trajectory ``b`` has input ``b % n_i`` and state ``b // n_i``.
    """

    def __init__(self, model, inputs, n_states, seq_len, burnout, std=1.0, projection=None,
                 feedback_model=None, max_batch=None, state=None, batch_dim=None):
        if not 0 <= burnout < seq_len:
            raise ValueError(f"burnout ({burnout}) must be in [0, seq_len={seq_len})")
        if n_states < 1:
            raise ValueError("n_states must be at least 1")
        inputs = torch.as_tensor(inputs)
        self.model = model
        self.n_inputs = inputs.shape[0]
        self.n_sequences = n_states
        self.seq_len = seq_len
        self.burnout = burnout
        self.projection = projection
        self.feedback_model = feedback_model
        self.max_batch = max_batch
        self.kind = ("cell" if isinstance(model, nn.RNNCellBase) else
                     "sequence" if isinstance(model, nn.Module) else "step")
        batch = self.n_inputs * n_states
        # Sequence-major layout: trajectory b is input b % n_i, state b // n_i.
        reps = (n_states,) + (1,) * (inputs.dim() - 1)
        self.inputs = inputs.repeat(*reps)
        self.state0, self.batch_dim = self._initial_state(state, batch, std, batch_dim)
        self.samples = []
        self.file = None
        self._pending = None  # samples counted by a loaded checkpoint, still in the file
        self._pending_crc = None
        self.crc32 = 0  # running CRC-32 of the samples written to the file

    # -- initial states -----------------------------------------------------
    def _initial_state(self, state, batch, std, batch_dim):
        device = self.inputs.device

        def fill(*shape, device):
            return std * torch.randn(*shape, device=device)
        if callable(state):
            made = state(batch)
            return made, 0 if batch_dim is None else batch_dim
        if state is not None:
            return fill(batch, *tuple(state), device=device), 0 if batch_dim is None else batch_dim
        recurrent = _find_recurrent(self.model)
        if recurrent is None:
            raise ValueError("cannot tell the state of this model: pass state= (the shape of "
                             "one trajectory's state, or a function of n making n states)")
        if hasattr(recurrent, "initial_state"):  # this project's RecurrentLayer
            made = recurrent.initial_state(batch, device, fill)
            return made, recurrent.batch_dim if batch_dim is None else batch_dim
        from .functional import LAYERED_TYPES, rnn_type_of
        from .rnn import initial_state
        rnn_type = rnn_type_of(recurrent)
        dtype = next(recurrent.parameters()).dtype
        made = initial_state(rnn_type, getattr(recurrent, "num_layers", 1),
                             recurrent.hidden_size, (batch,), fill, dtype=dtype, device=device)
        layered = rnn_type in LAYERED_TYPES
        return made, (1 if layered else 0) if batch_dim is None else batch_dim

    def select_state(self, state, index):
        """The part of ``state`` for the trajectories ``index``."""
        if isinstance(state, (tuple, list)):
            return type(state)(self.select_state(s, index) for s in state)
        return state.narrow(self.batch_dim, index.start, index.stop - index.start)

    def __len__(self):
        return len(self.samples)

    # -- sampling -----------------------------------------------------------
    @torch.no_grad()
    def _run(self, model, index, kind):
        inp = self.inputs[index]
        state = self.select_state(self.state0, index)
        if kind == "sequence":
            output, _ = model(inp.unsqueeze(0).expand(self.seq_len, *inp.shape), state)
            kept = output[self.burnout:]
        else:
            outputs = []
            for t in range(self.seq_len):
                if kind == "cell":
                    state = model(inp, state)
                    output = state[0] if isinstance(state, tuple) else state
                else:
                    output, state = model(inp, state)
                if t >= self.burnout:
                    outputs.append(output)
            kept = torch.stack(outputs)
        if kept.dim() == 2:  # one output value per trajectory
            kept = kept.unsqueeze(-1)
        return kept if self.projection is None else self.projection(kept)

    @torch.no_grad()
    def record(self):
        """Take one sample now: every trajectory, from the same initial
        states. A module runs in evaluation mode (its mode is put back)."""
        module = self.model if isinstance(self.model, nn.Module) else None
        was_training = module is not None and module.training
        if module is not None:
            module.eval()  # (a feedback model wraps the model: this covers it)
        try:
            total = self.inputs.shape[0]
            step = self.max_batch or total
            parts = []
            for start in range(0, total, step):
                index = slice(start, min(start + step, total))
                part = self._run(self.model, index, self.kind)
                if self.feedback_model is not None:
                    part = torch.cat([part, self._run(self.feedback_model, index, "sequence")],
                                     dim=-1)
                parts.append(part.float().cpu())
        finally:
            if module is not None:
                module.train(was_training)
        sample = torch.cat(parts, dim=1)
        self.samples.append(sample)
        if self.file is not None:
            self.crc32 = zlib.crc32(self.file.append(sample), self.crc32)

    sample = record  # the name the training scripts use

    def trajectory(self):
        """All samples so far as ``(seq_len - burnout, n_seq, n_i, n_o, n_samples)``."""
        if not self.samples:
            raise RuntimeError("no orbit sample taken yet")
        stacked = torch.stack(self.samples, dim=-1)
        steps, _, n_out, n_samples = stacked.shape
        return stacked.reshape(steps, self.n_sequences, self.n_inputs, n_out, n_samples)

    def save(self, path, interval=1):
        """Write the orbit file (``plot_orbit_diagram.py`` draws it);
        ``interval``: epochs between two samples."""
        save_orbit_file(path, self.trajectory(), interval)

    # -- the append-only file and checkpoints -------------------------------
    def attach(self, path):
        """Append every sample to the :class:`SamplesFile` ``path`` from now
        on. After :meth:`load_state_dict` of a checkpoint that counts N
        samples, the first N are read back from ``path`` and any later ones
        dropped; otherwise ``path`` is created anew with the samples so far."""
        if self._pending is not None:
            if not os.path.isfile(path):
                raise CheckpointError(f"the checkpoint counts {self._pending} orbit samples "
                                      f"but {path} is missing")
            self.file = SamplesFile(path)
            self.samples = self.file.read(self._pending, self._pending_crc)
            self.crc32 = zlib.crc32(b"".join(
                s.numpy().astype("<f4").tobytes() for s in self.samples))
            self.file.truncate(self._pending)
            self._pending = None
        else:
            self.file = SamplesFile.create(path)
            self.crc32 = 0
            for sample in self.samples:
                self.crc32 = zlib.crc32(self.file.append(sample), self.crc32)

    def state_dict(self):
        """Initial states and, with an attached file, the number of samples
        (else the samples themselves): all that continuing needs."""
        state0 = list(self.state0) if isinstance(self.state0, tuple) else [self.state0]
        if self.file is not None:
            return {"state0": state0, "n_samples": len(self.samples), "crc32": self.crc32}
        samples = torch.stack(self.samples, dim=-1) if self.samples else None
        return {"state0": state0, "samples": samples}

    def load_state_dict(self, state):
        mine = self.state0 if isinstance(self.state0, tuple) else (self.state0,)
        if [tuple(s.shape) for s in state["state0"]] != [tuple(s.shape) for s in mine]:
            raise ValueError("orbit initial states do not match this run's orbit settings")
        device = mine[0].device
        loaded = tuple(s.to(device) for s in state["state0"])
        self.state0 = loaded if isinstance(self.state0, tuple) else loaded[0]
        if "n_samples" in state:  # the samples are in the attached file
            self.samples, self._pending = [], int(state["n_samples"])
            self._pending_crc = state.get("crc32")  # absent in older checkpoints
            if self.file is not None:
                self.attach(self.file.path)
        else:  # an older checkpoint holding the samples
            samples = state["samples"]
            self.samples = [] if samples is None else list(samples.unbind(-1))
            self._pending = None


class OrbitSampler(OrbitRecorder):
    """The recorder as the training scripts build it (their option names):
    ``OrbitSampler(model, const_inputs, n_sequences, seq_len, burnout, std, ...)``."""

    def __init__(self, model, const_inputs, n_sequences, seq_len, burnout, std, **options):
        super().__init__(model, const_inputs, n_sequences, seq_len, burnout, std, **options)
