"""A script's options, read from its own parser without running it.

    python -m attractors.script_options SCRIPT.py     # its options, as JSON

The script is started as ``python SCRIPT.py`` would start it, but its
:class:`~attractors.options.OneLineParser` stops it when it parses its
command line (nothing is read or written) and hands over the parser. Each
option is described by its flags, whether it takes a value or a list, its
default, whether it is a config option (train.py) and its rule, as
:meth:`attractors.rules.Rule.spec` gives it. ``sweep.py`` checks its grid
with these rules; the tests feed every option of every script hostile
values from them.
"""
import argparse
import ast
import contextlib
import importlib.util
import json
import os
import runpy
import sys

from .parsing import OneLineParser, _Captured
from .rules import rule_of


def _load_siblings(path, folder, loaded):
    """Load the modules beside the script ``path`` that it imports by name
    (``from common import ...`` in figures/ and benchmarks/) from their
    files, under those names: what running the script would find first."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for top in {name.split(".")[0] for name in names} - loaded:
            sibling = os.path.join(folder, f"{top}.py")
            if os.path.isfile(sibling):
                loaded.add(top)
                _load_siblings(sibling, folder, loaded)
                spec = importlib.util.spec_from_file_location(top, sibling)
                sys.modules[top] = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(sys.modules[top])


@contextlib.contextmanager
def as_command(path, argv):
    """Inside: the process looks as ``python PATH ARGV...`` started it
    (``sys.argv``, and the modules beside the script that it imports);
    after it, the modules loaded from that folder are forgotten again
    (figures/common.py and benchmarks/common.py share a name)."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    old_argv, old_modules = sys.argv, set(sys.modules)
    sys.argv = [path, *argv]
    try:
        _load_siblings(path, folder, set())
        yield path
    finally:
        sys.argv = old_argv
        for name in set(sys.modules) - old_modules:
            where = getattr(sys.modules[name], "__file__", None) or ""
            if os.path.dirname(os.path.abspath(where)) == folder:
                del sys.modules[name]


def capture_parser(path):
    """The parser the script at ``path`` builds when it starts (its module
    runs as ``__main__`` in this process, up to its parse)."""
    OneLineParser.capture = []
    try:
        with as_command(path, ["--help"]), contextlib.redirect_stdout(sys.stderr):
            runpy.run_path(os.path.abspath(path), run_name="__main__")
    except _Captured as captured:
        return captured.parser
    except SystemExit as e:
        raise ValueError(f"{path} ended (exit status {e.code}) before parsing its options: "
                         "does it parse them with attractors.options.OneLineParser?") from None
    finally:
        OneLineParser.capture = None
    raise ValueError(f"{path} did not parse a command line with "
                     "attractors.options.OneLineParser")


def _plain(value):
    """``value`` as JSON can hold it (a default)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def config_dests(parser):
    """The dests of the config options (train.py's "config options" group)."""
    return {a.dest for g in parser._action_groups if g.title and g.title.startswith("config")
            for a in g._group_actions}


def describe(parser):
    """Every option of ``parser`` (not --help) as a plain dict."""
    config = config_dests(parser)
    options = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        rule = rule_of(action)
        options.append({
            "dest": action.dest, "flags": list(action.option_strings),
            "takes_value": action.nargs != 0,
            "is_list": action.nargs in ("+", "*") or isinstance(action.nargs, int),
            "nargs": action.nargs, "required": bool(action.required),
            "positional": not action.option_strings,
            "default": _plain(action.default), "config": action.dest in config,
            "rule": rule.spec() if rule is not None else None,
            "applies": getattr(getattr(action, "applies", None), "when", None),
            "tasks": list(getattr(action, "tasks", ()) or ())})
    return options


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m attractors.script_options SCRIPT.py", file=sys.stderr)
        return 2
    try:
        parser = capture_parser(argv[0])
    except (ValueError, OSError) as e:
        print(f"script_options: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"prog": parser.prog, "options": describe(parser)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
