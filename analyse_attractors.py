"""Fixed points, their stability, attractor types and Lyapunov exponents of a
trained run's recurrent layer under each constant input; with an orbit file,
the bifurcations of training (where the long-run behaviour changed and stayed).

    python analyse_attractors.py RUN_FOLDER [--n_starts 32] [-o OUT_DIR]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (BIG, SEED, Integer, Number, OneLineParser, UsageError,
                                add_threads_option, check_memory, check_task_options,
                                input_folder, output_folder, run_cli, set_threads)
from attractors.rules import only_for_tasks
import argparse
import json
import os
import warnings

import numpy as np
import pandas as pd
import torch

from attractors.api import NoFixedPointWarning, fixed_points, state_map
from attractors.atomic import atomic_write
from attractors.dynamics import classify_trajectories
from attractors.orbit_analysis import bifurcation_report, format_groups
from attractors.run_files import (HISTORY_FILE, ORBIT_FILE, RunFolderError, load_orbit_file,
                                  read_history)
from attractors.tasks import load_run

# The task folders sit beside this script.
TASKS_HERE = [os.path.dirname(os.path.abspath(__file__))]


def build_parser():
    parser = OneLineParser(prog="analyse_attractors.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", type=input_folder(), help="training output folder")
    parser.add_argument("-o", "--output_dir", type=output_folder(),
                        help="where to write the results (default: FOLDER)")
    parser.add_argument("--n_starts", type=Integer(1, 10 ** 6), default=32,
                        help="random initial states per input (for fixed points and trajectories)")
    parser.add_argument("--std", type=Number(0, 1e6, low_open=True), default=None,
                        help="standard deviation of the initial states (default: the run's "
                             "std_orbit, capped at 10)")
    parser.add_argument("--steps", type=Integer(2, BIG), default=2000,
                        help="steps simulated per trajectory")
    parser.add_argument("--record", type=Integer(2, BIG), default=400,
                        help="last steps examined for periodicity (at most --steps)")
    parser.add_argument("--lyapunov_steps", type=Integer(1, BIG), default=500,
                        help="steps averaged for the Lyapunov exponent")
    parser.add_argument("--newton_steps", type=Integer(0, 10 ** 6), default=50,
                        help="Newton iterations")
    only_for_tasks(parser.add_argument("--word_ids", type=Integer(0, BIG), nargs="+",
                                       default=[0, 1],
                                       help="language model: word ids used as constant inputs"),
                   "word-language-model")
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


def write_text(path, text):
    """Write ``path`` whole or not at all (a Ctrl-C leaves the previous file)."""
    atomic_write(path, lambda f: f.write(text.encode()))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.record > args.steps:
        raise UsageError(f"--record ({args.record}) must be at most --steps ({args.steps})")
    set_threads(args.threads)
    try:
        task, model, saved = load_run(args.folder, TASKS_HERE, trust_pickle=args.trust_pickle)
        check_task_options(parser, task.name)
        labels, inputs = task.constant_inputs(model, saved["config"], args)
        orbit_path = os.path.join(args.folder, ORBIT_FILE)
        # read before anything is written, so that a bad one leaves no half results
        orbit = load_orbit_file(orbit_path) if os.path.isfile(orbit_path) else None
        history = (read_history(args.folder)
                   if os.path.isfile(os.path.join(args.folder, HISTORY_FILE)) else None)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    # the recorded states of one input, in float64, and the periods' work on them
    rnn = model.rnn
    state_size = rnn.hidden_size * rnn.num_layers * (2 if rnn.rnn_type == "LSTM" else 1)
    check_memory(8 * 4 * args.record * args.n_starts * state_size, "--record times --n_starts")
    out = args.output_dir or args.folder
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
    os.makedirs(out, exist_ok=True)     # now that there are results
    write_text(os.path.join(out, "attractors.csv"), summary.to_csv(index=False))
    write_text(os.path.join(out, "fixed_points.csv"), pd.DataFrame(point_rows).to_csv(index=False))
    print(summary.to_string(index=False))
    result = {"run": os.path.abspath(args.folder), "epoch": saved["epoch"],
              "per_input": rows, "fixed_points": point_rows}
    if orbit is not None:
        report = bifurcation_report(*orbit, history)
        write_text(os.path.join(out, "bifurcations.csv"), report.changes.to_csv(index=False))
        write_text(os.path.join(out, "main_bifurcations.csv"), report.groups.to_csv(index=False))
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
    write_text(os.path.join(out, "attractors.json"), json.dumps(result, indent=1, default=float))
    print(f"\nWrote attractors.csv, fixed_points.csv, attractors.json"
          f"{', bifurcations.csv, main_bifurcations.csv' if orbit is not None else ''} to {out}")


if __name__ == "__main__":
    run_cli(main)
