"""Run one training command under several math-library settings and seeds,
and print a row per run: does the outcome hold across machines and seeds?

    python check_robustness.py sine-generator --seeds 1 2 3 4 5 --out runs/robustness \\
        --expect oscillation -- --epochs 400 --lr 0.01 --hidden_size 32 --interval_orbit 4

The logic lives in attractors/robustness.py; docs/reproducibility.md explains
the settings and shows the tables of the quick start and the figures.
"""
import argparse
import os
import sys

from attractors.options import (POSITIVE_FLOAT, SEED, Integer, OneLineParser, Text, UsageError,
                                output_folder, run_cli)

HERE = os.path.dirname(os.path.abspath(__file__))


def build_parser():
    from attractors.robustness import EXPECTATIONS, SETTINGS
    settings = "; ".join(f"{name}: {' '.join(f'{k}={v}' for k, v in env.items()) or 'none'}"
                         for name, env in SETTINGS.items())
    parser = OneLineParser(
        prog="check_robustness.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s TASK --out DIR [options] [-- TRAIN.PY OPTIONS]",
        description="Run a task's train.py under math-library settings (as on CPUs with\n"
                    "fewer instructions) and seeds, each run in its own process with one\n"
                    "thread, and print one row per run: final loss, the epoch where the\n"
                    "loss first falls below a threshold, where an oscillation is born,\n"
                    "the strongest bifurcation epochs, what the final network's output does\n"
                    "under each constant input (F settles on a constant, P periodic,\n"
                    "Q quasi-periodic, C chaotic; lower case: most starts, not all) and,\n"
                    "with --expect, whether the run shows that phenomenon. The table also goes to\n"
                    "DIR/robustness.csv.",
        epilog=f"settings: {settings}\n\nOptions after -- go to every run; the check "
               "sets --seed, --threads 1 and --folder.\nFinished runs of the same command "
               "are reused (--rerun trains them again).\nReference: docs/reproducibility.md")
    parser.add_argument("task", type=Text(empty=False), help="task folder holding a train.py, e.g. sine-generator")
    parser.add_argument("--out", required=True, metavar="DIR", type=output_folder(),
                        help="folder of the runs (DIR/SETTING/seedN) and robustness.csv")
    parser.add_argument("--seeds", nargs="+", type=SEED, default=[1, 2, 3, 4, 5], metavar="N",
                        help="seeds of the runs (default: 1 2 3 4 5)")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
                        metavar="NAME", help="math-library settings (default: all four)")
    parser.add_argument("--jobs", type=Integer(1, 4096), default=None, metavar="N",
                        help="runs at once (default: the cores this process may use)")
    parser.add_argument("--threshold", type=POSITIVE_FLOAT, default=None,
                        help="loss threshold of the drop column (default: a tenth of the "
                             "first epoch's loss)")
    parser.add_argument("--expect", choices=list(EXPECTATIONS), default=None,
                        help="judge each run: " + "; ".join(f"{k}: {v}"
                                                            for k, v in EXPECTATIONS.items()))
    parser.add_argument("--column", action="append", default=[], metavar="NAME", type=Text(),
                        help="also show the last value of this history.csv column "
                             "(repeatable), e.g. 'valid. acc.'")
    parser.add_argument("--rerun", action="store_true", help="train finished runs again")
    return parser


def main(argv=None):
    from attractors.robustness import MANAGED, plan, run_all, summary_lines
    from attractors.sweeps.task import find_task, parse_fixed, task_options
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, train_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) \
        if "--" in argv else (argv, [])
    args = build_parser().parse_args(ours)
    for name, values in (("--seeds", args.seeds), ("--settings", args.settings)):
        if len(set(values)) != len(values):   # two runs would share one folder
            raise UsageError(f"{name} repeats a value: {' '.join(map(str, values))}")
    held = [n for n in ("train.pyconfig.json", "model.pth", "population.json")
            if os.path.isfile(os.path.join(args.out, n))]
    if held:   # its runs would go into the folders of a run
        raise UsageError(f"--out {args.out} holds a training run ({held[0]}); choose another "
                         "folder")
    folder, train_py = find_task(args.task)
    options = task_options(train_py)
    for name, why in MANAGED.items():
        flags = options[name].flags if name in options else (f"--{name}",)
        if any(a.split("=")[0] in flags for a in train_args):
            raise UsageError(f"--{name} cannot be given after --: {why}")
    parse_fixed(train_args, options, args.task)      # unknown options, missing values
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    specs = plan(train_py, train_args, args.settings, args.seeds, os.path.abspath(args.out))
    jobs = min(args.jobs or cores or 1, len(specs))
    print(f"{len(specs)} runs of {args.task}/train.py ({len(args.settings)} settings x "
          f"{len(args.seeds)} seeds), {jobs} at a time, one thread each, in {args.out}",
          flush=True)
    rows = run_all(specs, [HERE, os.path.dirname(folder)], jobs, args.rerun,
                   progress=lambda line: print(line, flush=True), threshold=args.threshold,
                   expect=args.expect, columns=args.column)
    import pandas as pd
    table = pd.DataFrame(rows).drop(columns=["reused"], errors="ignore")
    path = os.path.join(args.out, "robustness.csv")
    table.to_csv(path, index=False)
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    print("\n".join(summary_lines(table, args.expect)))
    print(f"\nWrote {path}")
    failed = "error" in table and table["error"].notna().any()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
