"""The command line of sweep.py: the parser, the checks of its arguments,
and ``main``, which plans the runs and hands them to an executor."""
import argparse
import json
import os
import shlex
import sys

from ..options import SEED, Integer, Number, OneLineParser, Text, UsageError
from ..rules import image_file, input_file, input_folder, output_folder
from . import populations
from .executors import SLURM_MIN_TIME, SLURM_OPTIONS, SLURM_TIME_MIN, check_slurm_commands, \
    run_local, slurm_job_name, slurm_parameters, submit_slurm
from .files import MANIFEST, PLOT, SUMMARY
from .jobfiles import prune
from .manifest import manifest_path, merged_manifest, read_manifest, refresh_states, \
    save_manifest, slurm_jobs_of
from .plan import Sweep
from .runner import available_cores, default_workers, thread_env
from .state import TO_RUN, next_action
from .status import finish, status_command
from .task import train_py_folders


def build_parser():
    parser = OneLineParser(
        prog="sweep.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s TASK --grid KEY=V1,V2 ... [--seeds N ...] --out DIR "
              "[options] [-- TRAIN.PY OPTIONS]\n       %(prog)s --status DIR [--plot [-o FILE]]",
        description="Train a task's train.py over a grid of settings, each run in its own\n"
                    "folder under --out, through submitit: local processes (default) or a\n"
                    "Slurm job array. Running the same command again skips the finished\n"
                    "runs, resumes the interrupted ones and starts the rest.",
        epilog="example:\n  python sweep.py TASK --grid lr=0.001,0.01 "
               "hidden_size=32,64 --seeds 1 2 3 \\\n      --out runs/sweep-lr -- --epochs 400 "
               "--interval_orbit 4\n  python sweep.py --status runs/sweep-lr --plot\n\n"
               "Options after -- are given to every run. Reference: docs/sweeps.md")
    parser.add_argument("task", nargs="?", type=Text(empty=False),
                        help="task folder holding a train.py (here "
                        f"{', '.join(train_py_folders())}), relative to the current folder or "
                        "the repository")
    parser.add_argument("--grid", action="append", nargs="+", default=[], metavar="KEY=V1,V2",
                        type=Text(empty=False, what="KEY=V1,V2,..."),
                        help="config options of train.py and their values; the runs are "
                             "every combination. A flag takes true,false. Repeat --grid for "
                             "a union of grids")
    parser.add_argument("--seeds", nargs="+", type=SEED, default=[], metavar="N",
                        help="run every combination with each of these --seed values")
    parser.add_argument("-c", "--config", metavar="FILE.json", type=input_file(),
                        help="base config for every run (train.py -c)")
    parser.add_argument("--out", metavar="DIR", type=output_folder(),
                        help="folder of the sweep: one folder per "
                        f"run, {MANIFEST}, {SUMMARY}")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local: submitit's local processes on this machine; slurm: one "
                             "job array (default: local)")
    parser.add_argument("--workers", type=Integer(1, 4096), metavar="N",
                        help="local: runs at once, the cores shared among them (default: one "
                             f"per two cores, here {default_workers()})")
    parser.add_argument("--population", type=Integer(1, 4096), metavar="K",
                        help="train the runs that differ only by their seed together, up to "
                             "K consecutive seeds in one train.py --population process; each "
                             "run stays an ordinary run folder (docs/sweeps.md)")
    parser.add_argument("--dry_run", action="store_true",
                        help="print the runs and their commands; start and write nothing")
    parser.add_argument("--status", nargs="?", const="", metavar="DIR", type=input_folder(),
                        help=f"print the table of the sweep in DIR (default --out) and write "
                             f"it to DIR/{SUMMARY}")
    parser.add_argument("--plot", action="store_true",
                        help=f"also save final loss against each swept setting (DIR/{PLOT})")
    parser.add_argument("-o", "--output", metavar="FILE", type=image_file(),
                        help="where --plot saves its figure")
    slurm = parser.add_argument_group("Slurm (--executor slurm)")
    slurm.add_argument("--partition", type=Text(empty=False), help="partition to submit to")
    slurm.add_argument("--time", type=Integer(1, 10 ** 6), metavar="MIN",
                       help=f"time limit of each run's job in minutes (default {SLURM_TIME_MIN}); "
                            "a job stopped by it is requeued and resumes from its checkpoint")
    slurm.add_argument("--cpus_per_task", type=Integer(1, 4096), metavar="N",
                       help="cores of each run (its threads)")
    slurm.add_argument("--gpus_per_task", type=Integer(1, 1024), metavar="N",
                       help="GPUs of each run; train.py then gets --cuda")
    slurm.add_argument("--mem_gb", type=Number(0, 1e6, low_open=True), metavar="GB",
                       help="memory of each run")
    slurm.add_argument("--slurm_array_parallelism", type=Integer(1, 10 ** 6), metavar="N",
                       help="runs of the array running at once")
    slurm.add_argument("--sbatch", action="append", type=_key_value, default=[],
                       metavar="KEY=VALUE", help="another sbatch parameter, e.g. "
                       "account=myproject or qos=long (repeatable; KEY alone for a flag)")
    return parser


class _KeyValue(Text):
    """The rule of --sbatch: KEY=VALUE (or KEY alone), as ``(key, value)``."""

    def __init__(self):
        super().__init__(empty=False, pattern=r"[A-Za-z][A-Za-z0-9_-]*(=.*)?", what="KEY=VALUE",
                         example="account=me")

    def __call__(self, text):
        key, eq, value = super().__call__(text).partition("=")
        return key, (value if eq else True)


_key_value = _KeyValue()


