"""How every script of the project ends: the one place that turns an error
into its one line on stderr and its exit status (docs/errors.md).

    if __name__ == "__main__":
        run_cli(main)

Exit status: 0 done; 1 a failure of the machine (a full disk, no memory);
2 anything the user typed or pointed at (an option, a file, a folder); 3 a
run that diverged; 130 interrupted (Ctrl-C). Output to a closed or broken
stdout/stderr (``>&-``, ``| head``) is dropped instead of failing.

Importing this module from a script of the project (before torch, so that
it covers the imports too) makes an uncaught Ctrl-C one line, exit 130.
"""
import errno
import os
import re
import signal
import sys


class CommandError(Exception):
    """Ends a command with a one-line message and the exit status ``code``."""
    code = 1


class UsageError(CommandError):
    """Bad input from the user: reported as one line, exit status 2."""
    code = 2


# An OSError with one of these is about a path the user gave (exit 2); the
# others (a full disk, an I/O error, no memory) are the machine's (exit 1).
USER_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
               errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTEMPTY,
               errno.EXDEV, errno.EINVAL}


def prog():
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "train.py"


def first_line(error):
    """The first line of an exception's message (its type's name if empty)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def fail(message, code, prefix="error: "):
    """Print ``PROG: error: message`` (its first line) on stderr and exit ``code``."""
    print(f"{prog()}: {prefix}{first_line(message)}", file=sys.stderr, flush=True)
    raise SystemExit(code) from None


def warn(message):
    """One line ``PROG: warning: message`` on stderr."""
    print(f"{prog()}: warning: {first_line(message)}", file=sys.stderr, flush=True)


def error_status(error):
    """``(message, exit status)`` of an exception that ends a command, or
    None for one that is a bug (it keeps its traceback)."""
    from .rules import show
    if isinstance(error, CommandError):
        return f"error: {first_line(error)}", error.code
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(error, MemoryError):
        return "error: out of memory; choose smaller sizes", 1
    if isinstance(error, RuntimeError) and (type(error).__name__ == "OutOfMemoryError"
                                            or "can't allocate memory" in str(error)):
        # PyTorch reports a failed CPU allocation as a plain RuntimeError
        size = re.search(r"allocate (\d+) bytes", str(error))
        what = f" allocating {int(size[1]) / 2 ** 30:.3g} GiB" if size else ""
        return f"error: out of memory{what}; choose smaller sizes", 1
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        text = f"error: {error.strerror or first_line(error)}{where}"
        return text, 2 if error.errno in USER_ERRNOS else 1
    environment = _environment_error(error)
    if environment:
        return f"error: {environment}", 2
    run_files = sys.modules.get("attractors.run_files")   # not imported: none was raised
    if run_files is not None and isinstance(error, run_files.RunFolderError):
        return f"error: {first_line(error)}", 2
    if isinstance(error, RecursionError):
        return f"error: input nested too deeply ({show(str(error))})", 2
    return None


def _environment_error(error):
    """The line for an error of the environment the user set, or None:
    matplotlib refuses to import with an MPLBACKEND it does not know."""
    if isinstance(error, ValueError) and str(error).startswith("Key backend:"):
        return (f"MPLBACKEND={os.environ.get('MPLBACKEND')!r} is not a backend matplotlib "
                "knows; unset it")
    return None


def run_cli(main, argv=None):
    """Run ``main(argv)`` as a command: its errors end in one line on stderr
    and the exit status of :func:`error_status`; a closed or broken stdout
    or stderr does not stop it. Returns what ``main`` returns."""
    saved = guard_streams()
    try:
        return main(argv)
    except SystemExit:
        raise
    except BaseException as e:   # noqa: B036 (KeyboardInterrupt too)
        known = error_status(e)
        if known is None:
            raise
        message, code = known
        print(f"{prog()}: {message}", file=sys.stderr, flush=True)
        raise SystemExit(code) from None
    finally:
        restore_streams(saved)


# ------------------------------------------------------------------ streams
class _SturdyStream:
    """A text stream that survives its reader going away: on a broken pipe
    (``| head``) or a closed descriptor it sends everything after to
    /dev/null (the descriptor too, so that nothing fails at exit)."""

    def __init__(self, stream, fd):
        self._stream, self._fd, self.broken = stream, fd, False

    def _drop(self):
        self.broken = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._fd)
            os.close(null)
        except OSError:
            pass
        self._stream = open(os.devnull, "w")

    def write(self, text):
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError, OSError) as e:
            if isinstance(e, OSError) and e.errno not in (errno.EPIPE, errno.EBADF, None):
                raise
            self._drop()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            if isinstance(e, OSError) and e.errno not in (errno.EPIPE, errno.EBADF, None):
                raise
            self._drop()

    def isatty(self):
        try:
            return self._stream.isatty()
        except (ValueError, OSError):
            return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _reopen_closed_descriptors():
    """Descriptors 0-2 closed by the caller (``>&-``) point to /dev/null
    again, so that a file this process opens never takes their number
    (where a child process or a C library would write into it)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def guard_streams():
    """Make stdout and stderr sturdy (see :class:`_SturdyStream`); returns
    what :func:`restore_streams` needs."""
    saved = (sys.stdout, sys.stderr)
    _reopen_closed_descriptors()
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if isinstance(stream, _SturdyStream):
            continue
        if stream is None:     # Python started with the descriptor closed
            stream = open(os.devnull, "w")
        setattr(sys, name, _SturdyStream(stream, fd))
    return saved


def restore_streams(saved):
    for name, stream in zip(("stdout", "stderr"), saved):
        current = getattr(sys, name)
        try:
            current.flush()
        except Exception:   # noqa: BLE001 (flushing a stream that is going away)
            pass
        if stream is not None and not getattr(current, "broken", False):
            setattr(sys, name, stream)


def output_closed():
    """Whether the reader of stdout went away (``| head`` has read enough)."""
    return bool(getattr(sys.stdout, "broken", False))


# ------------------------------------------------------------------ Ctrl-C
def _excepthook(kind, value, traceback, previous=sys.excepthook):
    environment = _environment_error(value)     # raised while the script imports
    if environment:
        print(f"{prog()}: error: {environment}", file=sys.stderr, flush=True)
        os._exit(2)
    if issubclass(kind, KeyboardInterrupt):
        try:
            print(f"{prog()}: interrupted", file=sys.stderr, flush=True)
            sys.stdout.flush()
        except Exception:   # noqa: BLE001 (a closed stream: the exit status says it)
            pass
        finally:
            os._exit(130)   # a hook cannot raise SystemExit
    previous(kind, value, traceback)


def _unraisablehook(info, previous=sys.unraisablehook):
    # A Ctrl-C that lands in an exit handler (atexit, a finaliser): the
    # command has already said why it stops.
    if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
        return
    previous(info)


def _started_as_project_script():
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main:
        return False
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    main = os.path.abspath(main)
    return os.path.commonpath([main, root]) == root and os.sep + "tests" + os.sep not in main


def _sigterm(signum, frame):
    raise KeyboardInterrupt


if _started_as_project_script():
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        sys.excepthook = _excepthook
        sys.unraisablehook = _unraisablehook
    # SIGTERM as Ctrl-C wherever no handler of the script's own takes it (a
    # training run's epochs, a sweep's jobs): one line and exit status 130,
    # not a silent death by the signal while a script imports or loads.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm)
