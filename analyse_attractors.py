"""Fixed points, their stability, attractor types and Lyapunov exponents of a
trained run's recurrent layer under each constant input; with an orbit file,
the bifurcations of training (where the long-run behaviour changed and stayed).

    python analyse_attractors.py RUN_FOLDER [--n_starts 32] [-o OUT_DIR]
"""
import argparse
import json
import os
import warnings

import numpy as np
import pandas as pd
import torch

from attractors.api import NoFixedPointWarning, fixed_points, state_map
from attractors.dynamics import classify_trajectories
from attractors.orbit_analysis import bifurcation_report, format_groups
from attractors.options import (POSITIVE_FLOAT, SEED, OneLineParser, UsageError,
                                add_threads_option, run_cli, set_threads)
from attractors.run_files import (HISTORY_FILE, ORBIT_FILE, RunFolderError, load_orbit_file,
                                  read_history)
from attractors.tasks import load_run

# The task folders sit beside this script.
TASKS_HERE = [os.path.dirname(os.path.abspath(__file__))]


def build_parser():
    parser = OneLineParser(prog="analyse_attractors.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", help="training output folder")
    parser.add_argument("-o", "--output_dir", help="where to write the results (default: FOLDER)")
    parser.add_argument("--n_starts", type=int, default=32,
                        help="random initial states per input (for fixed points and trajectories)")
    parser.add_argument("--std", type=POSITIVE_FLOAT, default=None,
                        help="standard deviation of the initial states (default: the run's "
                             "std_orbit, capped at 10)")
    parser.add_argument("--steps", type=int, default=2000, help="steps simulated per trajectory")
    parser.add_argument("--record", type=int, default=400,
                        help="last steps examined for periodicity")
    parser.add_argument("--lyapunov_steps", type=int, default=500,
                        help="steps averaged for the Lyapunov exponent")
    parser.add_argument("--newton_steps", type=int, default=50, help="Newton iterations")
    parser.add_argument("--word_ids", type=int, nargs="+", default=[0, 1],
                        help="language model: word ids used as constant inputs")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the initial states")
    parser.add_argument("--trust_pickle", action="store_true",
                        help="load a model.pth of the original code (pickled objects)")
    add_threads_option(parser)
    return parser


def analyse_inputs(model, inputs, args, std):
    """Per input: the starts' map, the fixed points (from the starts and from
    where their trajectories end, every input in one batch) and the attractor
    reached from every start."""
    generator = torch.Generator().manual_seed(args.seed)
    maps = [state_map(model.rnn, u) for u in inputs]
    starts = torch.stack([fmap.random_states(args.n_starts, std, generator) for fmap in maps])
    with warnings.catch_warnings():  # an input without fixed points shows as 0 in the table
        warnings.simplefilter("ignore", NoFixedPointWarning)
        points = fixed_points(model.rnn, inputs, starts=starts, settle=args.steps,
                              newton_steps=args.newton_steps)
    for fmap, start, found in zip(maps, starts, points):
        kinds = classify_trajectories(fmap, start, args.steps, args.record,
                                      lyapunov_steps=args.lyapunov_steps)
        yield fmap, found, kinds


def main(argv=None):
    args = build_parser().parse_args(argv)
    if min(args.n_starts, args.steps, args.lyapunov_steps) < 1 or not 1 < args.record <= args.steps:
        raise UsageError("--n_starts, --steps, --lyapunov_steps must be positive and "
                         "1 < --record <= --steps")
    set_threads(args.threads)
    try:
        task, model, saved = load_run(args.folder, TASKS_HERE, trust_pickle=args.trust_pickle)
        labels, inputs = task.constant_inputs(model, saved["config"], args)
        orbit_path = os.path.join(args.folder, ORBIT_FILE)
        # read before anything is written, so that a bad one leaves no half results
        orbit = load_orbit_file(orbit_path) if os.path.isfile(orbit_path) else None
        history = (read_history(args.folder)
                   if os.path.isfile(os.path.join(args.folder, HISTORY_FILE)) else None)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    out = args.output_dir or args.folder
    os.makedirs(out, exist_ok=True)
    std = args.std if args.std is not None else min(saved["config"].get("std_orbit", 1.0), 10.0)
    rows, point_rows = [], []
    for label, (fmap, points, kinds) in zip(labels, analyse_inputs(model, inputs, args, std)):
        lyap = [k["lyapunov"] for k in kinds]
        counts = pd.Series([k["kind"] for k in kinds]).value_counts().to_dict()
        periods = sorted({k["period"] for k in kinds if k["period"] > 1})
        rows.append({"input": label, "fixed points": len(points),
                     "stable fixed points": sum(p["stable"] for p in points),
                     **{kind: counts.get(kind, 0) for kind in
                        ("fixed point", "periodic", "quasi-periodic", "chaotic")},
                     "periods": " ".join(map(str, periods)),
                     "max lyapunov": max(lyap), "mean lyapunov": float(np.mean(lyap))})
        for k, p in enumerate(points):
            point_rows.append({"input": label, "point": k, "stable": p["stable"],
                               "spectral radius": p["spectral_radius"], "residual": p["residual"],
                               "output": " ".join(f"{v:.6g}" for v in fmap.output(p["x"]).tolist())})
    summary = pd.DataFrame(rows)
    summary.to_csv(os.path.join(out, "attractors.csv"), index=False)
    pd.DataFrame(point_rows).to_csv(os.path.join(out, "fixed_points.csv"), index=False)
    print(summary.to_string(index=False))
    result = {"run": os.path.abspath(args.folder), "epoch": saved["epoch"],
              "per_input": rows, "fixed_points": point_rows}
    if orbit is not None:
        report = bifurcation_report(*orbit, history)
        report.changes.to_csv(os.path.join(out, "bifurcations.csv"), index=False)
        report.groups.to_csv(os.path.join(out, "main_bifurcations.csv"), index=False)
        result["bifurcations"] = report.changes.to_dict(orient="records")
        result["persistent_changes"] = report.persistent.to_dict(orient="records")
        result["main_bifurcations"] = report.groups.to_dict(orient="records")
        result["oscillation_birth"] = report.oscillation_birth
        print(f"\n{len(report.groups)} bifurcation(s) in the orbit file: long-run behaviour "
              f"that changed and stayed, grouped across inputs, strongest first "
              f"(main_bifurcations.csv; the {len(report.changes)} changes from one sample "
              f"to the next are in bifurcations.csv)")
        print(format_groups(report.groups))
        birth = report.oscillation_birth
        print("an oscillation is born at epoch " + str(birth) if birth is not None
              else "no oscillation is born")
    with open(os.path.join(out, "attractors.json"), "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"\nWrote attractors.csv, fixed_points.csv, attractors.json"
          f"{', bifurcations.csv, main_bifurcations.csv' if orbit is not None else ''} to {out}")


if __name__ == "__main__":
    run_cli(main)
