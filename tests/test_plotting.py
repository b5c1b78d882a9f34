import subprocess
import sys

import pytest
import torch

from conftest import ROOT, TINY_SINE, load_script, run_script, together

PLOT = str(ROOT / "plot_orbit_diagram.py")


@pytest.fixture(scope="module")
def orbit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("orbit") / "orbit_per_epoch_diagram.pth"
    torch.manual_seed(0)
    trajectory = torch.randn(20, 2, 3, 1, 6)
    # the old code saved exactly this: a dict of an int and a tensor
    torch.save({"frequency": 5, "trajectory": trajectory}, path)
    return path


def plot_subprocess(*args):
    return subprocess.run([sys.executable, PLOT, *map(str, args)], capture_output=True,
                          text=True, env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})


BAD_INDICES = [
    (["-n", "2"], "initial state -n 2 is out of range"),
    (["-i", "3"], "input -i 3 is out of range"),
    (["-j", "1"], "output -j 1 is out of range"),
    (["-ie", "6"], "no sample from -ie 6 to -fe -1"),
    (["-ie", "4", "-fe", "2"], "no sample from -ie 4 to -fe 2"),
    (["-b", "20"], "leaves no time step"),
]
KINDS = ["orbit1d", "orbit2d", "transient"]


@pytest.fixture(scope="module")
def plotted(orbit_file, tmp_path_factory):
    """plot_orbit_diagram.py run as a command (the checkout on PYTHONPATH) for
    each test below, all together: by name, the output path and the
    finished command."""
    out = tmp_path_factory.mktemp("plots")
    bad = out / "bad.pth"
    torch.save({"something": 1}, bad)
    cases = {f"type {kind}": (out / f"{kind}.png", [orbit_file, "-t", kind, "-b", "3", "-n",
                                                    "1", "-i", "2"]) for kind in KINDS}
    cases["pdf"] = (out / "o.pdf", [orbit_file, "-ie", "1", "-fe", "4"])
    cases.update({f"bad {k}": (out / f"x{k}.png", [orbit_file, *args])
                  for k, (args, _) in enumerate(BAD_INDICES)})
    cases["not an orbit file"] = (out / "x.png", [bad])
    calls = [lambda path=path, args=args: run_script("plot_orbit_diagram.py", *args, "-o", path)
             for path, args in cases.values()]
    # without -o and without a display: beside the file
    results = together(*calls, lambda: plot_subprocess(orbit_file, "-t", "transient"))
    done = {name: (path, result) for (name, (path, _)), result in zip(cases.items(), results)}
    done["no display"] = (None, results[-1])
    return done


@pytest.mark.parametrize("kind", KINDS)
def test_each_type_writes_an_image(plotted, kind):
    out, result = plotted[f"type {kind}"]
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pdf_and_epoch_range(plotted):
    out, result = plotted["pdf"]
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"%PDF"


def test_without_display_saves_beside_the_file(plotted, orbit_file):
    _, result = plotted["no display"]
    assert result.returncode == 0, result.stderr
    assert (orbit_file.parent / "orbit_diagram_transient.png").stat().st_size > 1000


@pytest.mark.parametrize("index", range(len(BAD_INDICES)),
                         ids=[f"args{k}-{m}" for k, (_, m) in enumerate(BAD_INDICES)])
def test_bad_indices_are_one_line_errors(plotted, index):
    out, result = plotted[f"bad {index}"]
    message = BAD_INDICES[index][1]
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("plot_orbit_diagram.py: error:")
    assert not out.exists()


def test_not_an_orbit_file(plotted):
    _, result = plotted["not an orbit file"]
    assert result.returncode == 2 and "is not an orbit file" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("plot_orbit_diagram.py:")


def test_x_axis_is_in_epochs(orbit_file):
    import matplotlib.pyplot as plt
    from attractors.plotting import plot_orbit
    from attractors.run_files import load_orbit_file
    trajectory, interval = load_orbit_file(orbit_file)
    fig, ax = plt.subplots()
    plot_orbit(ax, trajectory, interval, "orbit1d", initial=2)
    x = ax.collections[0].get_offsets()[:, 0]
    assert x.min() == 15 and x.max() == 30      # samples 2..5, every 5 epochs
    plt.close(fig)


def test_sine_history_and_generated_plots(sine, tmp_path):
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    history = load_script("sine-generator/plot_history.py")
    history.main([folder, "-o", str(tmp_path / "h.png")])
    generated = load_script("sine-generator/plot_generated.py")
    generated.main([folder, "-o", str(tmp_path / "g.png"), "--seq_len", "40"])
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert (tmp_path / "g.png").stat().st_size > 1000
