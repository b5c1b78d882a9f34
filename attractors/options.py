"""Command-line options shared by every train.py, and the parser of every script.

Options come in two groups. *Config* options describe the experiment and are
saved with the run; *system* options (``--cuda``, ``--folder`` and task
extras) say where and how to run it and are not saved. Precedence is
defaults < ``--config FILE.json`` < command line, so a saved config given back
with ``--config`` repeats the run.

Every option is declared with a rule of :mod:`attractors.rules` as its
``type``; the rule checks it wherever it comes from (docs/options.md).
"""
import argparse
import datetime
import json
import math
import os

from .command import CommandError, UsageError, fail, first_line, run_cli, warn  # noqa: F401
from .parsing import (OneLineParser, _Captured, action_value, check_path,  # noqa: F401
                      json_value, read_json_object)
from .rules import (BIG, Choice, Integer, Number, Rule, Text,  # noqa: F401 (for the scripts)
                    input_file, input_folder, output_file, output_folder, only_when, rule_of,
                    show)


def finite_float(low=None, high=None, low_open=False, high_open=False):
    """A :class:`~attractors.rules.Number`; an end that is None is unbounded
    (the tests ask for both ends: give them)."""
    return Number(-math.inf if low is None else low, math.inf if high is None else high,
                  low_open, high_open)


def bounded_int(low=None, high=None):
    """An :class:`~attractors.rules.Integer` (None: 64-bit; give both ends)."""
    return Integer(-2 ** 63 if low is None else low, 2 ** 63 - 1 if high is None else high)


POSITIVE_FLOAT = Number(0, 1e12, low_open=True)
POSITIVE_INT = Integer(1, BIG)
COUNT = Integer(1, BIG)                  # epochs, lengths, sizes, numbers of things
SEED = Integer(0, 2 ** 32 - 1)           # what NumPy's seed accepts
DPI = Integer(10, 2000)
ALPHA = Number(0, 1, low_open=True)
THREADS = Integer(0, 4096)


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


def estimate_training_bytes(config, n_words=0, n_inputs=1, n_outputs=1):
    """A rough lower bound of the bytes a training run allocates (float32):
    parameters with their gradients and Adam's two moments, the inputs and
    activations kept for back-propagation, and the orbit buffers.
    ``n_words``: the vocabulary of a language model, whose embedding,
    decoder and one window's logits (``seq_len x batch_size x n_words``)
    come on top; ``n_inputs``, ``n_outputs``: the input size and the
    classes of a classifier (its read-out and one-hot data)."""
    h, layers = config.get("hidden_size", 1), config.get("num_layers", 1)
    embed = config.get("embed_size", 0)
    width = max(h, embed, n_inputs, 1)
    params = (layers * 4 * h * (width + h + 1) + (h + 1) * n_outputs
              + (embed + h + 1) * n_words)
    sequences = max(config.get("n_sequences", 1), config.get("n_sequences_val", 1))
    steps = config.get("seq_len", 1) * max(config.get("batch_size", 1),
                                           sequences if "embed_size" not in config else 1)
    data = config.get("seq_len", 1) * sequences * n_inputs if n_inputs > 1 else 0
    activations = steps * (layers * 6 * h + n_words)
    orbit = 0
    if config.get("interval_orbit", -1) >= 1:
        orbit = config["seq_len_orbit"] * config["n_sequences_orbit"] * h * 2
    return 4 * (4 * params + activations + orbit + data)


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
    group.add_argument("--folder", type=output_folder(), default=None,
                       help="output folder (default: ./output-<date>_<time>)")
    group.add_argument("--resume", type=input_folder(), metavar="FOLDER", default=None,
                       help="continue the interrupted run in FOLDER with its saved settings "
                            "(only --epochs may change)")
    group.add_argument("--overwrite", action="store_true",
                       help="allow --folder to name a folder that already holds a run")
    group.add_argument("--checkpoint_interval", type=COUNT, default=1, metavar="N",
                       help="write checkpoint.pth (for --resume) every N epochs")
    add_threads_option(group)
    from .portable import add_portable_option   # --portable_numerics: restarts the process
    add_portable_option(group)
    return group


