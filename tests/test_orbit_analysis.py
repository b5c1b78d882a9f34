import numpy as np

from conftest import TINY_SINE, run_script
from attractors.orbit_analysis import bifurcation_epochs, classify, summarise


def logistic(r, steps, x0=0.3):
    x = np.empty(steps)
    x[0] = x0
    for t in range(1, steps):
        x[t] = r * x[t - 1] * (1 - x[t - 1])
    return x


def make_file(steps=60):
    """3 initial states x 2 inputs x 1 output x 4 samples with known behaviour."""
    traj = np.zeros((steps, 3, 2, 1, 4))
    t = np.arange(steps)
    # input 0: fixed point (sample 0), period 2 (1), period 3 (2), chaos (3)
    traj[:, :, 0, 0, 0] = 0.5
    traj[:, :, 0, 0, 1] = np.where(t % 2 == 0, 0.2, 0.8)[:, None]
    traj[:, :, 0, 0, 2] = np.array([0.1, 0.5, 0.9])[t % 3][:, None]
    for s in range(3):
        traj[:, s, 0, 0, 3] = logistic(3.9, steps + 100, 0.2 + 0.1 * s)[100:]
    # input 1: one fixed point, then two (bistable), then two, then one
    traj[:, :, 1, 0, 0] = 0.3
    traj[:, :, 1, 0, 1] = np.array([-1.0, 1.0, 1.0])
    traj[:, :, 1, 0, 2] = np.array([-1.0, 1.0, -1.0])
    traj[:, :, 1, 0, 3] = 0.7
    return traj.astype(np.float32)


def test_periods_are_found():
    periods = classify(make_file())
    assert (periods[:, 0, 0] == 1).all()
    assert (periods[:, 0, 1] == 2).all()
    assert (periods[:, 0, 2] == 3).all()
    assert (periods[:, 0, 3] == 0).all()      # the logistic map at r = 3.9 is chaotic
    assert (periods[:, 1, :] == 1).all()


def test_quasi_periodic_is_aperiodic_and_nan_is_not_settled():
    t = np.arange(200)
    traj = np.sin(2 * np.pi * t / (10 * np.sqrt(2)))[:, None, None, None, None]  # irrational period
    assert classify(traj.astype(np.float32))[0, 0, 0] == 0
    traj = np.full((20, 1, 1, 1, 1), np.nan)
    assert classify(traj)[0, 0, 0] == 0


def test_summary_and_bifurcation_epochs():
    summary = summarise(make_file(), interval=10)
    assert list(summary.loc[summary.input == 1, "distinct_fixed_points"]) == [1, 2, 2, 1]
    assert list(summary.loc[summary.input == 0, "epoch"]) == [10, 20, 30, 40]
    changes = bifurcation_epochs(summary)
    assert list(changes.loc[changes.input == 0, "epoch"]) == [20, 30, 40]
    assert list(changes.loc[changes.input == 1, "epoch"]) == [20, 40]
    first = changes.iloc[0]
    assert first.change == "1 fixed point -> period 2"


def test_training_dynamics_figure(sine, tmp_path):
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    result = run_script("plot_training_dynamics.py", folder, "-o", tmp_path / "d.png", "-i", "3")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d.png").stat().st_size > 1000
    assert "candidate bifurcation" in result.stdout
    for args, message in [([folder, "-i", "10"], "input -i 10 is out of range"),
                          ([tmp_path], "has no history.csv")]:
        result = run_script("plot_training_dynamics.py", *args, "-o", tmp_path / "e.png")
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("plot_training_dynamics.py: error:")
        assert message in result.stderr
        assert not (tmp_path / "e.png").exists()
