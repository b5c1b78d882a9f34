"""Drawing: orbit (bifurcation) diagrams, the training-dynamics figure
(loss above orbit diagram), saving figures, and the tasks' history plots."""
import os
import sys

import numpy as np

ORBIT_TYPES = ("orbit1d", "orbit2d", "transient")


def use_headless_backend_if_needed(output):
    """Draw off-screen when saving to a file or when there is no display."""
    import matplotlib
    no_display = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if output or no_display:
        matplotlib.use("Agg")


def sample_epochs(n_samples, interval):
    """Training epochs completed at each sample (sample k after epoch (k+1)N)."""
    return (np.arange(n_samples) + 1) * interval


def resolve_index(value, size, name):
    """A Python-style index (negative counts from the end), checked."""
    if not -size <= value < size:
        raise IndexError(f"{name} {value} is out of range: there are {size}")
    return value % size


def sample_range(n_samples, initial=0, final=-1):
    """The samples ``initial`` to ``final`` as the original plotter chose
    them: ``final`` is excluded, a value past the end means the end and a
    negative one means "through the last sample"; ``initial`` is a Python
    index (negative counts from the end). Returns ``(first, last)``, both
    included; an empty range is an IndexError."""
    stop = n_samples if final < 0 else min(final, n_samples)
    first = range(n_samples)[slice(initial, None)].start if -n_samples <= initial else 0
    if first >= stop:
        raise IndexError(f"no sample from -ie {initial} to -fe {final} (end excluded): "
                         f"there are {n_samples}")
    return first, stop - 1


def plot_orbit(ax, trajectory, interval, kind="orbit1d", n=0, i=0, j=0,
               initial=0, final=-1, burnout=0, alpha=0.15):
    """Draw one diagram on ``ax`` (a 3-D axis for ``orbit2d``).

    ``initial``/``final`` select samples as the original plotter did (see
    :func:`sample_range`; the defaults draw them all); ``transient`` draws
    the last selected sample. ``burnout`` drops further time steps.
    """
    steps, n_seq, n_in, n_out, n_samples = trajectory.shape
    n = resolve_index(n, n_seq, "initial state -n")
    i = resolve_index(i, n_in, "input -i")
    j = resolve_index(j, n_out, "output -j")
    first, last = sample_range(n_samples, initial, final)
    if not 0 <= burnout < steps - (1 if kind == "orbit2d" else 0):
        raise IndexError(f"burnout -b {burnout} leaves no time step (there are {steps})")
    values = trajectory[burnout:, n, i, j, :]            # (time, samples)
    epochs = sample_epochs(n_samples, interval)
    if kind == "transient":
        ax.plot(np.arange(burnout, steps), values[:, last])
        ax.set_title(f"epoch {epochs[last]}")
        ax.set_xlabel("t")
        ax.set_ylabel("x")
        return ax
    chosen = slice(first, last + 1)
    x = values[:, chosen]
    ep = np.broadcast_to(epochs[chosen], x.shape)
    style = dict(c=ep.ravel(), cmap="hsv", vmin=0, vmax=epochs[last], s=20, marker=".",
                 alpha=alpha, rasterized=True, linewidths=0)
    if kind == "orbit1d":
        ax.scatter(ep.ravel(), x.ravel(), **style)
    elif kind == "orbit2d":
        diff = x[1:] - x[:-1]
        style["c"] = ep[:-1].ravel()
        ax.scatter(ep[:-1].ravel(), x[:-1].ravel(), diff.ravel(), **style)
        ax.set_zlabel("dx")
        ax.set_box_aspect(None, zoom=0.85)  # keep the z label inside the figure
    else:
        raise ValueError(f"unknown diagram type {kind!r}; choose from {ORBIT_TYPES}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("x")
    return ax


def save_figure(fig, output, dpi=150, quiet=False):
    """Save ``fig`` to ``output`` (an image file name), creating its folder,
    whole or not at all; one-line errors (exit 2 for a name or folder that
    cannot be used, 1 for a full disk)."""
    from .atomic import atomic_write
    from .command import USER_ERRNOS, CommandError, UsageError
    from .options import check_path
    from .rules import image_file
    import matplotlib.pyplot as plt
    try:
        check_path(image_file(), output, "cannot save the figure")
        kind = os.path.splitext(output)[1][1:].lower()
        atomic_write(output, lambda f: fig.savefig(f, dpi=dpi, format=kind), make_folders=True)
    except OSError as e:
        error = UsageError if e.errno in USER_ERRNOS else CommandError
        raise error(f"cannot save {output}: {e.strerror or e}") from None
    except ValueError as e:   # matplotlib: a figure too large for this dpi, say
        raise UsageError(f"cannot save {output}: {e}") from None
    finally:
        plt.close(fig)
    if not quiet:
        print(f"Saved {output}")


def history_command(description, argv=None, prog="plot_history.py", columns=()):
    """The shared command line of the tasks' plot_history.py scripts:
    ``FOLDER [-o FILE]``. Returns ``(history, args)`` with ``args.output``
    filled in; a folder without a history holding ``columns`` of numbers
    raises a UsageError (run the script through ``run_cli``)."""
    from .options import OneLineParser, UsageError, check_path
    from .rules import image_file, input_folder
    from .run_files import RunFolderError, read_history
    parser = OneLineParser(prog=prog, description=description)
    parser.add_argument("folder", type=input_folder(), help="training output folder")
    parser.add_argument("-o", "--output", type=image_file(),
                        help="image file (default: FOLDER/history.png)")
    args = parser.parse_args(argv)
    try:
        history = read_history(args.folder, columns, rows=True)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    args.output = args.output or os.path.join(args.folder, "history.png")
    check_path(image_file(), args.output, "cannot save the figure")
    return history, args


def training_dynamics(history, trajectory, interval, n=0, i=0, j=0, burnout=0, alpha=0.3,
                      rtol=1e-3, marks=True, title=None, report=None):
    """The loss history above the orbit diagram of output ``j`` for input
    ``i`` and initial state ``n``, on one epoch axis; with ``marks``, the
    epochs where the long-run behaviour under that input changed and stayed
    changed (the input's persistent changes in ``report``, an
    :class:`attractors.orbit_analysis.BifurcationReport`, computed here with
    ``rtol`` when not given) as dashed lines. Returns ``(figure, marked epochs)``."""
    import matplotlib.pyplot as plt
    from .orbit_analysis import bifurcation_report
    epoch_column = history.columns[0]  # 'epoch' or 'Epoch'
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 6),
                                      gridspec_kw={"height_ratios": [1, 2]})
    for column in [c for c in history.columns if "loss" in c.lower()]:
        top.semilogy(history[epoch_column] + 1, history[column], label=column)
    top.set_ylabel("loss")
    top.legend(loc="upper right", fontsize="small")
    try:
        plot_orbit(bottom, trajectory, interval, "orbit1d", n=n, i=i, j=j, burnout=burnout,
                   alpha=alpha)
    except IndexError:
        plt.close(fig)
        raise
    bottom.set_xlabel("epochs trained")
    epochs = []
    if marks:
        report = report or bifurcation_report(trajectory, interval, rtol=rtol)
        epochs = report.input_epochs(i % trajectory.shape[2])
        for ax in (top, bottom):
            for epoch in epochs:
                ax.axvline(epoch, color="k", lw=0.6, ls="--", alpha=0.5)
    if title:
        top.set_title(title)
    fig.tight_layout()
    return fig, epochs
