"""Command-line options shared by every train.py.

Options come in two groups. *Config* options describe the experiment and are
saved with the run; *system* options (``--cuda``, ``--folder`` and task
extras) say where and how to run it and are not saved. Precedence is
defaults < ``--config FILE.json`` < command line, so a saved config given back
with ``--config`` repeats the run.
"""
import argparse
import datetime
import json
import math
import os
import re
import sys


class CommandError(Exception):
    """Ends a command with a one-line message and the exit status ``code``."""
    code = 1


class UsageError(CommandError):
    """Bad input from the user: reported as one line, exit status 2."""
    code = 2


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and raise instead of exiting."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every plain float option, of every script, refuses nan and inf.
        self.register("type", float, finite_float())

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _bounded(base, low, high, low_open, high_open):
    """An argparse type: a finite ``base`` number in the given range. It reads
    the command line's text and a config file's JSON number alike (``base``
    tells :func:`_check_scalar` which JSON type to expect)."""
    if low is not None and high is not None:
        bounds = f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        bounds = f" {'>' if low_open else '>='} {low}"
    elif high is not None:
        bounds = f" {'<' if high_open else '<='} {high}"
    else:
        bounds = ""
    what = "a finite number" if base is float else "an integer"

    def convert(text):
        try:
            value = base(text)
        except (TypeError, ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"invalid {base.__name__} value: {text!r}") from None
        if isinstance(text, float) and base is int and value != text:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}")
        ok = math.isfinite(value) and (
            low is None or (value > low if low_open else value >= low)) and (
            high is None or (value < high if high_open else value <= high))
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {what}{bounds}, got {text!r}")
        return value
    convert.base = base
    convert.__name__ = base.__name__  # argparse names the type in its messages
    return convert


def finite_float(low=None, high=None, low_open=False, high_open=False):
    """Argparse type of a finite float in ``[low, high]`` (``low_open``,
    ``high_open``: exclude that end; None: unbounded)."""
    return _bounded(float, low, high, low_open, high_open)


def bounded_int(low=None, high=None):
    """Argparse type of an int in ``[low, high]`` (None: unbounded)."""
    return _bounded(int, low, high, False, False)


