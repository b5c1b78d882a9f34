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

from .checks import count, fits, number, tensor
from .options import first_line
from .rules import BIG, Integer, Number, only_when
from .run_files import CheckpointError, save_orbit_file
from .steps import (BUILTIN, BUILTIN_NAMES, CellError, Step, as_step, find_recurrent,
                    parse_state_shape, shape_text, split_return)


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
    """The recurrent module whose state the recorder draws: this project's
    ``RecurrentLayer`` at ``.rnn``, else the model itself or its only
    built-in recurrent submodule (at any attribute); None if there is none."""
    inner = getattr(model, "rnn", None)
    if isinstance(inner, nn.Module) and hasattr(inner, "initial_state"):
        return inner  # this project's RecurrentLayer
    try:
        return find_recurrent(model, "OrbitRecorder")
    except CellError as e:
        raise CellError(f"{first_line(e).split('; pass')[0]}; the recorder cannot tell which "
                        "one carries the model's state: pass state= (the shape of one "
                        "trajectory's state, or a function of n making n states)") from None


def _check_kept(old, new):
    """A step of one's own must keep the state's layout, shapes and dtype:
    a state that changes would be recorded without a word (or fail deep in
    the stacking of the outputs)."""
    olds = old if isinstance(old, (tuple, list)) else (old,)
    news = new if isinstance(new, (tuple, list)) else (new,)
    if [t.shape for t in news] != [t.shape for t in olds]:
        raise CellError(f"OrbitRecorder: the step returned a state {shape_text(new)} from a state "
                        f"{shape_text(old)}; it must keep the state's shape: check state_shape")
    if [t.dtype for t in news] != [t.dtype for t in olds]:
        raise CellError(f"OrbitRecorder: the step returned a {news[0].dtype} state from a "
                        f"{olds[0].dtype} one; it must keep the state's dtype (as_step(..., "
                        "dtype=) sets the dtype of a step's states)")


