"""The grid: ``--grid KEY=V1,V2`` items checked against the task's
options, expanded with the seeds into runs, and each run's name and
train.py arguments."""
import hashlib
import itertools
import json
import re

from ..options import UsageError
from .task import MANAGED, unknown_option

MAX_NAME = 100                  # longer run names end in a hash
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def parse_grid(items):
    """``["lr=0.1,0.01", ...]`` -> ``{"lr": ["0.1", "0.01"], ...}`` (syntax only)."""
    grid = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UsageError(f"malformed --grid item {item!r}: expected KEY=V1,V2,... with the "
                              "name of a train.py option as KEY (the task folder comes first)")
        values = [v.strip() for v in values.split(",")]
        if not any(values):
            raise UsageError(f"--grid item {item!r} gives no value for {key}")
        if not all(values):
            raise UsageError(f"--grid item {item!r} has an empty value")
        if len(set(values)) < len(values):
            raise UsageError(f"--grid item {item!r} repeats a value")
        if key in grid:
            raise UsageError(f"--grid gives {key} twice")
        grid[key] = values
    return grid


def check_grid(grid, options, task):
    """Check the keys against the task's config options; flags' values
    become ``true``/``false``."""
    checked = {}
    for key, values in grid.items():
        option = options.get(key)
        if option is None:
            raise unknown_option(key, options, task, "option key")
        if key in MANAGED or not option.config:
            raise UsageError(f"--grid {key}: only config options can be swept ({key} is a "
                              "system option of train.py)")
        if not option.takes_value:
            values = [_flag_value(key, v) for v in values]
            if len(set(values)) < len(values):
                raise UsageError(f"--grid {key} repeats a value")
        elif option.is_list and not all(v.split() for v in values):
            raise UsageError(f"--grid {key}: empty list")
        else:
            for value in values:
                option.check_text(value.split() if option.is_list else [value],
                                  f"--grid {key}={value}")
        checked[key] = values
    return checked


def _flag_value(key, value):
    if value.lower() in TRUE:
        return "true"
    if value.lower() in FALSE:
        return "false"
    raise UsageError(f"--grid {key}: {key} is a flag, so its values are true or false, "
                      f"got {value!r}")


def expand_runs(grids, seeds):
    """The settings of every run: each grid's product, times the seeds, in
    order and without repeats. Values are strings."""
    runs, seen = [], set()
    for grid in grids or [{}]:
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            for seed in (seeds or [None]):
                settings = dict(zip(keys, values))
                if seed is not None:
                    settings["seed"] = str(seed)
                key = json.dumps(settings, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    runs.append(settings)
    return runs


def run_name(settings):
    """``hidden_size=32_lr=0.01_seed=1``: the settings sorted by key.
    Spaces (list values) become ``+``; a name that needed other characters
    replaced, or longer than MAX_NAME, is cut and ends in a hash of the
    settings, so that the name stays unique and the same from run to run."""
    parts, clean = [], True
    for key in sorted(settings):
        value = str(settings[key]).replace(" ", "+")
        safe = re.sub(r"[^A-Za-z0-9.+\-]", "-", value)
        clean = clean and safe == value
        parts.append(f"{key}={safe}")
    name = "_".join(parts) or "default"
    if not clean or len(name) > MAX_NAME:
        digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
        name = name[:MAX_NAME - 11].rstrip("_") + "_" + digest
    return name


def grid_args(settings, options):
    """The train.py arguments of a run's settings, in the settings' order."""
    args = []
    for key, value in settings.items():
        option = options[key]
        if not option.takes_value:
            args += [option.flag] if value == "true" else []
        elif option.is_list:
            args += [option.flag, *value.split()]
        else:
            args += [option.flag, value]
    return args
