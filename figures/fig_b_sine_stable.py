"""Figure b: the sine task with the stable model: loss above the orbit diagram."""
from common import run_cli, sine_figure

if __name__ == "__main__":
    run_cli(lambda argv: sine_figure("stable", argv))
