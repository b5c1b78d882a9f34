"""Figure f: the chaotic 2-unit LSTM: strange attractor, bifurcation diagram
and loss along s*W, loss on a 2-D slice (chaotic_lstm.py at full size)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_script, parse, parser  # noqa: E402

TINY = ["--attractor_steps", "300", "--n_points", "60", "--grid", "12", "12", "--levels", "10"]


def main(argv=None):
    options = parse(parser(__doc__.splitlines()[0]), argv)
    chaotic = load_script("chaotic_lstm.py", "chaotic_lstm")
    chaotic.main(["-o", options.out, "--dpi", str(options.dpi)] + (TINY if options.tiny else []))


if __name__ == "__main__":
    main()