def split_argv(argv):
    """``(sweep.py arguments, train.py arguments after the first --)``."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def check_args(args, fixed):
    """The checks of a sweep command that need no task."""
    if args.status is not None:
        if args.task or args.grid or args.seeds or fixed:
            raise UsageError("--status DIR shows a sweep; it takes no task, grid or options")
        return
    if not args.task:
        raise UsageError(f"give a task folder ({', '.join(train_py_folders())}), or "
                         "--status DIR")
    if not args.out:
        raise UsageError("give the folder of the sweep with --out DIR")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} exists and is not a folder")
    run_files = ("train.pyconfig.json", "checkpoint.pth", "model.pth", "history.csv")
    if (not os.path.isfile(os.path.join(args.out, MANIFEST))
            and any(os.path.isfile(os.path.join(args.out, n)) for n in run_files)):
        raise UsageError(f"--out {args.out} holds a training run, not a sweep; choose another "
                         "folder")
    if args.executor == "local":
        given = [f"--{o}" for o in SLURM_OPTIONS if getattr(args, o)]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to --executor slurm")
    elif args.workers is not None:
        raise UsageError("--workers applies to the local executor; Slurm runs each run as a "
                          "task of a job array (see --slurm_array_parallelism)")
    for name in ("workers", "time", "cpus_per_task", "slurm_array_parallelism", "population"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    for name in ("gpus_per_task", "mem_gb"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise UsageError(f"--{name} must be positive")
    if args.time is not None and args.time < SLURM_MIN_TIME:
        raise UsageError(f"--time {args.time} is too short: Slurm sends the warning that lets a "
                         "job checkpoint and requeue itself up to 60 s early, before the job can "
                         f"take it; give --time {SLURM_MIN_TIME} or more")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, fixed = split_argv(argv)
    args = build_parser().parse_args(ours)
    check_args(args, fixed)
    if args.status is not None:
        return status_command(args.status or args.out, args.plot, args.output)
    sweep = Sweep(args.task, args.out, args.grid, args.seeds, fixed, args.config,
                  args.population)
    old = read_manifest(sweep.out) if os.path.isfile(manifest_path(sweep.out)) else None
    sweep.place_populations(old["runs"] if old else {})
    manifest = merged_manifest(sweep, old)
    slurm_ids, slurm_jobs = slurm_jobs_of(manifest, sweep.runs)
    actions = {name: next_action(sweep.folder(name), run["epochs"], slurm_jobs,
                                 slurm_ids.get(name))
               for name, run in sweep.runs.items()}
    todo = [n for n, a in actions.items() if a in TO_RUN]
    if args.executor == "slurm":
        workers, threads, cuda = None, args.cpus_per_task or 1, bool(args.gpus_per_task)
    else:
        jobs = len(sweep.job_items(todo, 1))   # a population is one train.py
        workers = max(1, min(args.workers or default_workers(), jobs))
        threads, cuda = max(1, available_cores() // workers), False
    if args.dry_run:
        print_plan(sweep, actions, workers, threads, cuda, args)
        return 0
    array = None
    if args.executor == "slurm":
        check_slurm_commands()   # before writing anything
        if todo:                 # refused by sbatch: --out is left as it was
            array = submit_slurm(sweep, manifest, todo, threads, cuda, args)
    os.makedirs(sweep.out, exist_ok=True)
    save_manifest(sweep.out, refresh_states(sweep.out, manifest))
    print(f"sweep of {sweep.task}/train.py in {args.out}: {len(sweep.runs)} runs "
          f"({summary_counts(actions)})", flush=True)
    if not todo:
        print("nothing to start")
        return finish(sweep, manifest, args)
    if array is not None:
        prune(sweep.out, manifest)
        print(f"submitted {len(todo)} run(s) as Slurm job array {array}; follow them with: "
              f"python sweep.py --status {args.out}")
        return 0
    return run_local(sweep, manifest, todo, workers, threads, args)


def summary_counts(actions):
    words = {"start": "to start", "restart": "to restart", "resume": "to resume",
             "done": "done", "running": "running elsewhere", "queued": "queued in Slurm"}
    counts = [f"{sum(a == k for a in actions.values())} {w}" for k, w in words.items()
              if any(a == k for a in actions.values())]
    return ", ".join(counts)


def print_plan(sweep, actions, workers, threads, cuda, args):
    """``--dry_run``: each run, what the sweep would do with it, its command."""
    where = f"{sum(a in TO_RUN for a in actions.values())} to run"
    if args.executor == "slurm":
        params = slurm_parameters(args, slurm_job_name(sweep.out))
        where += f" as one Slurm job array, submitit parameters {json.dumps(params)}"
    else:
        where += f" locally, {workers} at a time, {threads} thread(s) each"
    print(f"dry run: sweep of {sweep.task}/train.py in {args.out}: {len(sweep.runs)} runs "
          f"({summary_counts(actions)}); {where}")
    env = " ".join(f"{k}={v}" for k, v in thread_env(threads).items())
    member = {n: root for root, names in sweep.units.items() for n in names}
    shown = set()
    for name, action in actions.items():
        root = member.get(name)
        print(f"{action:<8} {name}" + (f" (population {root})" if root else ""))
        if action not in TO_RUN or root in shown:
            continue
        if root and all(actions[n] in TO_RUN for n in sweep.units[root]):
            shown.add(root)   # one train.py --population for all its runs
            start, resume = populations.commands(sweep, root, sweep.units[root], threads, cuda)
            together = os.path.isfile(os.path.join(sweep.out, root, populations.MANIFEST))
            command = resume if together else start
        else:
            start, resume = sweep.commands(name, threads, cuda)
            command = resume if action == "resume" else start
        print(f"         cd {shlex.quote(sweep.task_dir)} && {env} python "
              f"{shlex.join(command)}")
    print("nothing was started or written")
