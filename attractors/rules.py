"""The rules of the command-line options: every option of every script is
declared once, with one of these types, and the same rule then checks it on
the command line, in a config file, in a resumed run's saved config and in
a sweep's grid (docs/options.md, "Declaring an option").

A rule is an argparse ``type``: it converts the command line's text, or a
config file's JSON value, and refuses anything outside the rule with a
message that states the rule (``must be an integer in [1, 1000]``). Numbers
always have both bounds; paths are checked when they are parsed (an input
must exist, an output must be writable and must not replace a run's file).
``spec()`` describes the rule as plain JSON and :func:`rule_from_spec` makes
it again, so that ``sweep.py`` checks grid values without importing torch.
"""
import argparse
import math
import os
import re
import stat

BIG = 10 ** 9          # the upper bound of counts and sizes (memory checks come later)
# What matplotlib writes (with Pillow, which it requires).
IMAGE_FORMATS = (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif",
                 ".tiff", ".webp")
# The files of a run folder (attractors.run_files.RUN_FILES): no output replaces them.
RUN_FILE_NAMES = ("train.pyconfig.json", "history.csv", "model.pth", "checkpoint.pth",
                  "orbit_per_epoch_diagram.pth", "orbit_samples.bin")


def show(value, limit=40):
    """``repr(value)``, cut to ``limit`` characters (a hostile value can be huge)."""
    try:
        text = repr(value)
    except ValueError:          # an int with more digits than Python prints
        text = f"<an integer of about {value.bit_length() * 0.30103:.0f} digits>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _num(x):
    """A bound as people write it: 1000000, 0.5, 1e+12, -inf."""
    return str(int(x)) if math.isfinite(x) and x.is_integer() and abs(x) < 1e7 else f"{x:g}"


def _error(message):
    return argparse.ArgumentTypeError(message)


class Rule:
    """Base of the rules. ``kind`` names the rule for the tests and the
    docs; ``base`` is the JSON type a config file must give."""
    kind = "text"
    base = str

    def __init__(self):
        self.__name__ = self.base.__name__   # argparse names the type in its messages

    def describe(self):
        raise NotImplementedError

    def spec(self):
        return {"kind": self.kind}

    def __repr__(self):
        return f"<rule: {self.describe()}>"


class Integer(Rule):
    """An integer in ``[low, high]``, or one of ``also`` (e.g. -1 for "never")."""
    kind, base = "int", int

    def __init__(self, low, high, also=()):
        super().__init__()
        self.low, self.high, self.also = int(low), int(high), tuple(also)

    def describe(self):
        core = f"an integer in [{self.low}, {self.high}]"
        return " or ".join([*map(str, self.also), core])

    def spec(self):
        return {"kind": self.kind, "low": self.low, "high": self.high, "also": list(self.also)}

    def __call__(self, value):
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                raise _error(f"invalid int value: {show(value)}") from None
        elif isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
            number = int(value)                  # a config file's 5.0
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise _error(f"must be {self.describe()}, got {show(value)}")
        if number in self.also or self.low <= number <= self.high:
            return number
        raise _error(f"must be {self.describe()}, got {show(value)}")


class Number(Rule):
    """A finite float in ``[low, high]`` (``low_open``, ``high_open``: that end excluded)."""
    kind, base = "float", float

    def __init__(self, low, high, low_open=False, high_open=False):
        super().__init__()
        self.low, self.high = float(low), float(high)
        self.low_open, self.high_open = low_open, high_open

    def describe(self):
        return (f"a finite number in {'(' if self.low_open else '['}{_num(self.low)}, "
                f"{_num(self.high)}{')' if self.high_open else ']'}")

    def spec(self):
        return {"kind": self.kind, "low": self.low, "high": self.high,
                "low_open": self.low_open, "high_open": self.high_open}

    def contains(self, x):
        return (math.isfinite(x) and (x > self.low if self.low_open else x >= self.low)
                and (x < self.high if self.high_open else x <= self.high))

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _error(f"must be {self.describe()}, got {show(value)}")
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            if isinstance(value, str):
                raise _error(f"invalid float value: {show(value)}") from None
            number = math.inf                    # an int too large for a float
        if not self.contains(number):
            raise _error(f"must be {self.describe()}, got {show(value)}")
        return number


class Choice(Rule):
    """One of ``choices`` (text); ``explain`` maps a refused value to a message."""
    kind = "choice"

    def __init__(self, choices, explain=None):
        super().__init__()
        self.choices, self.explain = tuple(choices), dict(explain or {})

    def describe(self):
        return "one of " + ", ".join(self.choices)

    def spec(self):
        return {"kind": self.kind, "choices": list(self.choices), "explain": self.explain}

    def __call__(self, value):
        if isinstance(value, str) and value in self.choices:
            return value
        if isinstance(value, str) and value in self.explain:
            raise _error(self.explain[value])
        raise _error(f"must be {self.describe()}, got {show(value)}")


class Text(Rule):
    """Any text (``empty``: whether '' is allowed), or text matching
    ``pattern``, described by ``what``; ``example``: a text it accepts."""
    kind = "text"

    def __init__(self, empty=True, pattern=None, what=None, example="x"):
        super().__init__()
        self.empty, self.pattern, self.what, self.example = empty, pattern, what, example

    def describe(self):
        return self.what or ("text" if self.empty else "a non-empty text")

    def spec(self):
        return {"kind": self.kind, "empty": self.empty, "pattern": self.pattern,
                "what": self.what, "example": self.example}

    def __call__(self, value):
        if not isinstance(value, str):
            raise _error(f"must be {self.describe()}, got {show(value)}")
        if (not value and not self.empty) or (
                self.pattern and not re.fullmatch(self.pattern, value)):
            raise _error(f"must be {self.describe()}, got {show(value)}")
        return value


