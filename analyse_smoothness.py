"""How smooth is a trained run's loss? Evaluate the training loss along a line
through the saved weights for several sequence lengths, and estimate how fast
its slope can change (the Lipschitz constant of the derivative).

    python analyse_smoothness.py runs/lstm                      # random direction
    python analyse_smoothness.py runs/lstm --towards runs/stable --s_range -0.25 1.25
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (BIG, SEED, Integer, Number, OneLineParser, Text, UsageError,
                                add_threads_option, check_memory, check_path, check_task_options,
                                input_folder, run_cli, set_threads)
from attractors.rules import image_file, only_for_tasks, output_file
import argparse
import copy
import os

import torch

from attractors.api import smoothness_vs_length
from attractors.run_files import RunFolderError, load_model_file
from attractors.smoothness import (DEFAULT_SEQ_LENS, direction_towards, format_results,
                                   line_grid, parameters_of, plot_results, random_direction,
                                   write_results)
from attractors.tasks import load_run, task_folders

PROG = "analyse_smoothness.py"
# The task folders sit beside this script.
TASKS_HERE = [os.path.dirname(os.path.abspath(__file__))]
DTYPES = {"float64": torch.float64, "float32": torch.float32}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the ``None`` of options whose help explains it."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser():
    parser = OneLineParser(
        prog=PROG,
        description="Evaluate the training loss of a saved model along the line theta + s d "
                    "for several sequence lengths; plot the curves and, against the length, "
                    "an estimate of the Lipschitz constant of the derivative along the line "
                    "(the largest change of the finite-difference slope per unit s). Writes "
                    "a figure and two CSV files. Tasks: the folders beside this script "
                    "with a task.py (" + ", ".join(os.path.basename(f) for f in
                                                   task_folders(TASKS_HERE)) + ").",
        formatter_class=HelpFormatter)
    parser.add_argument("folder", metavar="FOLDER", type=input_folder(),
                        help="training output folder (with model.pth)")
    parser.add_argument("--towards", metavar="OTHER_FOLDER", type=input_folder(), default=None,
                        help="direction d = (weights of OTHER_FOLDER) - (weights of FOLDER), so "
                             "s = 1 is the other run; default: a random direction, each tensor "
                             "scaled to the norm of its parameter tensor")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the random direction")
    parser.add_argument("--seq_lens", type=Integer(1, BIG), nargs="+",
                        default=list(DEFAULT_SEQ_LENS), metavar="T",
                        help="sequence lengths to evaluate")
    parser.add_argument("--s_range", type=Number(-1e6, 1e6), nargs=2, default=None,
                        metavar=("MIN", "MAX"),
                        help="range of s (default: -0.1 0.1; with --towards -0.25 1.25)")
    parser.add_argument("--n_points", type=Integer(3, 10 ** 7), default=201,
                        help="grid points along the line (0 is always one of them)")
    parser.add_argument("--loop", action="store_true",
                        help="evaluate one grid point at a time through the model itself "
                             "instead of all of them as one batch of models")
    parser.add_argument("--chunk_size", type=Integer(1, 10 ** 6), default=32,
                        help="grid points evaluated together (lower it if memory runs out)")
    parser.add_argument("--no_curvature", action="store_true",
                        help="skip the exact second derivative at s = 0 (forward-mode AD "
                             "through the batched loss, computed beside the grid estimate)")
    parser.add_argument("--dtype", choices=DTYPES, default="float64",
                        help="precision of the evaluation (float64 keeps rounding noise out "
                             "of the second differences)")
    parser.add_argument("-o", "--output", metavar="FILE.png", type=image_file(), default=None,
                        help="figure to write (default FOLDER/smoothness.png); the numbers go "
                             "to FILE.csv and FILE_curves.csv beside it")
    parser.add_argument("--cuda", action="store_true", help="evaluate on the GPU cuda:0")
    add_threads_option(parser)
    parser.add_argument("--title", type=Text(), default=None, help="title above the figure")
    only_for_tasks(parser.add_argument(
        "--data", type=input_folder(), default=None, metavar="DIR",
        help="language-model runs: the corpus folder the run was trained on"),
        "word-language-model")
    parser.add_argument("--trust_pickle", action="store_true",
                        help="load a model.pth of the original code, which holds pickled "
                             "objects (only for files you trust)")
    return parser


def check(args):
    if args.s_range is not None and not args.s_range[0] < args.s_range[1]:
        raise UsageError("--s_range MIN MAX needs MIN < MAX")
    if args.cuda and not torch.cuda.is_available():
        raise UsageError("--cuda was given but no CUDA GPU is available")


def other_parameters(model, saved, folder, name, this_kwargs):
    """The other run's weights, read into a copy of ``model``."""
    if saved["experiment_name"] != name:
        raise RunFolderError(f"{folder} is a {saved['experiment_name']} run, not {name}")
    if saved["model_kwargs"] != this_kwargs:
        first = ("rnn_type", "hidden_size", "num_layers", "embed_size", "n_words")
        differ = sorted((k for k in set(this_kwargs) | set(saved["model_kwargs"])
                         if this_kwargs.get(k) != saved["model_kwargs"].get(k)),
                        key=lambda k: (first.index(k) if k in first else len(first), str(k)))
        raise RunFolderError(
            f"--towards {folder} is another model: " + ", ".join(
                f"{k} {saved['model_kwargs'].get(k)} there, {this_kwargs.get(k)} here"
                for k in differ[:3]) + "; the line needs two runs of the same model")
    model = copy.deepcopy(model)
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as e:
        raise RunFolderError(f"the model of {folder} does not fit the one of this run: "
                             f"{str(e).strip().splitlines()[0]}") from None
    return parameters_of(model)


