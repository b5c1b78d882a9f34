"""Figure f: the chaotic 2-unit LSTM: strange attractor, bifurcation diagram
and loss along s*W, loss on a 2-D slice (chaotic_lstm.py at full size)."""
from common import parse, parser, run, run_cli

TINY = ["--attractor_steps", "300", "--n_points", "60", "--grid", "12", "12", "--levels", "10"]


def main(argv=None):
    options = parse(parser(__doc__.splitlines()[0]), argv)
    run("chaotic_lstm.py", "-o", options.out, "--dpi", options.dpi, *(TINY if options.tiny else []))


if __name__ == "__main__":
    run_cli(main)
