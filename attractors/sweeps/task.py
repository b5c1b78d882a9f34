"""A task's train.py: where it is, its options (read from its ``--help``),
and the options given after ``--`` and in ``-c FILE.json``, checked
against them."""
import difflib
import json
import os
import re
import subprocess
import sys

from ..options import UsageError
from .files import last_line

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Options of train.py that the sweep sets itself.
MANAGED = {
    "folder": "the sweep names and manages each run's folder (--out)",
    "resume": "the sweep resumes interrupted runs by itself",
    "overwrite": "the sweep restarts a run that has no checkpoint by itself",
    "config": "give the base config to sweep.py: -c FILE.json before --",
    "help": "see python TASK/train.py --help",
    "threads": "the sweep sets each run's threads from --workers (or --cpus_per_task)",
    "population": "give --population to sweep.py, before --: it trains the runs that "
                  "differ only by their seed together",
}
NUMBER = re.compile(r"^-\.?\d")


class Option:
    """One option of a train.py, as its --help shows it."""

    def __init__(self, flags, takes_value, is_list, config, default):
        self.flags = tuple(flags)
        self.flag = max(flags, key=len)
        self.name = self.flag.lstrip("-").replace("-", "_")
        self.takes_value, self.is_list = takes_value, is_list
        self.config, self.default = config, default

    def __repr__(self):
        return f"Option({self.flag})"


def find_task(task):
    """``(task folder, its train.py)``: ``task`` relative to the current
    folder, or to the repository root."""
    for base in (os.getcwd(), ROOT):
        folder = os.path.abspath(os.path.join(base, task))
        if os.path.isfile(os.path.join(folder, "train.py")):
            return folder, os.path.join(folder, "train.py")
    raise UsageError(f"no task folder {task} with a train.py (relative to {os.getcwd()} or "
                     f"{ROOT}; the tasks are {', '.join(train_py_folders())})")


def train_py_folders():
    """The folders of the repository that hold a train.py."""
    return sorted(name for name in os.listdir(ROOT)
                  if os.path.isfile(os.path.join(ROOT, name, "train.py")))


_HELP_CACHE = {}


def task_options(train_py):
    """The options of ``train_py`` by name, read from its ``--help`` (run
    once per process and file version: it imports torch, about 1.5 s)."""
    key = (train_py, os.stat(train_py).st_mtime_ns)
    if key not in _HELP_CACHE:
        env = {**os.environ, "COLUMNS": "10000"}   # one line per option
        try:
            done = subprocess.run([sys.executable, os.path.basename(train_py), "--help"],
                                  cwd=os.path.dirname(train_py), env=env, capture_output=True,
                                  text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UsageError(f"cannot read the options of {train_py}: {e}") from None
        if done.returncode != 0:
            raise UsageError(f"cannot read the options of {train_py}: "
                              f"{last_line(done.stderr) or f'exit status {done.returncode}'}")
        _HELP_CACHE[key] = parse_help(done.stdout)
    return _HELP_CACHE[key]


def parse_help(text):
    """Options from an argparse help text printed without line wrapping:
    group headers end in ``:``, option lines start with two spaces."""
    options, config = {}, False
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            config = line.startswith("config options")
            continue
        if not line.startswith("  -"):
            continue
        invocation, _, help_text = line.strip().partition("  ")
        flags, takes_value = [], False
        for part in invocation.split(", "):
            words = part.split()
            flags.append(words[0])
            takes_value = takes_value or len(words) > 1
        default = re.search(r"\(default: (.*)\)\s*$", help_text)
        option = Option(flags, takes_value, "..." in invocation, config,
                        default.group(1) if default else None)
        options[option.name] = option
    return options


def unknown_option(key, options, task, what="option"):
    close = difflib.get_close_matches(key, list(options), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return UsageError(f"unknown {what} {key} for {task}/train.py{hint}; "
                       f"see python {task}/train.py --help")


def parse_fixed(tokens, options, task):
    """Check the train.py options given after ``--``. Returns ``{name:
    [values]}`` (the last occurrence wins, as in argparse)."""
    by_flag = {flag: option for option in options.values() for flag in option.flags}
    fixed, i = {}, 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("-") or NUMBER.match(token):
            raise UsageError(f"unexpected {token!r} after --: give train.py options as "
                              "--name value")
        flag, eq, inline = token.partition("=")
        option = by_flag.get(flag)
        if option is None:
            raise unknown_option(flag, by_flag, task)
        if option.name in MANAGED:
            raise UsageError(f"{flag} cannot be given after --: {MANAGED[option.name]}")
        i += 1
        values = [inline] if eq else []
        if option.takes_value and not eq:
            while i < len(tokens) and (not tokens[i].startswith("-") or NUMBER.match(tokens[i])):
                values.append(tokens[i])
                i += 1
                if not option.is_list:
                    break
            if not values:
                raise UsageError(f"{flag} needs a value")
        elif not option.takes_value and eq:
            raise UsageError(f"{flag} takes no value")
        fixed[option.name] = values
    return fixed


def read_base_config(path, options):
    """The JSON object of ``-c FILE.json``, its keys checked."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read config file {path}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a JSON object")
    unknown = sorted(k for k in data if k not in options or not options[k].config)
    if unknown:
        raise UsageError(f"config file {path}: unknown option(s) {', '.join(unknown)}")
    return data
