"""How a training run stops on a signal (docs/resuming.md).

Ctrl-C (SIGINT), SIGTERM and SIGUSR2 ask the run to stop at its next safe
point, with a checkpoint. A scheduler sends its signals in bursts: Slurm,
preempting a job or ending it at its time limit, sends SIGTERM, SIGCONT and
SIGTERM again within milliseconds, to every process of the job, and its
early warning (``--signal=USR2@90``) may reach them all too. Such a burst
asks once. A second signal that a person sends deliberately, a second
Ctrl-C or a SIGTERM more than :data:`BURST_S` seconds after the first,
stops the process at once: one line on stderr, exit status 130, even in the
middle of a long PyTorch operation (every run file is replaced atomically,
so what is on disk stays whole).

Python runs a signal handler only between two bytecodes, which may be long
after the signal arrived. So the arrival times are taken by a small thread
that reads the interpreter's wakeup file descriptor (the C-level handler
writes each signal's number there as it arrives), and that thread ends the
process when a deliberate second signal comes.
"""
import os
import signal
import sys
import threading
import time

BURST_S = 2.0   # signals within this many seconds of the first are one request


class StopSignals:
    """Ctrl-C, SIGTERM and SIGUSR2 turned into one stop request.

    ``on_request(name)`` runs in the main thread (as a signal handler) at
    the first signal; ``at_once(name)`` returns the line printed when a
    deliberate second signal ends the process (it runs in another thread).
    A signal that is ignored when :meth:`install` runs (SIGUSR2 in a
    sweep's train.py, whose job handles it) stays ignored.
    """

    def __init__(self, on_request, at_once):
        self.on_request, self.at_once = on_request, at_once
        self.requested = None           # the name of the first signal
        self._first = None              # its arrival (time.monotonic)
        self._previous, self._pipe, self._wakeup = {}, None, -1

    def install(self):
        """Take the signals (main thread only; elsewhere it does nothing and
        returns False, and the signals keep their handlers)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        numbers = [signal.SIGINT, signal.SIGTERM]
        if getattr(signal, "SIGUSR2", None) and \
                signal.getsignal(signal.SIGUSR2) is not signal.SIG_IGN:
            numbers.append(signal.SIGUSR2)
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._wakeup = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self._previous = {s: signal.signal(s, self._handler) for s in numbers}
        threading.Thread(target=self._watch, args=(read,), name="stop-signals",
                         daemon=True).start()
        return True

    def restore(self):
        """Give the signals back to their previous handlers."""
        if not self._previous or threading.current_thread() is not threading.main_thread():
            return
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self._wakeup)
        self._previous = {}
        os.close(self._pipe[1])         # the watcher reads end-of-file and ends

    def exiting(self):
        """The run stopped and its files are written: the process only has
        to exit. A scheduler's late SIGTERM or SIGUSR2 has nothing left to
        stop and would turn exit status 130 into death by a signal (Python
        gives the default actions back while it shuts down), so they are
        ignored from here on; a second Ctrl-C still ends it at once."""
        if threading.current_thread() is threading.main_thread():
            for s in self._previous:
                if s != signal.SIGINT:
                    signal.signal(s, signal.SIG_IGN)

    def _handler(self, signum, frame):
        if self.requested is None:
            self.requested = signal.Signals(signum).name
            self.on_request(self.requested)
        # later signals: the watcher decides

    def _watch(self, read):
        try:
            while True:
                data = os.read(read, 64)
                if not data:
                    return
                now = time.monotonic()
                for signum in data:
                    self._arrived(signum, now)
        finally:
            os.close(read)

    def _arrived(self, signum, now):
        if signum not in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGUSR2", None)):
            return
        if self._first is None:
            self._first = now
        elif signum == signal.SIGINT or (signum == signal.SIGTERM and
                                         now - self._first > BURST_S):
            self._stop_now(signal.Signals(signum).name)

    def _stop_now(self, name):
        try:
            line = self.at_once(name)
        except Exception:   # whatever went wrong, the process still stops
            line = "stopped at once"
        prog = os.path.basename(sys.argv[0]) or "python"
        text = f"{prog}: {line}\n"
        try:
            if sys.stderr.isatty():
                text = "\n" + text  # below a progress bar
        except (AttributeError, ValueError):   # no stderr, or closed
            pass
        try:
            os.write(2, text.encode(errors="replace"))
        finally:
            os._exit(130)
