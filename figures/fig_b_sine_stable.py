"""Figure b: the sine task with the stable model (see sine_dynamics.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sine_dynamics  # noqa: E402

if __name__ == "__main__":
    sine_dynamics.main(variant="stable")