# ------------------------------------------------------------------ paths
def is_stream(path):
    """Whether ``path`` is a character device or a pipe (``/dev/null``,
    ``/dev/stdout``, a FIFO): written to as it is, never replaced by a file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _check_writable_place(path, what):
    """Whether ``path`` (not there yet, or replaced) can be made: the
    nearest existing folder above it must be a writable folder."""
    above = _nearest_existing(os.path.dirname(os.path.abspath(path)))
    if not os.path.isdir(above):
        raise _error(f"cannot write {what} {path}: {above} is not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise _error(f"cannot write {what} {path}: {above} is not writable")


class Path(Rule):
    """A path, checked when it is parsed. ``role``: ``input file``,
    ``input folder``, ``output file``, ``output folder``. An output file
    may be limited to ``formats`` (extensions); no output file may replace
    one of a run's files. ``hint``: what to do about a missing input folder."""

    def __init__(self, role, formats=None, hint=None):
        super().__init__()
        self.kind, self.role, self.formats, self.hint = role, role, formats, hint

    def describe(self):
        if self.formats:
            return f"an {self.role} ({', '.join(self.formats[:3])}, ...)"
        return f"an {self.role}" if self.role[0] in "aeiou" else f"a {self.role}"

    def spec(self):
        return {"kind": self.kind, "formats": self.formats, "hint": self.hint}

    def __call__(self, value):
        if not isinstance(value, str) or not value.strip():
            raise _error(f"must name {self.describe()}, got {show(value)}")
        if "\0" in value:
            raise _error(f"must name {self.describe()}, got {show(value)}")
        role = self.role
        if role == "input file":
            if os.path.isdir(value):
                raise _error(f"{value} is a folder, not a file")
            if os.path.exists(value) and not os.path.isfile(value):
                raise _error(f"{value} is not a regular file (a device, a pipe, ...)")
            if not os.path.isfile(value):
                raise _error(f"no such file: {value}")
        elif role == "input folder":
            if os.path.exists(value) and not os.path.isdir(value):
                raise _error(f"{value} is a file, not a folder")
            if not os.path.isdir(value):
                raise _error(f"no such folder: {value}" + (f" ({self.hint})" if self.hint else ""))
        elif role == "output file":
            if os.path.isdir(value):
                raise _error(f"{value} is a folder; give a file name")
            if os.path.exists(value) and not (os.path.isfile(value) or is_stream(value)):
                raise _error(f"{value} exists and is not a regular file")
            name = os.path.basename(value)
            if name in RUN_FILE_NAMES:
                raise _error(f"{value} would replace a run's {name}; give another name")
            if self.formats and os.path.splitext(name)[1].lower() not in self.formats:
                raise _error(f"{value}: unknown file type; the name must end in "
                             f"{', '.join(self.formats)}")
            _check_writable_place(value, "the file")
        elif role == "output folder":
            if os.path.exists(value) and not os.path.isdir(value):
                raise _error(f"{value} exists and is not a folder")
            _check_writable_place(os.path.join(value, "x"), "into the folder")
        return value


def input_file():
    return Path("input file")


def input_folder(hint=None):
    """An existing folder; ``hint``: what to do when it is missing."""
    return Path("input folder", hint=hint)


def output_file(formats=None):
    return Path("output file", formats)


def image_file():
    return Path("output file", IMAGE_FORMATS)


def output_folder():
    return Path("output folder")


# ------------------------------------------------------------------ specs
def rule_from_spec(spec):
    """The rule that :meth:`Rule.spec` described."""
    kind = spec["kind"]
    if kind == "int":
        return Integer(spec["low"], spec["high"], spec.get("also", ()))
    if kind == "float":
        return Number(spec["low"], spec["high"], spec["low_open"], spec["high_open"])
    if kind == "choice":
        return Choice(spec["choices"], spec.get("explain"))
    if kind == "text":
        return Text(spec["empty"], spec.get("pattern"), spec.get("what"),
                    spec.get("example", "x"))
    return Path(kind, spec.get("formats"), spec.get("hint"))


def rule_of(action):
    """The rule of an argparse action: its type when that is a Rule, a
    Choice for ``choices``, None for a flag; ValueError for an option
    declared without a rule."""
    if isinstance(action.type, Rule):
        return action.type
    if action.choices is not None and action.type in (None, str):
        return Choice(action.choices)
    if action.nargs == 0:
        return None
    raise ValueError(f"option {'/'.join(action.option_strings) or action.dest} has no rule: "
                     "declare its type with attractors.rules (docs/options.md)")


# ------------------------------------------------------------------ where an option applies
class Applies:
    """When a config option means something (``--K`` with dtriv only):
    ``predicate(config)``, described by ``when``; ``counterexample`` is a
    setting under which it does not apply (for the tests). ``refuse``: given
    on the command line where it does not apply, it is an error (else a
    warning, and its default is kept)."""

    def __init__(self, when, predicate, counterexample, refuse=True):
        self.when, self.predicate, self.counterexample = when, predicate, counterexample
        self.refuse = refuse

    def __call__(self, config):
        return self.predicate(config)


def only_when(action, when, predicate, counterexample, refuse=True):
    """Mark the argparse ``action`` as applying only when ``predicate(config)``
    (see :class:`Applies`)."""
    action.applies = Applies(when, predicate, counterexample, refuse)
    return action


def only_for_tasks(action, *tasks):
    """Mark a script's option as meaning something for runs of ``tasks`` only."""
    action.tasks = tuple(tasks)
    return action
