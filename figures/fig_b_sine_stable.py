"""Figure b: the sine task with the stable model: loss above the orbit diagram."""
from common import sine_figure

if __name__ == "__main__":
    sine_figure("stable")
