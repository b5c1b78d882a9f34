"""Lyapunov exponents: one step of k tangent vectors pushed by the state
Jacobian (vmapped reverse mode) against one forward-mode product per vector
and forward mode vmapped over the vectors. attractors.dynamics.push takes
the Jacobian for two vectors or more and one forward-mode product for one.

    python benchmarks/bench_lyapunov.py [--repeats 50] [--threads 1]

Cells: an LSTM of hidden 32 (D = 64) with the whole spectrum (k = 64) and
with k = 3, and a GRU of hidden 4 (D = 4, k = 4); 8 trajectories each.
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import THREADS, Integer, OneLineParser, run_cli
import time

import torch
from torch import nn
from torch.func import jvp, vmap

from attractors.dynamics import StateMap


def per_vector(fmap, x, basis):
    return torch.stack([jvp(fmap, (x,), (basis[..., j],))[1] for j in range(basis.shape[-1])],
                       dim=-1)


def vmapped(fmap, x, basis):
    return vmap(lambda v: jvp(fmap, (x,), (v,))[1], in_dims=2, out_dims=2)(basis)


def by_jacobian(fmap, x, basis):
    return fmap.jacobian(x) @ basis


def seconds(fn, repeats):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=Integer(1, 10 ** 6), default=50,
                        help="timed calls per case")
    parser.add_argument("--threads", type=THREADS, default=1,
                        help="PyTorch threads (0: its default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = [("LSTM hidden 32, k = 64", nn.LSTM(1, 32), 64), ("LSTM hidden 32, k = 3",
                                                             nn.LSTM(1, 32), 3),
             ("LSTM hidden 32, k = 1", nn.LSTM(1, 32), 1),
             ("GRU hidden 4, k = 4", nn.GRU(1, 4), 4)]
    print(f"ms per step of 8 trajectories ({args.threads} thread(s), {args.repeats} repeats)")
    print(f"{'':24s}{'per vector':>12s}{'vmapped jvp':>13s}{'Jacobian':>10s}{'ratio':>8s}")
    for name, module, k in cases:
        fmap = StateMap(module, torch.zeros(1))
        x = fmap.random_states(8)
        basis = torch.linalg.qr(torch.randn(8, fmap.dim, k, dtype=torch.float64))[0]
        reference = per_vector(fmap, x, basis)
        times = []
        for fn in (per_vector, vmapped, by_jacobian):
            assert torch.allclose(fn(fmap, x, basis), reference, atol=1e-12)
            times.append(1e3 * seconds(lambda: fn(fmap, x, basis), args.repeats))
        print(f"{name:24s}{times[0]:12.2f}{times[1]:13.2f}{times[2]:10.2f}"
              f"{times[0] / times[2]:7.1f}x")


if __name__ == "__main__":
    run_cli(main)
