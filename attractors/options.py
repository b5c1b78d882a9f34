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
import os

import torch


class CommandError(Exception):
    """Ends a command with a one-line message and the exit status ``code``."""
    code = 1


class UsageError(CommandError):
    """Bad input from the user: reported as one line, exit status 2."""
    code = 2


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and raise instead of exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


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
        torch.set_num_threads(threads)


def add_optimiser_options(group, lr=0.001, clip_value=0.25):
    group.add_argument("--lr", type=float, default=lr, help="learning rate")
    group.add_argument("--clip_value", type=float, default=clip_value,
                       help="maximum norm of the gradient")


def add_run_options(group, seed=2):
    group.add_argument("--seed", type=int, default=seed, help="random seed")
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
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        kind = bool
    wanted = {bool: "true or false", int: "an integer", float: "a number",
              str: "a string"}.get(kind, "a string")
    ok_types = {bool: (bool,), int: (int,), float: (int, float)}.get(kind, (str,))
    # bool is an int in Python; refuse true/false where a number is meant.
    if not isinstance(v, ok_types) or (isinstance(v, bool) and kind is not bool):
        raise UsageError(f"{source}: '{name}' must be {wanted}, got {json.dumps(v)}")
    if kind not in (bool, int, float, str):
        try:  # a validating type function, as on the command line
            v = kind(v)
        except (argparse.ArgumentTypeError, ValueError) as e:
            raise UsageError(f"{source}: '{name}': {e}") from None
    if action.choices is not None and v not in action.choices:
        raise UsageError(f"{source}: '{name}' must be one of "
                         f"{', '.join(map(str, action.choices))}, got {json.dumps(v)}")
    return float(v) if kind is float else v


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
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"config file {path} is not valid JSON: {e}") from None
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
    system = argparse.Namespace(**{k: v for k, v in vars(args).items()
                                   if k not in config_dests and k != "config"})
    return config, system


def select_device(use_cuda):
    if not use_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError("--cuda was given but no CUDA GPU is available")
    return torch.device("cuda:0")


def check_orbit_options(config):
    """Shared sanity checks of the orbit options."""
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
    import sys
    try:
        return main(argv)
    except CommandError as e:
        prog = os.path.basename(sys.argv[0]) or "train.py"
        print(f"{prog}: {'error: ' if isinstance(e, UsageError) else ''}{e}", file=sys.stderr)
        raise SystemExit(e.code) from None


def check_positive(config, *names):
    for name in names:
        if config[name] < 1:
            raise UsageError(f"{name} must be at least 1, got {config[name]}")
