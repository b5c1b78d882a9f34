"""Figure c: the sine task with the exprnn model: loss above the orbit diagram."""
from common import sine_figure

if __name__ == "__main__":
    sine_figure("exprnn")