def prepare(args, parser):
    """Everything that can fail on bad input: ``(loss, saved, theta, d, s)``."""
    check(args)
    set_threads(args.threads)
    device = torch.device("cuda:0" if args.cuda else "cpu")
    task, model, saved = load_run(args.folder, TASKS_HERE, device, DTYPES[args.dtype],
                                  trust_pickle=args.trust_pickle)
    check_task_options(parser, task.name)
    width = sum(p.numel() for p in model.parameters())
    check_memory(8 * 8 * args.chunk_size * max(args.seq_lens) * (width ** 0.5 + 16),
                 "--chunk_size times the longest of --seq_lens")
    loss = task.smoothness_loss(model, saved["config"], args)
    theta = parameters_of(model)
    if args.towards:
        other = load_model_file(args.towards, map_location=device, trust_pickle=args.trust_pickle)
        direction = direction_towards(theta, other_parameters(
            model, other, args.towards, saved["experiment_name"], saved["model_kwargs"]))
        what = f"--towards {args.towards} holds the same weights as {args.folder}"
    else:
        direction = random_direction(theta, args.seed)
        what = f"the weights of {args.folder} are all zero, so a random direction scaled to them"
    if all(not d.any() for d in direction.values()):
        raise UsageError(f"{what}: the direction is zero and the line is a point")
    s_range = args.s_range or ((-0.25, 1.25) if args.towards else (-0.1, 0.1))
    return loss, saved, theta, direction, line_grid(*s_range, args.n_points)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        task, saved, theta, direction, s = prepare(args, parser)
    except RunFolderError as e:
        raise UsageError(str(e)) from None
    output = args.output or os.path.join(args.folder, "smoothness.png")
    check_path(image_file(), output, "the figure")   # the default, in FOLDER, too
    stem = os.path.splitext(output)[0]
    for table in (stem + ".csv", stem + "_curves.csv"):   # written beside the figure
        check_path(output_file(), table, "the table beside the figure")
    import matplotlib
    matplotlib.use("Agg")
    results = smoothness_vs_length(task, None, args.seq_lens, s, direction=direction,
                                   batched=not args.loop, chunk_size=args.chunk_size,
                                   curvature=not args.no_curvature)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)   # now there are results
    direction_name = f"towards {args.towards}" if args.towards else f"random (seed {args.seed})"
    curves = write_results(results, stem + ".csv",
                           extra={"direction": direction_name, "n_points": len(s),
                                  "s_min": s[0], "s_max": s[-1],
                                  "mode": "batched" if task.batched and not args.loop else "loop"})
    config = saved["config"]
    title = args.title or (f"{saved['experiment_name']}, {config.get('rnn_type', '')}"
                           f"{' (stable)' if config.get('stabilize') else ''}, "
                           f"direction {direction_name}")
    plot_results(results, output, title=title)
    print(f"Saved {stem}.csv and {curves}")
    print(format_results(results))
    return results


if __name__ == "__main__":
    run_cli(main)
