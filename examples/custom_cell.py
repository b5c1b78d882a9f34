"""A cell the library has never seen, analysed through the same functions as
the built-in ones: the minimal GRU (minGRU) of Feng et al. (2024), "Were
RNNs all we needed?".

minGRU's gates depend on the input only:

    z_t = sigmoid(W_z x_t + b_z),   h~_t = W_h x_t + b_h,
    h_t = (1 - z_t) * h_{t-1} + z_t * h~_t.

Under a constant input x one step is the affine map h -> a * h + b with the
diagonal a = 1 - z, each entry in (0, 1), and b = z * h~: a contraction in
every coordinate. What theory predicts, and this script checks with the
library: exactly one fixed point, h* = h~, globally stable (every start
converges to it), Jacobian diag(1 - z) everywhere (Lyapunov exponents
log(1 - z_i)), so no sustained oscillation. The LSTM of the quick start,
trained on the same task, grows a limit cycle (README); a minGRU cannot.

It trains a minGRU with a linear read-out to generate sines (the quick
start's task: a constant frequency w in, sin(w t) out) while an
OrbitRecorder samples its orbit diagram, then finds its fixed points,
Lyapunov exponents and the smoothness of its loss. About a minute on 2 CPU
cores; the figures go to the output folder.

    python examples/custom_cell.py [-o OUT_DIR] [--tiny]
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import BIG, THREADS, Integer, OneLineParser, output_folder, run_cli
import math
import os
import time

import numpy as np
import torch
from torch import nn

from attractors import (OrbitRecorder, as_step, fixed_points, lyapunov_exponents, plot_results,
                        smoothness_vs_length, state_map)
from attractors.plotting import plot_orbit


class MinGRU(nn.Module):
    """minGRU with a linear read-out, one time step: ``(x, h) -> (y, h')``
    with ``x`` ``(batch, 1)`` and ``h`` ``(batch, hidden)``. ``hidden_size``
    tells the library the shape of the state."""

    def __init__(self, hidden_size=32):
        super().__init__()
        self.hidden_size = hidden_size
        self.gate, self.candidate = nn.Linear(1, hidden_size), nn.Linear(1, hidden_size)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x, h):
        z = torch.sigmoid(self.gate(x))
        h = (1 - z) * h + z * self.candidate(x)
        return self.readout(h), h

    def sequence(self, inputs):
        """Outputs ``(T, batch, 1)`` for inputs ``(T, batch, 1)``, from h = 0."""
        h = inputs.new_zeros(inputs.shape[1], self.hidden_size)
        outputs = []
        for x in inputs:
            y, h = self(x, h)
            outputs.append(y)
        return torch.stack(outputs)


def sines(freqs, seq_len, dtype=torch.float32):
    """The sine task: constant inputs w ``(T, n, 1)`` and targets sin(w t)."""
    w = torch.as_tensor(freqs, dtype=torch.float64).reshape(1, -1, 1)
    t = torch.arange(1, seq_len + 1, dtype=torch.float64).reshape(-1, 1, 1)
    return w.expand(seq_len, -1, -1).to(dtype), torch.sin(w * t).to(dtype)


def loss_fn(model, seq_len):
    """The training loss at a sequence length (for the smoothness scan)."""
    some = next(model.parameters())
    x, y = sines(np.linspace(np.pi / 16, np.pi / 8, 20), seq_len, some.dtype)
    return ((model.sequence(x) - y) ** 2).mean()


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=output_folder(), default=None,
                        help="output folder (default: a new custom_cell-<time> folder)")
    parser.add_argument("--epochs", type=Integer(1, BIG), default=300, help="epochs of training")
    parser.add_argument("--tiny", action="store_true", help="a few seconds, for the tests")
    parser.add_argument("--threads", type=THREADS, default=1,
                        help="CPU threads (the tensors are small: more only add waiting)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.output or time.strftime("custom_cell-%Y%m%d-%H%M%S")
    os.makedirs(out, exist_ok=True)
    epochs = 5 if args.tiny else args.epochs
    torch.manual_seed(0)

    # --- train on the sine task, sampling the orbit diagram every 10 epochs ------
    model = MinGRU(8 if args.tiny else 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = sines(np.linspace(np.pi / 16, np.pi / 8, 20), 100)
    probes = torch.linspace(math.pi / 16, math.pi / 8, 5).reshape(-1, 1)  # constant inputs
    seq_len, burnout = (120, 80) if args.tiny else (400, 300)
    recorder = OrbitRecorder(as_step(model), probes, n_states=4, seq_len=seq_len, burnout=burnout,
                             std=10.0)
    start = time.perf_counter()
    for epoch in range(epochs):
        loss = ((model.sequence(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch % 10 == 9 or epoch == epochs - 1:
            recorder.record()
        if epoch % 50 == 49 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    print(f"trained in {time.perf_counter() - start:.1f} s (a sine generator needs an "
          "oscillation: minGRU has none to offer, its loss stays high)")
    recorder.save(os.path.join(out, "orbit.pth"), interval=10)
    last = recorder.trajectory()[..., -1]                # (steps, states, inputs, 1)
    amplitude = last.amax(dim=0) - last.amin(dim=0)
    print(f"orbit diagram, last sample: largest swing of the output over the last "
          f"{seq_len - burnout} of {seq_len} steps, from 4 x 5 starts of std 10: "
          f"{amplitude.max().item():.2e} (no cycle)")

    # --- the fixed points: theory says exactly one, h* = h~, stable -------------
    analysed = model.double()  # float64 for the analysis
    with torch.no_grad():
        u = probes.double()
        z = torch.sigmoid(analysed.gate(u))                  # (n_inputs, hidden)
        h_tilde = analysed.candidate(u)
    found = fixed_points(analysed, u, n_starts=64, std=10.0)
    print("\nfixed points from 64 starts of std 10 per input (theory: one, h* = h~, "
          "eigenvalues 1 - z):")
    for w, points, z_i, target in zip(probes[:, 0].tolist(), found, z, h_tilde):
        (point,) = points  # exactly one, or this line fails
        eig = point["eigenvalues"].real.sort().values
        print(f"  w = {w:.4f}: 1 fixed point, {'stable' if point['stable'] else 'UNSTABLE'}, "
              f"spectral radius {point['spectral_radius']:.4f}; |h* - h~| "
              f"{(point['x'] - target).abs().max():.1e}, |eig - (1 - z)| "
              f"{(eig - (1 - z_i).sort().values).abs().max():.1e}; read-out "
              f"{point['output'].item():+.4f}")

    # --- globally stable: every start ends there --------------------------------
    fmap = state_map(analysed, u[0])
    far = fmap.random_states(256, std=100.0, generator=torch.Generator().manual_seed(1))
    steps = 300 if args.tiny else 3000
    ends = fmap.iterate(far, steps)
    print(f"256 starts of std 100 after {steps} steps: largest distance to h* "
          f"{(ends - found[0][0]['x']).abs().max().item():.1e}")

    # --- Lyapunov exponents: log(1 - z), every one negative ---------------------
    lam = lyapunov_exponents(analysed, u[0], steps=100 if args.tiny else 2000,
                             burnout=100 if args.tiny else 500, n_states=2)
    exact = torch.log(1 - z[0]).sort(descending=True).values
    print(f"Lyapunov spectrum under w = {probes[0, 0].item():.4f}: largest "
          f"{lam[:, 0].max().item():+.4f} (log max(1 - z) = {exact[0].item():+.4f}), "
          f"largest error against log(1 - z): {(lam - exact).abs().max().item():.1e}")

    # --- smoothness: a contraction keeps the loss smooth as T grows -------------
    seq_lens = (10, 20) if args.tiny else (25, 50, 100, 200, 400)
    results = smoothness_vs_length(analysed, loss_fn, seq_lens, np.linspace(-0.1, 0.1, 21),
                                   curvature=False)
    plot_results(results, os.path.join(out, "smoothness.png"),
                 title="minGRU: loss along a random direction")
    print("Lipschitz constant of the loss' derivative along a line, bounded as T grows "
          "(a contraction): " + ", ".join(
        f"T={T} {lip:.3g}" for T, lip in zip(results["seq_lens"], results["lipschitz"])))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    trajectory = recorder.trajectory()
    fig, axes = plt.subplots(1, len(probes), figsize=(3 * len(probes), 3.2), sharey=True)
    for i, ax in enumerate(axes):
        for n in range(trajectory.shape[1]):
            plot_orbit(ax, trajectory, 10, "orbit1d", n=n, i=i, alpha=0.3)
        ax.set_title(f"w = {probes[i, 0].item():.3f}")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "orbit_diagram.png"), dpi=100)
    plt.close(fig)
    print(f"\nfigures and orbit file in {out}")


if __name__ == "__main__":
    run_cli(main)
