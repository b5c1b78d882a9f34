"""What the figure scripts share: their options, loading the tasks' scripts,
and training (or reusing) the runs they draw."""
import argparse
import importlib.util
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK_MODULES = ("data", "model", "train")

# The quick-start setting: the LSTM's fixed point gives way to a limit cycle
# around epoch 200 (about a minute and a half on 2 CPU cores).
SINE = ["--epochs", "400", "--lr", "0.01", "--hidden_size", "32", "--seq_len", "100",
        "--milestones", "300", "--interval_orbit", "4", "--seq_len_orbit", "400",
        "--burnout_orbit", "300"]
SINE_TINY = ["--epochs", "4", "--hidden_size", "4", "--seq_len", "10", "--n_sequences", "4",
             "--batch_size", "2", "--interval_orbit", "1", "--seq_len_orbit", "20",
             "--burnout_orbit", "10", "--n_sequences_orbit", "2"]


def parser(description):
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=os.path.join(ROOT, "img"), help="folder for the PNG")
    p.add_argument("--runs", default=None,
                   help="scratch folder for the training runs (default: runs/figures, "
                        "or runs/figures/tiny with --tiny, so tiny runs never replace "
                        "full-size ones)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (seconds), for tests")
    p.add_argument("--dpi", type=int, default=90, help="resolution of the PNG")
    return p


def parse(p, argv=None):
    """Parse the figure options and fill in the default runs folder."""
    options = p.parse_args(argv)
    if options.runs is None:
        options.runs = os.path.join(ROOT, "runs", "figures", *(["tiny"] if options.tiny else []))
    return options


def load_script(relpath, name):
    """Import ``ROOT/relpath`` afresh; its task's ``data``/``model`` resolve to that task."""
    path = os.path.join(ROOT, relpath)
    for module in TASK_MODULES:
        sys.modules.pop(module, None)
    sys.path.insert(0, os.path.dirname(path))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.dirname(path))
    return module


def train(task, args, folder):
    """Train ``task`` with ``args`` into ``folder``, unless a finished run with
    the same settings is already there (figures share runs)."""
    config_path = os.path.join(folder, "train.pyconfig.json")
    script = load_script(f"{task}/train.py", f"{task.replace('-', '_')}_train")
    config = script.parse(args)[0]
    if os.path.isfile(os.path.join(folder, "model.pth")) and os.path.isfile(config_path):
        with open(config_path) as f:
            saved = json.load(f)
        rows = sum(1 for _ in open(os.path.join(folder, "history.csv"))) - 1
        if saved == config and rows == config["epochs"]:
            print(f"reusing {folder}")
            return folder
    start = time.perf_counter()
    script.main(args + ["--folder", folder, "--overwrite"])
    print(f"trained {folder} in {time.perf_counter() - start:.0f} s")
    return folder


def sine_run(variant, options):
    """The sine run behind figures a-c and g: ``variant`` is lstm, stable or exprnn."""
    # The orthogonal cell needs more units and a smaller step to learn the sine,
    # and orbits from small initial states: a norm-preserving recurrence
    # hardly forgets the default's std 100. (Full size only; the last value wins.)
    exprnn = [] if options.tiny else ["--hidden_size", "64", "--lr", "0.003", "--std_orbit", "0.1"]
    extra = {"lstm": [], "stable": ["--stabilize"],
             "exprnn": ["--rnn_type", "exprnn"] + exprnn}[variant]
    base = SINE_TINY if options.tiny else SINE
    return train("sine-generator", base + extra, os.path.join(options.runs, f"sine_{variant}"))


def output(options, name):
    os.makedirs(options.out, exist_ok=True)
    return os.path.join(options.out, name)
