"""Train a task's train.py over a grid of settings, through submitit.

    python sweep.py sine-generator --grid lr=0.001,0.01 hidden_size=32,64 --seeds 1 2 3 \\
        --out runs/sweep-lr -- --epochs 400 --interval_orbit 4
    python sweep.py --status runs/sweep-lr --plot

The logic lives in the package attractors/sweeps/; the reference is docs/sweeps.md.
"""
from attractors.options import run_cli
from attractors.sweeps import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
