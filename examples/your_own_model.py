"""The analysis of this project on a model of your own, end to end.

A GRU with a linear read-out learns a 1-bit memory (a flip-flop): the input
is mostly 0 with a few pulses of +1 or -1, and the output must hold the sign
of the last pulse. It is trained with a plain PyTorch loop (about half a
minute on a CPU); meanwhile an OrbitRecorder takes a sample of the orbit
diagram every epoch. Then the script draws the diagram, finds the fixed
points of the trained GRU under the inputs 0, +1, -1 with their stability,
estimates Lyapunov exponents, and measures the smoothness of the loss
against the sequence length. Every figure goes to the output folder.

    python examples/your_own_model.py [-o OUT_DIR] [--tiny]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, Integer, OneLineParser, output_folder, run_cli
import copy
import os
import time

import numpy as np
import torch
from torch import nn

from attractors import (OrbitRecorder, fixed_points, lyapunov_exponents, plot_results,
                        smoothness_vs_length)
from attractors.plotting import plot_orbit
from attractors.run_files import load_orbit_file


class FlipFlop(nn.Module):
    """GRU + linear read-out, sequence first: ``model(inp, state) -> (out, state)``."""

    def __init__(self, hidden=16):
        super().__init__()
        self.gru = nn.GRU(1, hidden)
        self.readout = nn.Linear(hidden, 1)

    def forward(self, inp, state=None):
        h, state = self.gru(inp, state)
        return self.readout(h), state


def flip_flop_data(seq_len, batch, generator, p=0.05, device="cpu", dtype=torch.float32):
    """Inputs ``(seq_len, batch, 1)`` with pulses of +-1; targets: the sign of
    the last pulse so far (0 before the first)."""
    pulses = (torch.rand(seq_len, batch, 1, generator=generator) < p).float()
    signs = torch.randint(0, 2, (seq_len, batch, 1), generator=generator).float() * 2 - 1
    inputs = pulses * signs
    targets = torch.zeros_like(inputs)
    last = torch.zeros(batch, 1)
    for t in range(seq_len):
        last = torch.where(inputs[t] != 0, inputs[t], last)
        targets[t] = last
    return inputs.to(device, dtype), targets.to(device, dtype)


def loss_fn(model, seq_len):
    """The loss the smoothness analysis scans: the same data at every point
    of the line (a fixed seed per length), in the model's dtype and device."""
    some = next(model.parameters())
    x, y = flip_flop_data(seq_len, 32, torch.Generator().manual_seed(seq_len),
                          device=some.device, dtype=some.dtype)
    return ((model(x)[0] - y) ** 2).mean()


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=output_folder(), default=None,
                        help="output folder (default: a new your_own_model-<time> folder)")
    parser.add_argument("--epochs", type=Integer(1, BIG), default=60)
    parser.add_argument("--tiny", action="store_true", help="a few seconds, for the tests")
    args = parser.parse_args(argv)
    out = args.output or time.strftime("your_own_model-%Y%m%d-%H%M%S")
    os.makedirs(out, exist_ok=True)
    epochs = 3 if args.tiny else args.epochs
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)

    # --- train, recording the orbit diagram as we go ------------------------
    model = FlipFlop(8 if args.tiny else 16).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    probes = torch.tensor([[0.0], [1.0], [-1.0]], device=device)  # constant inputs
    recorder = OrbitRecorder(model, probes, n_states=4, seq_len=120 if args.tiny else 300,
                             burnout=80 if args.tiny else 200, std=1.0)
    start = time.perf_counter()
    for epoch in range(epochs):
        for _ in range(2 if args.tiny else 10):
            x, y = flip_flop_data(50, 32, generator, device=device)
            loss = ((model(x)[0] - y) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        recorder.record()                             # one sample per epoch
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    print(f"trained in {time.perf_counter() - start:.1f} s")
    orbit_path = os.path.join(out, "orbit.pth")
    recorder.save(orbit_path, interval=1)

    # --- the orbit diagram (plot_orbit_diagram.py draws orbit.pth too) -------
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    trajectory, interval = load_orbit_file(orbit_path)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for i, (ax, label) in enumerate(zip(axes, ("input 0", "input +1", "input -1"))):
        for n in range(trajectory.shape[1]):
            plot_orbit(ax, trajectory, interval, "orbit1d", n=n, i=i, alpha=0.3)
        ax.set_title(label)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "orbit_diagram.png"), dpi=100)
    plt.close(fig)

    # --- fixed points, stability, Lyapunov exponents of the trained GRU ------
    # A GRU's state stays in (-1, 1) once it starts there (each step mixes the
    # old state with a tanh): the search starts in that box and keeps the
    # points inside. Newton's method can also land far outside, where
    # saturated gates make the map the identity along some directions
    # (eigenvalue 1): fixed points of the arithmetic that no trajectory
    # visits, counted in .outside.
    found = fixed_points(model.gru, probes, n_starts=16 if args.tiny else 64, box=(-1, 1),
                         settle=50 if args.tiny else 200)
    for label, points in zip(("0", "+1", "-1"), found):
        print(f"input {label}: {len(points)} fixed point(s) in (-1, 1)^H "
              f"({len(points.outside)} outside left out)")
        for p in points:
            readout = model.readout(p["output"].to(model.readout.weight)).item()
            print(f"  fixed point: {'stable  ' if p['stable'] else 'unstable'} "
                  f"spectral radius {p['spectral_radius']:.3f}, read-out {readout:+.3f}")
    lam = lyapunov_exponents(model.gru, probes[0], steps=100 if args.tiny else 1000,
                             burnout=100, k=3, n_states=4)
    print("largest Lyapunov exponents under input 0 (per step):")
    print(np.array2string(lam.cpu().numpy(), precision=4))

    # --- smoothness of the loss against the sequence length ------------------
    scanned = copy.deepcopy(model).double()  # float64 keeps rounding out of 2nd differences
    seq_lens = (10, 20, 40) if args.tiny else (25, 50, 100, 200, 400)
    s = np.linspace(-0.1, 0.1, 11 if args.tiny else 41)
    results = smoothness_vs_length(scanned, loss_fn, seq_lens, s, seed=0, curvature=False)
    plot_results(results, os.path.join(out, "smoothness.png"),
                 title="flip-flop GRU: loss along a random direction")
    for T, lip in zip(results["seq_lens"], results["lipschitz"]):
        print(f"T = {T:4d}: Lipschitz constant of the derivative along the line {lip:.4g}")
    print(f"figures and orbit file in {out}")


if __name__ == "__main__":
    run_cli(main)