class OrbitRecorder:
    """Records the long-run output of a model under constant inputs.

    ``model`` is one of

    * a module called ``model(inp, state) -> (output, state)`` on whole
      sequences: ``inp`` ``(seq_len, batch, *input_shape)``, ``output``
      ``(seq_len, batch, n_out)`` (an ``nn.LSTM``/``GRU``/``RNN``, or a
      model of your own built around one); batch first (``(batch, seq_len,
      ...)`` in and out) with ``batch_first=True``, which is the default when
      the model's recurrent module has ``batch_first=True``;
    * an ``nn.LSTMCell``/``GRUCell``/``RNNCell`` (its output is h);
    * a :class:`attractors.steps.Step` (``as_step(cell)``: a cell of your
      own, stepped one input at a time; its output is what it returns, else
      its state as below; a built-in cell's, the last layer's h), whose
      weights are read again at every sample;
    * a function ``step(x, state)`` for one time step returning ``(output,
      new_state)``, ``x`` ``(batch, *input_shape)``, ``output`` ``(batch,
      n_out)``; or returning the new state alone, whose values (the first
      tensor's, for a tuple) are then the output, ``(batch, values)``.

    ``inputs`` is ``(n_i, *input_shape)``: one constant input per row (a
    frequency, a one-hot symbol, a word id). Every input is run from
    ``n_states`` initial states for ``seq_len`` steps; the first ``burnout``
    outputs are dropped. There are ``n_states * n_i`` trajectories;
    trajectory ``b`` has input ``b % n_i`` and is recorded as state
    ``b // n_i``. By default each trajectory draws an initial state of its
    own (``n_states * n_i`` different states, as the original code did);
    with ``shared_states=True`` the ``n_states`` states are drawn once and
    shared by all inputs. The states are drawn here, once (the same at every
    sample), ``std`` times a standard normal, unless ``state`` says otherwise:

    * None: inferred for ``nn.LSTM``/``GRU``/``RNN`` (any number of layers),
      the ``nn.*Cell`` modules, orthogonal cells, a :class:`Step`, and a
      model holding exactly one of them (or this project's ``RecurrentLayer``
      at ``.rnn``);
    * a shape (tuple of ints; a tuple of shapes for a tuple state): one
      trajectory's state, with the trajectories inserted at ``batch_dim``
      (e.g. ``state=(2, 8), batch_dim=1``: ``std * randn(2, n, 8)``);
    * a function ``state(n)`` returning the initial state of ``n``
      trajectories (a tensor or a tuple of tensors; ``std`` is not applied),
      called once with ``n = n_states * n_i`` (``n_states`` when shared).

    ``batch_dim`` is the trajectory dimension of the state tensors; default:
    1 for ``nn.LSTM``/``GRU``/``RNN`` and a ``RecurrentLayer`` of those
    (``(num_layers, batch, hidden)``), else 0. ``projection`` maps the kept
    outputs ``(steps, batch, n_out)`` to the recorded values;
    ``feedback_model``, if given, is run from the same states and its
    projected outputs appended; ``max_batch`` caps the trajectories run at
    once.
    """

    def __init__(self, model, inputs, n_states, seq_len, burnout, std=1.0, projection=None,
                 feedback_model=None, max_batch=None, state=None, batch_dim=None,
                 batch_first=None, shared_states=False):
        who = "OrbitRecorder"
        n_states, seq_len = count(n_states, "n_states", who), count(seq_len, "seq_len", who)
        burnout = count(burnout, "burnout (steps dropped of seq_len)", who, 0, seq_len - 1)
        std = number(std, "std", who)
        max_batch = None if max_batch is None else count(max_batch, "max_batch", who)
        batch_dim = None if batch_dim is None else count(batch_dim, "batch_dim", who, 0)
        inputs = tensor(inputs, "inputs", who)
        if inputs.dim() == 0 or len(inputs) == 0:
            raise CellError(f"{who}: inputs must be (n_i, *input_shape), one constant input per "
                            f"row, got shape {tuple(inputs.shape)}")
        size = getattr(model, "input_size", None) if isinstance(model, BUILTIN + (Step,)) else None
        if size is not None and inputs[0].numel() != size:
            raise CellError(f"{who}: the inputs have {inputs[0].numel()} values each but "
                            f"{type(model).__name__} takes input_size={size}")
        if isinstance(model, Step):  # one trial step: a clear line for a step that fails
            first = inputs[0]
            model.check_input(first.to(model.dtype) if first.is_floating_point() else first, who)
        self.model = model
        self.n_inputs = inputs.shape[0]
        self.n_sequences = n_states
        self.seq_len = seq_len
        self.burnout = burnout
        self.projection = projection
        self.feedback_model = feedback_model
        self.max_batch = max_batch
        self.kind = ("cell" if isinstance(model, nn.RNNCellBase) else
                     "stepper" if isinstance(model, Step) else
                     "sequence" if isinstance(model, nn.Module) else "step")
        if self.kind == "step" and not callable(model):
            raise CellError(f"{who}: model must be a module or a step function, "
                            f"got {type(model).__name__}")
        recurrent = _find_recurrent(model) if self.kind == "sequence" and state is None else None
        self.batch_first = (bool(getattr(recurrent, "batch_first", False)) if batch_first is None
                            else batch_first)
        batch = self.n_inputs * n_states
        # what is kept of each trajectory (or its inputs, if more), before any is made
        fits(batch * max(seq_len - burnout, inputs[0].numel()), torch.get_default_dtype(),
             f"{n_states} states of {seq_len} steps per input", who, inputs.device)
        # Sequence-major layout: trajectory b is input b % n_i, state b // n_i.
        reps = (n_states,) + (1,) * (inputs.dim() - 1)
        self.inputs = inputs.repeat(*reps)
        drawn = n_states if shared_states else batch
        self.state0, self.batch_dim = self._initial_state(state, drawn, std, batch_dim, recurrent)
        parts = self.state0 if isinstance(self.state0, (tuple, list)) else (self.state0,)
        if any(not isinstance(p, torch.Tensor) or p.dim() <= self.batch_dim
               or p.shape[self.batch_dim] != drawn for p in parts):
            raise CellError(f"{who}: the initial states are {shape_text(self.state0)}; expected "
                            f"{drawn} trajectories along batch_dim={self.batch_dim} of every "
                            "tensor (state(n) must return n states)")
        if shared_states:  # state s of every input: repeat each drawn state n_i times
            self.state0 = self._map_state(
                self.state0, lambda t: t.repeat_interleave(self.n_inputs, dim=self.batch_dim))
        self.samples = []
        self.file = None
        self._pending = None  # samples counted by a loaded checkpoint, still in the file
        self._pending_crc = None
        self.crc32 = 0  # running CRC-32 of the samples written to the file

    # -- initial states -----------------------------------------------------
    @staticmethod
    def _map_state(state, fn):
        return tuple(fn(s) for s in state) if isinstance(state, (tuple, list)) else fn(state)

    def _initial_state(self, state, batch, std, batch_dim, recurrent):
        device = self.inputs.device

        def fill(*shape, device):
            return std * torch.randn(*shape, device=device)
        if callable(state):
            made = state(batch)
            return made, 0 if batch_dim is None else batch_dim
        if state is not None:
            shapes, tuple_state = parse_state_shape(state, "OrbitRecorder")
            bd = 0 if batch_dim is None else batch_dim
            made = [fill(*s[:bd], batch, *s[bd:], device=device) for s in shapes]
            return tuple(made) if tuple_state else made[0], bd
        if self.kind == "stepper":
            return self.model.initial_state((batch,), fill), (self.model.batch_dim
                                                                if batch_dim is None else batch_dim)
        if self.kind == "sequence" and recurrent is None:
            raise CellError("OrbitRecorder: cannot tell the state of this model (it holds no "
                            f"built-in recurrent module: {BUILTIN_NAMES}); pass state= (the "
                            "shape of one trajectory's state, or a function of n making n states)")
        if self.kind == "step":
            raise CellError("OrbitRecorder: a step function needs state= (the shape of one "
                            "trajectory's state, or a function of n making n states)")
        if hasattr(recurrent or self.model, "initial_state"):  # this project's RecurrentLayer
            layer = recurrent or self.model
            made = layer.initial_state(batch, device, fill)
            return made, layer.batch_dim if batch_dim is None else batch_dim
        step = as_step(recurrent or self.model, who="OrbitRecorder")
        made = step.initial_state((batch,), fill)
        return made, step.batch_dim if batch_dim is None else batch_dim

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
        # a copy: a step that changes its state in place must not change the
        # initial states, which every sample starts from
        state = self._map_state(self.select_state(self.state0, index), torch.clone)
        if kind == "sequence":
            if self.batch_first and model is self.model:
                output, _ = model(inp.unsqueeze(1).expand(inp.shape[0], self.seq_len,
                                                          *inp.shape[1:]), state)
                output = output.transpose(0, 1)
            else:
                output, _ = model(inp.unsqueeze(0).expand(self.seq_len, *inp.shape), state)
            kept = output[self.burnout:]
        else:
            outputs = []
            before = state
            for t in range(self.seq_len):
                if kind == "cell":
                    state = model(inp, state)
                    output = state[0] if isinstance(state, tuple) else state
                elif kind == "stepper":
                    output, state = model(inp.to(model.dtype) if inp.is_floating_point() else inp,
                                          state)
                    if output is None and model.readout is not None:
                        output = model.readout(state)
                else:
                    output, state = split_return(model(inp, state), state, "the step")
                if t == 0 and kind in ("stepper", "step"):
                    _check_kept(before, state)
                if output is None:  # a step that returns its state alone: (batch, values)
                    first = state[0] if isinstance(state, tuple) else state
                    output = first.movedim(self.batch_dim, 0).reshape(len(inp), -1)
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
        if self.kind == "stepper":
            self.model.refresh()  # the weights as they are now
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
        self.add(torch.cat(parts, dim=1))

    def add(self, sample):
        """Keep ``sample`` ``(seq_len - burnout, n_seq * n_i, n_o)``, float32 on
        the CPU, as the next one (what :meth:`record` takes; a population
        computes its copies' samples together and adds each to its recorder)."""
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
