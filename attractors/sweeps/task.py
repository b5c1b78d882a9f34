"""A task's train.py: where it is, its options (read from its own parser,
with their rules), and the options given after ``--`` and in
``-c FILE.json``, checked against them."""
import argparse
import difflib
import json
import os
import re
import subprocess
import sys

from ..options import UsageError, json_value
from ..rules import rule_from_spec
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
    """One option of a train.py, with its rule (None: a flag, or unknown)."""

    def __init__(self, flags, takes_value, is_list, config, default, rule=None, nargs=None):
        self.flags = tuple(flags)
        self.flag = max(flags, key=len)
        self.name = self.flag.lstrip("-").replace("-", "_")
        self.takes_value, self.is_list = takes_value, is_list
        self.config, self.default = config, default
        self.rule, self.nargs = rule, nargs

    def __repr__(self):
        return f"Option({self.flag})"

    def check_text(self, values, what):
        """The command-line ``values`` (a list of words) of this option, each
        checked by its rule; a one-line UsageError naming ``what``."""
        if self.rule is None:
            return values
        for value in values:
            try:
                self.rule(value)
            except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
                raise UsageError(f"{what}: {e}") from None
        return values

    def check_json(self, value, source):
        """A config file's ``value`` of this option, checked by its rule."""
        if self.rule is None:
            return value
        return json_value(self.rule, value, self.name, source, nargs=self.nargs,
                          flag=not self.takes_value)


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
    """The options of ``train_py`` by name, with their rules, read from its
    own parser by :mod:`attractors.script_options` (run once per process and
    file version: it imports torch, about 1.5 s)."""
    key = (train_py, os.stat(train_py).st_mtime_ns)
    if key not in _HELP_CACHE:
        try:
            done = subprocess.run([sys.executable, "-m", "attractors.script_options",
                                   os.path.basename(train_py)],
                                  cwd=os.path.dirname(train_py), capture_output=True,
                                  text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UsageError(f"cannot read the options of {train_py}: {e}") from None
        if done.returncode != 0:
            raise UsageError(f"cannot read the options of {train_py}: "
                              f"{last_line(done.stderr) or f'exit status {done.returncode}'}")
        _HELP_CACHE[key] = options_from_json(done.stdout)
    return _HELP_CACHE[key]


def options_from_json(text):
    """The options that :mod:`attractors.script_options` printed, by name."""
    options = {}
    for o in json.loads(text)["options"]:
        if o["positional"]:
            continue
        rule = rule_from_spec(o["rule"]) if o["rule"] else None
        option = Option(o["flags"], o["takes_value"], o["is_list"], o["config"], o["default"],
                        rule, o["nargs"])
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
        if option is None and flag in ("-h", "--help"):
            raise UsageError(f"{flag} after --: the options after -- are those of {task}/train.py; "
                             f"python {task}/train.py --help lists them")
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
        fixed[option.name] = option.check_text(values, f"{flag} after --")
    return fixed


def read_base_config(path, options):
    """The JSON object of ``-c FILE.json``, its keys and values checked."""
    from ..options import read_json_object
    data = read_json_object(path)
    unknown = sorted(k for k in data if k not in options or not options[k].config)
    if unknown:
        raise UsageError(f"config file {path}: unknown option(s) {', '.join(unknown[:5])}")
    for key, value in data.items():
        options[key].check_json(value, f"config file {path}")
    return data
