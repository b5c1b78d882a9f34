"""Sweeps: many ordinary ``train.py`` runs over a grid of settings, run
through submitit (local processes on one machine, or a Slurm job array).
The reference is docs/sweeps.md; ``sweep.py`` calls :func:`main`.

The modules, from the command line to the files:

- ``task``: the task's train.py and its options, read from its ``--help``;
  the options after ``--`` and in ``-c FILE.json`` checked against them;
- ``grid``: the grid (``KEY=V1,V2`` items) times the seeds, expanded into
  runs, each named after its settings;
- ``plan``: :class:`Sweep`, the checked command, its runs and the train.py
  commands that start and resume them;
- ``runner``: :class:`SweepJob`, the job submitit runs: ``train.py`` as a
  subprocess for each of its runs, resumed from its checkpoint when Slurm
  requeues the job;
- ``executors``: local workers or a Slurm job array, through submitit;
- ``state`` and ``manifest``: what a run folder says about its run, and the
  manifest ``sweep.json``;
- ``status``: the status table, summary.csv and the plot;
- ``cli``: the argument parser and :func:`main`.
"""
from .cli import build_parser, main
from .executors import make_executor, slurm_parameters
from .files import RUNNING
from .grid import MAX_NAME, run_name
from .plan import Sweep
from .runner import SweepJob
from .state import run_state
from .status import plot_sweep
from .task import task_options

__all__ = ["build_parser", "main", "make_executor", "slurm_parameters", "RUNNING", "MAX_NAME",
           "run_name", "Sweep", "SweepJob", "run_state", "plot_sweep", "task_options"]