def add_threads_option(group):
    group.add_argument("--threads", type=THREADS, default=0, metavar="N",
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
    group.add_argument("--lr", type=Number(0, 1e6, low_open=True), default=lr,
                       help="learning rate, in (0, 1e6]")
    group.add_argument("--clip_value", type=POSITIVE_FLOAT, default=clip_value,
                       help="maximum norm of the gradient")


def add_run_options(group, seed=2):
    group.add_argument("--seed", type=SEED, default=seed, help="random seed (0 to 2**32-1)")
    group.add_argument("--on_nan", choices=("stop", "skip"), default="stop",
                       help="on a non-finite loss: stop the run, or skip that batch's "
                            "update and count it in the history")


def add_epochs_option(group, default):
    group.add_argument("--epochs", type=COUNT, default=default, help="number of epochs")


def build_parser(add_config_options, description, prog=None, add_extra_system=None):
    """Parser with the config group (filled by ``add_config_options``), the
    system group and ``-c/--config``. Returns ``(parser, config_dests)``."""
    parser = OneLineParser(prog=prog, description=description,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-c", "--config", type=input_file(), default=None, metavar="FILE.json",
                        help="JSON file whose keys override the config defaults; "
                             "command-line options override the file")
    config_group = parser.add_argument_group("config options (saved to train.pyconfig.json)")
    add_config_options(config_group)
    system_group = add_system_options(parser)
    if add_extra_system is not None:
        add_extra_system(system_group)
    config_dests = [a.dest for a in config_group._group_actions]
    return parser, config_dests


def read_config_file(path, parser, config_dests):
    """Load and validate a JSON config file: every key a known config option
    with a value its rule accepts."""
    data = read_json_object(path)
    actions = {a.dest: a for a in parser._actions if a.dest in config_dests}
    unknown = sorted(set(data) - set(actions))
    if unknown:
        raise UsageError(f"config file {path}: unknown option(s) "
                         f"{', '.join(k if k.isidentifier() else show(k) for k in unknown[:5])}")
    source = f"config file {path}"
    return {k: action_value(actions[k], v, source) for k, v in data.items()}


def check_applicable(parser, config, config_dests, from_file=(), resumed=False):
    """Options that do not apply to this run (``--K`` with an LSTM): given
    on the command line, refused (or, for the orbit options, a warning);
    set by a config file to a value other than the default, a warning. The
    default is what the run keeps and saves (the original's configs hold
    every key, at its default); a resumed run keeps its saved values. The
    warnings are one line per reason."""
    if resumed:
        return config
    ignored = {}
    for action in parser._actions:
        applies = getattr(action, "applies", None)
        if action.dest not in config_dests or applies is None or applies(config):
            continue
        default = action.default if action.dest not in from_file else from_file[action.dest][1]
        flag = "/".join(action.option_strings)
        if action.dest in parser.explicit and applies.refuse:
            raise UsageError(f"{flag} applies only {applies.when}; drop it or change the run")
        if action.dest in parser.explicit:
            if config[action.dest] != default:
                ignored.setdefault(("", applies.when), []).append((flag, default))
        elif action.dest in from_file and from_file[action.dest][0] != default:
            source = f"{from_file[action.dest][2]}: "
            ignored.setdefault((source, applies.when), []).append((f"'{action.dest}'", default))
        config[action.dest] = default
    for (source, when), names in ignored.items():
        verb = "applies" if len(names) == 1 else "apply"
        warn(f"{source}{', '.join(n for n, _ in names)} {verb} only {when}; ignored (saved as "
             + ", ".join(json.dumps(d) for _, d in names) + ")")
    return config


def parse_options(parser, config_dests, argv=None):
    """Returns ``(config, system)``: the config options as a plain dict and
    the system options as a Namespace."""
    pre = OneLineParser(add_help=False, internal=True)
    pre.add_argument("-c", "--config", default=None)
    pre.add_argument("--resume", default=None)
    pre.add_argument("--folder", default=None)
    known, _ = pre.parse_known_args(argv)
    if known.resume and known.config:
        raise UsageError("--resume takes the settings saved in the run; drop --config")
    if known.resume and known.folder and \
            os.path.abspath(known.folder) != os.path.abspath(known.resume):
        raise UsageError("--resume FOLDER continues that folder; drop --folder")
    # their rules, before the files are read ('' is refused by the full parse below)
    if known.resume:
        check_path(input_folder(), known.resume, "argument --resume")
    if known.config:
        check_path(input_file(), known.config, "argument -c/--config")
    from_file = {}
    if known.resume:
        saved = os.path.join(known.resume, "train.pyconfig.json")
        if not os.path.isfile(saved):
            raise UsageError(f"nothing to resume in {known.resume}: it has no train.pyconfig.json")
        parser.set_defaults(**read_config_file(saved, parser, config_dests))
    elif known.config:
        values = read_config_file(known.config, parser, config_dests)
        defaults = {k: parser.get_default(k) for k in values}
        from_file = {k: (v, defaults[k], f"config file {known.config}")
                     for k, v in values.items()}
        parser.set_defaults(**values)
    args = parser.parse_args(argv)
    if args.resume:
        args.folder = args.resume
    set_threads(args.threads)
    config = {k: getattr(args, k) for k in config_dests}
    check_applicable(parser, config, config_dests, from_file, resumed=bool(args.resume))
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
    """Shared sanity checks of the orbit options (their ranges are their rules)."""
    if config["interval_orbit"] < 1:
        return
    if not config["burnout_orbit"] < config["seq_len_orbit"]:
        raise UsageError(f"burnout_orbit ({config['burnout_orbit']}) must be smaller than "
                         f"seq_len_orbit ({config['seq_len_orbit']})")


def check_positive(config, *names):
    for name in names:
        if config[name] < 1:
            raise UsageError(f"{name} must be at least 1, got {config[name]}")


def check_task_options(parser, task_name):
    """Refuse a script option given for a run of a task it does not apply
    to (``--word_ids`` on a sine run); see :func:`attractors.rules.only_for_tasks`."""
    for action in parser._actions:
        tasks = getattr(action, "tasks", None)
        if tasks and action.dest in parser.explicit and task_name not in tasks:
            raise UsageError(f"{'/'.join(action.option_strings)} applies only to "
                             f"{', '.join(tasks)} runs; this is a {task_name} run")
