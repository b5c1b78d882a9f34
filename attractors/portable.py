"""``--portable_numerics``: the same numbers on any x86-64 CPU with AVX2.

PyTorch's CPU arithmetic goes through three libraries that each pick code
for the CPU they find, and different code rounds differently: MKL (matrix
products), oneDNN (the LSTM, GRU and RNN layers) and PyTorch's own
vectorised kernels (ATen). Environment variables read when PyTorch loads pin
each of them to one code path: MKL's conditional numerical reproducibility
(``MKL_CBWR=COMPATIBLE``, the one branch Intel documents as giving the same
results on Intel and other x86 CPUs), and oneDNN and ATen held to AVX2. A
run started with them repeats bit for bit on another machine with AVX2 and
FMA (Intel since 2013, AMD since 2015), given the same software, options and
``--threads``. See docs/reproducibility.md for what it costs.

The variables must be set before PyTorch loads, so the option restarts the
process (``os.execve``) with them when they are not set already.
"""
import argparse
import os
import sys

PORTABLE_ENV = {"MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2",
                "ATEN_CPU_CAPABILITY": "avx2"}
OPTION = "--portable_numerics"


def is_portable(env=None):
    """Whether ``env`` (default: this process's) pins the libraries."""
    env = os.environ if env is None else env
    return all(env.get(k) == v for k, v in PORTABLE_ENV.items())


def portable_env(env=None):
    """``env`` (default: this process's) with the pinned settings."""
    return {**(os.environ if env is None else env), **PORTABLE_ENV}


def restart_portable():
    """Run this process's command again in a process whose environment pins
    the libraries (this process is replaced; nothing returns). The option
    must be on the real command line, where the new process will see it."""
    from .options import UsageError
    # as typed, or abbreviated (argparse took "--portable" for it)
    given = [a.split("=")[0] for a in sys.argv[1:] if a.startswith("--")]
    if not any(len(a) > 2 and OPTION.startswith(a) for a in given):
        raise UsageError(f"{OPTION} restarts the process with its settings, so it must be "
                         "given on the command line (or set them in the environment: "
                         + " ".join(f"{k}={v}" for k, v in PORTABLE_ENV.items()) + ")")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, getattr(sys, "orig_argv", [sys.executable, *sys.argv]),
              portable_env())


class PortableAction(argparse.Action):
    """The flag: where the environment does not pin the libraries yet,
    restart with it; else one thread unless ``--threads`` says otherwise
    (a thread count that follows the machine's cores would change the sums)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if not is_portable():
            restart_portable()
        setattr(namespace, self.dest, True)
        if getattr(namespace, "threads", None) == 0:
            namespace.threads = 1


def add_portable_option(group):
    group.add_argument(OPTION, action=PortableAction,
                       help="the same numbers on any x86-64 CPU with AVX2: pin MKL, oneDNN "
                            "and PyTorch's kernels to one code path ("
                            + ", ".join(f"{k}={v}" for k, v in PORTABLE_ENV.items())
                            + "; the process restarts with them) and use one thread unless "
                              "--threads says otherwise; slower, see docs/reproducibility.md")
