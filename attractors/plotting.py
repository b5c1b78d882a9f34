"""Orbit (bifurcation) diagrams from an orbit file (SPEC section 10)."""
import os
import sys

import numpy as np
import torch

ORBIT_TYPES = ("orbit1d", "orbit2d", "transient")


class OrbitFileError(ValueError):
    """An orbit file that cannot be read or has the wrong layout."""


def use_headless_backend_if_needed(output):
    """Draw off-screen when saving to a file or when there is no display."""
    import matplotlib
    no_display = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if output or no_display:
        matplotlib.use("Agg")


def load_orbit(path):
    """``(trajectory as a NumPy array, frequency)`` from an orbit file,
    written by this project or by the old code."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise OrbitFileError(f"no such orbit file: {path}") from None
    except Exception as e:  # pickle, zip and weights_only errors all land here
        raise OrbitFileError(f"cannot read orbit file {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not {"frequency", "trajectory"} <= set(data):
        raise OrbitFileError(f"{path} is not an orbit file (needs keys 'frequency' and 'trajectory')")
    trajectory = data["trajectory"]
    if not isinstance(trajectory, torch.Tensor) or trajectory.dim() != 5:
        raise OrbitFileError(f"{path}: 'trajectory' must be a 5-D tensor "
                             "(seq_len, n_seq, n_inputs, n_outputs, n_samples)")
    if trajectory.shape[-1] == 0:
        raise OrbitFileError(f"{path} holds no orbit sample yet")
    return trajectory.detach().float().numpy(), int(data["frequency"])


def sample_epochs(n_samples, frequency):
    """Training epochs completed at each sample (sample k after epoch (k+1)N)."""
    return (np.arange(n_samples) + 1) * frequency


def resolve_index(value, size, name):
    """A Python-style index (negative counts from the end), checked."""
    if not -size <= value < size:
        raise IndexError(f"{name} {value} is out of range: there are {size}")
    return value % size


def plot_orbit(ax, trajectory, frequency, kind="orbit1d", n=0, i=0, j=0,
               initial=0, final=-1, burnout=0, alpha=0.15):
    """Draw one diagram on ``ax`` (a 3-D axis for ``orbit2d``).

    ``initial``/``final`` select samples by index, both included; ``final``
    -1 is the last sample. ``burnout`` drops further time steps.
    """
    steps, n_seq, n_in, n_out, n_samples = trajectory.shape
    n = resolve_index(n, n_seq, "initial state -n")
    i = resolve_index(i, n_in, "input -i")
    j = resolve_index(j, n_out, "output -j")
    first = resolve_index(initial, n_samples, "initial sample -ie")
    last = resolve_index(final, n_samples, "final sample -fe")
    if not 0 <= burnout < steps - (1 if kind == "orbit2d" else 0):
        raise IndexError(f"burnout -b {burnout} leaves no time step (there are {steps})")
    values = trajectory[burnout:, n, i, j, :]            # (time, samples)
    epochs = sample_epochs(n_samples, frequency)
    if kind == "transient":
        ax.plot(np.arange(burnout, steps), values[:, last])
        ax.set_title(f"epoch {epochs[last]}")
        ax.set_xlabel("t")
        ax.set_ylabel("x")
        return ax
    if first > last:
        raise IndexError(f"initial sample {initial} comes after final sample {final}")
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


def save_figure(fig, output, dpi=150):
    """Save ``fig`` to ``output``, creating its folder; one-line error on failure."""
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(output, dpi=dpi)
    print(f"Saved {output}")
    import matplotlib.pyplot as plt
    plt.close(fig)  # scripts called in a loop (figures/, tests) would pile them up


def history_command(description, argv=None, prog="plot_history.py"):
    """The shared command line of the tasks' plot_history.py scripts:
    ``FOLDER [-o FILE]``. Returns ``(history, args)`` with ``args.output``
    filled in; a folder without a history ends in a one-line error."""
    import argparse
    from .runs import RunFolderError, read_history
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("folder", help="training output folder")
    parser.add_argument("-o", "--output", help="image file (default: FOLDER/history.png)")
    args = parser.parse_args(argv)
    try:
        history = read_history(args.folder)
    except RunFolderError as e:
        sys.exit(f"{prog}: error: {e}")
    args.output = args.output or os.path.join(args.folder, "history.png")
    return history, args
