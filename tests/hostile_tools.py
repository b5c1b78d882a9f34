"""What the generated hostile suite (test_hostile_*.py) shares: every script
of the project, found by its ``__main__`` block; a script run as its command
line runs it, inside the test process; the hostile values of each rule; and
snapshots of what is already written."""
import contextlib
import io
import os
import runpy
import traceback
from pathlib import Path

from attractors.rules import BIG, Choice, Integer, Number, Path as PathRule, Text

ROOT = Path(__file__).resolve().parent.parent
NOT_SCRIPTS = ("tests", "attractors", "expRNN", "runs", "build")


def scripts():
    """Every script of the project (a file with a ``__main__`` block), as a
    path relative to the root: a new script is covered as soon as it exists."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in NOT_SCRIPTS or rel.parts[0].startswith((".", "output-")):
            continue
        if 'if __name__ == "__main__"' in path.read_text(encoding="utf-8"):
            found.append(str(rel))
    return found


class Result:
    def __init__(self, code, out, err, escaped):
        self.code, self.out, self.err, self.escaped = code, out, err, escaped

    @property
    def lines(self):
        return [line for line in self.err.splitlines() if line.strip()]

    def one_line(self, code=2):
        """The exit status is ``code`` and stderr one line, with no traceback;
        returns that line."""
        assert self.escaped is None, self.escaped
        assert self.code == code, (self.code, self.err[-2000:])
        assert len(self.lines) == 1 and "Traceback" not in self.err, self.err[-2000:]
        return self.lines[0]

    def __repr__(self):
        return f"Result(code={self.code}, err={self.err[-300:]!r})"


class _Closed(io.StringIO):
    """A stream whose reader went away: every write fails as a pipe would."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def run_command(relpath, *args, cwd=None, stdout="capture", stderr="capture"):
    """Run ``ROOT/relpath`` with ``args`` as ``python relpath args`` would,
    in this process: its ``__main__`` block runs with ``sys.argv`` set.
    ``stdout="closed"`` (or ``stderr``): its reader has gone away. Returns
    a Result; an exception that escaped the script (a traceback, for a
    user) is kept in ``escaped``."""
    from attractors.script_options import as_command
    out = _Closed() if stdout == "closed" else io.StringIO()
    err = _Closed() if stderr == "closed" else io.StringIO()
    code, escaped = 0, None
    old_cwd = os.getcwd()
    with as_command(ROOT / relpath, [str(a) for a in args]):
        try:
            if cwd is not None:
                os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                runpy.run_path(str(ROOT / relpath), run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:   # noqa: BLE001 (what a user would see as a traceback)
            escaped = traceback.format_exc()
            code = None
        finally:
            os.chdir(old_cwd)
    return Result(code, out.getvalue() if stdout != "closed" else "",
                  err.getvalue() if stderr != "closed" else "", escaped)


def snapshot(*folders):
    """Every file under ``folders``: its bytes, by path."""
    files = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                files[str(path)] = path.read_bytes()
    return files


# ------------------------------------------------------------------ hostile values
HUGE_INT = str(10 ** 30)
HUGE_DIGITS = "9" * 5000           # more digits than Python converts by default


def hostile_values(rule, world):
    """``(value, expected)`` pairs for an option of ``rule``: ``expected``
    is "refuse", "accept", or "range" (the rule's own declared range
    decides: zero and negative numbers). ``world`` holds paths of each
    kind (see :func:`make_world`)."""
    common = [("", "refuse")]
    if isinstance(rule, Integer):
        assert -10 ** 18 <= rule.low <= rule.high <= 10 ** 18, "an integer rule needs both bounds"
        return common + [("abc", "refuse"), ("1.5", "refuse"), ("1e3", "refuse"),
                         ("nan", "refuse"), ("inf", "refuse"), ("-inf", "refuse"),
                         (HUGE_INT, "refuse"), ("-" + HUGE_INT, "refuse"),
                         (HUGE_DIGITS, "refuse"), ("0", "range"), ("-1", "range"),
                         ("-7", "range"), (str(rule.low), "accept"), (str(rule.high), "accept"),
                         (str(rule.high + 1), "refuse"), (str(rule.low - 1), "range")]
    if isinstance(rule, Number):
        assert -1e18 <= rule.low <= rule.high <= 1e18, "a number rule needs both bounds"
        return common + [("abc", "refuse"), ("nan", "refuse"), ("NaN", "refuse"),
                         ("inf", "refuse"), ("-inf", "refuse"), ("1e400", "refuse"),
                         ("1e30", "refuse"), ("-1e30", "refuse"), (HUGE_DIGITS, "refuse"),
                         ("0", "range"), ("-1", "range"), ("-0.5", "range"), ("0x10", "refuse")]
    if isinstance(rule, Choice):
        return common + [("no-such-choice", "refuse"), ("0", "range"),
                         (rule.choices[0].upper() + "x", "refuse"), (rule.choices[0], "accept")]
    if isinstance(rule, Text):
        pairs = [("", "accept" if rule.empty and not rule.pattern else "refuse"),
                 ("x" * 10000, "range")]
        return pairs
    assert isinstance(rule, PathRule), rule
    role = rule.role
    if role == "input file":
        return common + [(world["missing"], "refuse"), (world["folder"], "refuse"),
                         (world["file"], "accept")]
    if role == "input folder":
        return common + [(world["missing"], "refuse"), (world["file"], "refuse"),
                         (world["folder"], "accept"), (world["under_file"], "refuse")]
    if role == "output file":
        pairs = common + [(world["folder"], "refuse"), (world["under_file"] + ".png", "refuse"),
                          (os.path.join(world["folder"], "model.pth"), "refuse"),
                          (os.path.join(world["folder"], "history.csv"), "refuse")]
        if rule.formats:
            pairs += [(world["new"] + ".xyz", "refuse"), (world["new"], "refuse"),
                      (world["new"] + ".txt", "refuse"), (world["new"] + ".png", "accept")]
        else:
            pairs += [(world["new"] + ".txt", "accept")]
        return pairs
    assert role == "output folder", role
    return common + [(world["file"], "refuse"), (world["under_file"], "refuse"),
                     (world["new"], "accept"), (world["folder"], "accept")]


def make_world(base):
    """Paths of each kind under ``base`` for :func:`hostile_values`."""
    base = Path(base)
    (base / "folder").mkdir(parents=True, exist_ok=True)
    (base / "file.txt").write_text("a file\n")
    return {"folder": str(base / "folder"), "file": str(base / "file.txt"),
            "missing": str(base / "missing" / "nothing"), "new": str(base / "new" / "thing"),
            "under_file": str(base / "file.txt" / "below")}


def valid_value(rule, world):
    """A value ``rule`` accepts (for the arguments around the one probed)."""
    if isinstance(rule, Integer):
        return str(max(rule.low, min(rule.high, 2)))
    if isinstance(rule, Number):
        return repr(min(rule.high, max(rule.low, 0.5))) if not rule.contains(0.5) else "0.5"
    if isinstance(rule, Choice):
        return rule.choices[0]
    if isinstance(rule, Text):
        return rule.example
    return {"input file": world["file"], "input folder": world["folder"],
            "output folder": world["new"],
            "output file": world["new"] + (".png" if rule.formats else ".txt")}[rule.role]


__all__ = ["BIG", "ROOT", "Result", "hostile_values", "make_world", "run_command", "scripts",
           "snapshot", "valid_value"]