POSITIVE_FLOAT = finite_float(0, low_open=True)
POSITIVE_INT = bounded_int(1)
SEED = bounded_int(0, 2 ** 32 - 1)       # what NumPy's seed accepts
DPI = bounded_int(10, 2000)
ALPHA = finite_float(0, 1, low_open=True)


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable, else total)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(nbytes, what):
    """Refuse a job whose estimated size ``nbytes`` exceeds the available memory."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise UsageError(f"{what} needs about {nbytes / 2 ** 30:.3g} GiB, more than the "
                         f"{free / 2 ** 30:.3g} GiB of memory available; choose smaller sizes")


def estimate_training_bytes(config, n_words=0):
    """A rough lower bound of the bytes a training run allocates (float32):
    parameters with their gradients and Adam's two moments, the activations
    kept for back-propagation, and the orbit buffers. ``n_words``: the
    vocabulary of a language model, whose embedding, decoder and one window's
    logits (``seq_len x batch_size x n_words``) come on top."""
    h, layers = config.get("hidden_size", 1), config.get("num_layers", 1)
    embed = config.get("embed_size", 0)
    width = max(h, embed, 1)
    params = layers * 4 * h * (width + h + 1) + h + (embed + h + 1) * n_words
    steps = config.get("seq_len", 1) * max(config.get("batch_size", 1),
                                           config.get("n_sequences", 1) if "embed_size" not in config else 1)
    activations = steps * (layers * 6 * h + n_words)
    orbit = 0
    if config.get("interval_orbit", -1) >= 1:
        orbit = config["seq_len_orbit"] * config["n_sequences_orbit"] * h * 2
    return 4 * (4 * params + activations + orbit)


def check_output_file(path, option="-o"):
    """Refuse an output file name that is an existing folder (one line, exit 2)."""
    if path and os.path.isdir(path):
        raise UsageError(f"{option} {path} is a folder; give a file name")
    return path


def default_folder(now=None):
    """``output-<date and time>`` in the current directory, without ``:`` or spaces."""
    stamp = str(now or datetime.datetime.now()).replace(":", "_").replace(" ", "_")
    return os.path.join(os.getcwd(), "output-" + stamp)


def add_system_options(parser):
    group = parser.add_argument_group("system options (not saved with the run)")
    group.add_argument("--cuda", action="store_true", help="run on the GPU cuda:0")
    group.add_argument("--folder", default=None,
                       help="output folder (default: ./output-<date>_<time>)")
    group.add_argument("--resume", metavar="FOLDER", default=None,
                       help="continue the interrupted run in FOLDER with its saved settings "
                            "(only --epochs may change)")
    group.add_argument("--overwrite", action="store_true",
                       help="allow --folder to name a folder that already holds a run")
    group.add_argument("--checkpoint_interval", type=int, default=1, metavar="N",
                       help="write checkpoint.pth (for --resume) every N epochs")
    add_threads_option(group)
    from .portable import add_portable_option   # --portable_numerics: restarts the process
    add_portable_option(group)
    return group


def add_threads_option(group):
    group.add_argument("--threads", type=int, default=0, metavar="N",
                       help="CPU threads for PyTorch (0: its default, one per core); use 1 "
                            "for small models and when several runs share the machine")


def set_threads(threads):
    """Apply ``--threads`` (0 leaves PyTorch's default)."""
    if threads < 0:
        raise UsageError(f"--threads must be >= 0, got {threads}")
    if threads:
        import torch   # here, not at the top: sweep.py's start-up needs no torch
        torch.set_num_threads(threads)


def add_optimiser_options(group, lr=0.001, clip_value=0.25):
    # above 1e6, Adam's own arithmetic overflows before any check can fail
    group.add_argument("--lr", type=finite_float(0, 1e6, low_open=True), default=lr,
                       help="learning rate, in (0, 1e6]")
    group.add_argument("--clip_value", type=POSITIVE_FLOAT, default=clip_value,
                       help="maximum norm of the gradient")


def add_run_options(group, seed=2):
    group.add_argument("--seed", type=SEED, default=seed, help="random seed (0 to 2**32-1)")
    group.add_argument("--on_nan", choices=("stop", "skip"), default="stop",
                       help="on a non-finite loss: stop the run, or skip that batch's "
                            "update and count it in the history")


def build_parser(add_config_options, description, prog=None, add_extra_system=None):
    """Parser with the config group (filled by ``add_config_options``), the
    system group and ``-c/--config``. Returns ``(parser, config_dests)``."""
    parser = OneLineParser(prog=prog, description=description,
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-c", "--config", default="", metavar="FILE.json",
                        help="JSON file whose keys override the config defaults; "
                             "command-line options override the file")
    config_group = parser.add_argument_group("config options (saved to train.pyconfig.json)")
    add_config_options(config_group)
    system_group = add_system_options(parser)
    if add_extra_system is not None:
        add_extra_system(system_group)
    config_dests = [a.dest for a in config_group._group_actions]
    return parser, config_dests


def _check_scalar(action, v, source):
    """Validate one JSON value against what the command line would accept."""
    name = action.dest
    kind = action.type or (type(action.default) if action.default is not None else str)
    base = getattr(kind, "base", kind)
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        kind = base = bool
    wanted = {bool: "true or false", int: "an integer", float: "a number"}.get(base, "a string")
    ok_types = {bool: (bool,), int: (int,), float: (int, float)}.get(base, (str,))
    # bool is an int in Python; refuse true/false where a number is meant.
    if not isinstance(v, ok_types) or (isinstance(v, bool) and base is not bool):
        raise UsageError(f"{source}: '{name}' must be {wanted}, got {json.dumps(v)}")
    if kind not in (bool, int, float, str):
        try:  # a validating type function, as on the command line
            v = kind(v)
        except (argparse.ArgumentTypeError, ValueError) as e:
            raise UsageError(f"{source}: '{name}': {e}") from None
    if base is float and isinstance(v, float) and not math.isfinite(v):
        raise UsageError(f"{source}: '{name}' must be a finite number, got {v}")
    if action.choices is not None and v not in action.choices:
        raise UsageError(f"{source}: '{name}' must be one of "
                         f"{', '.join(map(str, action.choices))}, got {json.dumps(v)}")
    return float(v) if base is float else v


def _check_value(action, value, source):
    if action.nargs in ("+", "*"):
        if not isinstance(value, list):
            # The original code saved some list options as one number
            # (position_symbols_len: 10); it stands for a list of one.
            if isinstance(value, (dict, str, bool)) or value is None:
                raise UsageError(f"{source}: '{action.dest}' must be a list, "
                                 f"got {json.dumps(value)}")
            value = [value]
        return [_check_scalar(action, v, source) for v in value]
    return _check_scalar(action, value, source)


def read_config_file(path, parser, config_dests):
    """Load and validate a JSON config file: every key a known config option
    with a value of the right type."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"config file {path} is not valid JSON: {e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text") from None
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror}") from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a JSON object")
    actions = {a.dest: a for a in parser._actions if a.dest in config_dests}
    unknown = sorted(set(data) - set(actions))
    if unknown:
        raise UsageError(f"config file {path}: unknown option(s) {', '.join(unknown)}")
    return {k: _check_value(actions[k], v, f"config file {path}") for k, v in data.items()}


def parse_options(parser, config_dests, argv=None):
    """Returns ``(config, system)``: the config options as a plain dict and
    the system options as a Namespace."""
    pre = OneLineParser(add_help=False)
    pre.add_argument("-c", "--config", default="")
    pre.add_argument("--resume", default=None)
    pre.add_argument("--folder", default=None)
    known, _ = pre.parse_known_args(argv)
    if known.resume and known.config:
        raise UsageError("--resume takes the settings saved in the run; drop --config")
    if known.resume and known.folder and os.path.abspath(known.folder) != os.path.abspath(known.resume):
        raise UsageError("--resume FOLDER continues that folder; drop --folder")
    if known.resume:
        saved = os.path.join(known.resume, "train.pyconfig.json")
        if not os.path.isfile(saved):
            raise UsageError(f"nothing to resume in {known.resume}: it has no train.pyconfig.json")
        parser.set_defaults(**read_config_file(saved, parser, config_dests))
    elif known.config:
        parser.set_defaults(**read_config_file(known.config, parser, config_dests))
    args = parser.parse_args(argv)
    if args.resume:
        args.folder = args.resume
    if args.checkpoint_interval < 1:
        raise UsageError("--checkpoint_interval must be at least 1")
    set_threads(args.threads)
    config = {k: getattr(args, k) for k in config_dests}
    check_memory(estimate_training_bytes(config), "this run")
    system = argparse.Namespace(**{k: v for k, v in vars(args).items()
                                   if k not in config_dests and k != "config"})
    return config, system


def select_device(use_cuda):
    import torch
    if not use_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError("--cuda was given but no CUDA GPU is available")
    return torch.device("cuda:0")


def check_orbit_options(config):
    """Shared sanity checks of the orbit options."""
    if not config["std_orbit"] > 0:
        raise UsageError(f"std_orbit must be > 0, got {config['std_orbit']}")
    if config["interval_orbit"] < 1:
        return
    if config["seq_len_orbit"] < 1:
        raise UsageError("seq_len_orbit must be at least 1")
    if not 0 <= config["burnout_orbit"] < config["seq_len_orbit"]:
        raise UsageError(f"burnout_orbit ({config['burnout_orbit']}) must be >= 0 and "
                         f"smaller than seq_len_orbit ({config['seq_len_orbit']})")
    if config["n_sequences_orbit"] < 1:
        raise UsageError("n_sequences_orbit must be at least 1")
    if config["interval_save_orbit"] < 1:
        raise UsageError("interval_save_orbit must be at least 1")


def run_cli(main, argv=None):
    """Run ``main(argv)``; bad input ends in one line on stderr and exit 2."""
    try:
        return main(argv)
    except CommandError as e:
        fail(e, e.code, "error: " if isinstance(e, UsageError) else "")
    except MemoryError:
        fail("out of memory; choose smaller sizes", 1)
    except RuntimeError as e:
        # PyTorch reports a failed CPU allocation as a plain RuntimeError
        if type(e).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(e):
            size = re.search(r"allocate (\d+) bytes", str(e))
            what = f" allocating {int(size[1]) / 2 ** 30:.3g} GiB" if size else ""
            fail(f"out of memory{what}; choose smaller sizes", 1)
        raise
    except OSError as e:  # a full disk, a read-only folder, a vanished file
        where = f": {e.filename}" if e.filename else ""
        fail(f"{e.strerror or e}{where}", 1)


def first_line(error):
    """The first line of an exception's message (its type's name if empty)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def fail(message, code, prefix="error: "):
    """Print ``PROG: error: message`` (its first line) on stderr and exit ``code``."""
    prog = os.path.basename(sys.argv[0]) or "train.py"
    print(f"{prog}: {prefix}{first_line(message)}", file=sys.stderr)
    raise SystemExit(code) from None


def check_positive(config, *names):
    for name in names:
        if config[name] < 1:
            raise UsageError(f"{name} must be at least 1, got {config[name]}")
