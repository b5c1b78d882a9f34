"""The parser every script of the project uses, and the checks of a
value outside it: :class:`OneLineParser` (one-line errors, which options the
command line gave), a JSON value checked by an option's rule, a JSON
object read from a file, a path checked by a path rule."""
import argparse
import json

from .command import UsageError, first_line
from .rules import Integer, Number, rule_of, show


class _Captured(BaseException):
    """Raised by a parser while :attr:`OneLineParser.capture` is on (see there)."""

    def __init__(self, parser):
        super().__init__("parser captured")
        self.parser = parser


_UNSET = object()


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and raise instead of exiting.

    It remembers which options the command line gave (``explicit``, their
    dests). While the class attribute ``capture`` is a list, parsing appends
    the parser to it and stops the script instead (how the tests and
    ``sweep.py`` read a script's options without running it)."""
    capture = None

    def __init__(self, *args, internal=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.internal = internal
        self.explicit = set()
        # An option declared without a rule still refuses nan, inf and
        # integers beyond 64 bits (the tests ask every option for a rule).
        self.register("type", float, Number(-1e300, 1e300))
        self.register("type", int, Integer(-2 ** 63, 2 ** 63 - 1))

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_known_args(self, args=None, namespace=None):
        if OneLineParser.capture is not None and not self.internal:
            OneLineParser.capture.append(self)
            raise _Captured(self)
        if namespace is not None:
            return super().parse_known_args(args, namespace)
        # Each dest starts as _UNSET, so that what the command line set shows;
        # the actions that add to the value in place (append, count) start
        # from their default instead, and count as given when it changed.
        adding = (argparse._AppendAction, argparse._AppendConstAction, argparse._CountAction,
                  argparse._ExtendAction)
        dests = {a.dest for a in self._actions if a.dest is not argparse.SUPPRESS
                 and a.default is not argparse.SUPPRESS and not isinstance(a, adding)}
        namespace = argparse.Namespace(**dict.fromkeys(dests, _UNSET))
        namespace, extras = super().parse_known_args(args, namespace)
        self.explicit = {d for d in dests if getattr(namespace, d) is not _UNSET} | {
            a.dest for a in self._actions
            if isinstance(a, adding) and getattr(namespace, a.dest, None) != a.default}
        for action in self._actions:
            if action.dest in dests and getattr(namespace, action.dest) is _UNSET:
                default = self.get_default(action.dest)
                if isinstance(default, str) and action.type is not None:
                    default = self._get_value(action, default)
                setattr(namespace, action.dest, default)
        return namespace, extras


def check_path(rule, path, what):
    """``path`` checked by a path ``rule`` outside the parser (a default
    made from another option), as a one-line UsageError naming ``what``."""
    try:
        return rule(path)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"{what}: {e}") from None


def json_value(rule, value, name, source, nargs=None, flag=False):
    """``value`` of a config file, checked by ``rule`` as the command line
    would be (``nargs``: a list option; ``flag``: true or false)."""
    if flag:
        if not isinstance(value, bool):
            raise UsageError(f"{source}: '{name}' must be true or false, got {show(value)}")
        return value
    if nargs in ("+", "*") or isinstance(nargs, int):
        if not isinstance(value, list):
            # The original code saved some list options as one number
            # (position_symbols_len: 10); it stands for a list of one.
            if isinstance(value, (dict, str, bool)) or value is None:
                raise UsageError(f"{source}: '{name}' must be a list, got {show(value)}")
            value = [value]
        if (nargs == "+" and not value) or (isinstance(nargs, int) and len(value) != nargs):
            raise UsageError(f"{source}: '{name}' must be a list of "
                             f"{'at least one' if nargs == '+' else nargs} value(s), "
                             f"got {show(value)}")
        return [json_value(rule, v, name, source) for v in value]
    base = getattr(rule, "base", str)
    wanted = {int: "an integer", float: "a number"}.get(base, "a string")
    ok = {int: (int, float), float: (int, float)}.get(base, (str,))
    # bool is an int in Python; refuse true/false where a number is meant.
    if not isinstance(value, ok) or isinstance(value, bool):
        raise UsageError(f"{source}: '{name}' must be {wanted}, got {show(value)}")
    if base is int and isinstance(value, float) and not value.is_integer():
        raise UsageError(f"{source}: '{name}' must be an integer, got {show(value)}")
    try:
        value = rule(value)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
        raise UsageError(f"{source}: '{name}': {e}") from None
    return float(value) if base is float else value


def action_value(action, value, source):
    return json_value(rule_of(action), value, action.dest, source, nargs=action.nargs,
                      flag=action.nargs == 0)


def read_json_object(path, what="config file"):
    """The JSON object in ``path``; one-line UsageErrors."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a folder") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{what} {path} is not valid JSON: {e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None
    except RecursionError:
        raise UsageError(f"{what} {path} is nested too deeply to be a config") from None
    except ValueError as e:   # e.g. an integer of more digits than Python converts
        raise UsageError(f"{what} {path} cannot be read: {first_line(e)}") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} must hold a JSON object")
    return data
