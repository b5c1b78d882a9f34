import numpy as np
import pandas as pd

from conftest import TINY_SINE, run_script
from attractors.orbit_analysis import (BORN, LOST, bifurcation_epochs, bifurcation_report, classify,
                                       format_groups, oscillation_birth, read_bifurcations,
                                       summarise)


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
    assert "bifurcation(s) for input 3" in result.stdout
    for args, message in [([folder, "-i", "10"], "input -i 10 is out of range"),
                          ([tmp_path], "has no history.csv")]:
        result = run_script("plot_training_dynamics.py", *args, "-o", tmp_path / "e.png")
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("plot_training_dynamics.py: error:")
        assert message in result.stderr
        assert not (tmp_path / "e.png").exists()


# ------------------------------------------------------------------ bifurcations
def regime_block(kind, steps, n_seq, rng):
    """``(steps, n_seq)`` trajectories of one kind, jittered below the tolerance."""
    t = np.arange(steps)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n_seq)
    values = {"fixed": np.full((steps, n_seq), 0.3 + rng.normal(0, 0.01)),
              "two fixed": np.tile(np.array([-1.0, -1.0, 1.0, 1.0])[:n_seq], (steps, 1)),
              "cycle": np.sin(2 * np.pi * t / (10 * np.sqrt(2)) + phase),
              "period 2": np.where(t % 2 == 0, 0.2, 0.8) + 0 * phase}[kind]
    return values + rng.normal(0, 1e-7, values.shape)


def synthetic_file(plan, samples=60, steps=60, n_seq=4, flips=6, seed=0):
    """An orbit file whose input i follows ``plan[i]``, a list of
    ``(first sample, kind)``, plus ``flips`` one-sample excursions to another
    kind per input, kept 3 samples away from the planned changes."""
    rng = np.random.default_rng(seed)
    traj = np.zeros((steps, n_seq, len(plan), 1, samples))
    for i, changes in enumerate(plan):
        kinds = [None] * samples
        for (start, kind), (end, _) in zip(changes, changes[1:] + [(samples, None)]):
            kinds[start:end] = [kind] * (end - start)
        starts = [s for s, _ in changes]
        quiet = [k for k in range(samples) if all(abs(k - s) > 3 for s in starts)]
        for k in rng.choice(quiet, flips, replace=False):
            kinds[k] = "cycle" if kinds[k] != "cycle" else "fixed"
        for k, kind in enumerate(kinds):
            traj[:, :, i, 0, k] = regime_block(kind, steps, n_seq, rng)
    return traj.astype(np.float32)


PLAN = [[(0, "fixed"), (20, "cycle")],
        [(0, "fixed"), (30, "two fixed"), (45, "period 2")],
        [(0, "fixed"), (21, "cycle")]]


def test_persistent_bifurcations_are_found_through_the_noise():
    report = bifurcation_report(synthetic_file(PLAN), interval=5)
    assert len(report.changes) > 30            # every flip is a raw change
    found = [(r.input, r.epoch, r.kind) for r in report.persistent.itertuples()]
    assert found == [(0, 105, BORN), (2, 110, BORN), (1, 155, "fixed points changed"),
                     (1, 230, BORN)]
    assert list(report.persistent["change"])[:3] == [
        "1 fixed point -> oscillating", "1 fixed point -> oscillating",
        "1 fixed point -> 2 fixed points"]
    groups = report.groups
    assert report.epochs == [105, 155, 230]    # the two-input birth first
    assert list(groups["inputs"]) == [2, 1, 1] and list(groups["input_list"])[0] == "0 2"
    assert (groups.iloc[0]["first"], groups.iloc[0]["last"]) == (105, 110)
    assert report.oscillation_birth == 105
    assert report.input_epochs(1) == [155, 230]
    # persist=1 takes every flip as a bifurcation
    assert len(bifurcation_report(synthetic_file(PLAN), 5, persist=1).persistent) > 30


def test_a_flickering_birth_and_an_oscillation_lost_and_found_again():
    traj = synthetic_file([[(0, "fixed"), (10, "cycle"), (11, "fixed"), (12, "cycle"),
                            (13, "fixed"), (14, "cycle"), (30, "fixed"), (40, "cycle")]] * 2,
                          flips=0)
    report = bifurcation_report(traj, interval=1)
    first = report.persistent.iloc[0]
    assert (first.first_seen, first.epoch, first.samples) == (11, 15, 16)
    assert list(report.groups["kind"]) == [BORN, LOST, BORN]
    assert report.oscillation_birth == 41      # the oscillation the network keeps
    nothing = bifurcation_report(synthetic_file([[(0, "fixed")]], flips=0), 1)
    assert nothing.groups.empty and nothing.oscillation_birth is None


def test_read_bifurcations_of_a_run_folder(tmp_path):
    import torch
    from attractors.run_files import save_orbit_file
    save_orbit_file(str(tmp_path / "orbit_per_epoch_diagram.pth"),
                    torch.from_numpy(synthetic_file(PLAN)), 5)
    epochs = np.arange(300)
    loss = np.where(epochs < 105, 0.5, 0.01)
    pd.DataFrame({"epoch": epochs, "loss": loss}).to_csv(tmp_path / "history.csv")
    report = read_bifurcations(str(tmp_path))
    birth = report.groups.iloc[0]
    assert (birth.loss_before, birth.loss_after) == (0.5, 0.01)
    assert oscillation_birth(str(tmp_path)) == 105
    assert "oscillation born" in format_groups(report.groups)
