"""Figure a: the sine task with the lstm model: loss above the orbit diagram."""
from common import run_cli, sine_figure

if __name__ == "__main__":
    run_cli(lambda argv: sine_figure("lstm", argv))
