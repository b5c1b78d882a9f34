"""The recurrent layer under a constant input as a map x -> f(x), and what
dynamical systems theory asks of it: fixed points with their stability,
Lyapunov exponents, and the kind of attractor a trajectory ends on.

The state of every RNN type is handled as one flat vector per trajectory
(LSTM: h and c of every layer, concatenated), so Jacobians are square
``(D, D)`` matrices. Everything is batched over trajectories and built on
the pure steps of :mod:`attractors.functional`.
"""
import torch
from torch.func import jacrev, jvp, vmap

from .functional import ORTHOGONAL_TYPES, params_of, rnn_type_of, step_function
from .orbit_analysis import periods


class StateMap:
    """``f(x) = step(params, u, x)`` on flat states, for one recurrent layer
    and one constant input ``u`` (the RNN's input vector)."""

    def __init__(self, layer, u, dtype=torch.float64):
        self.rnn_type = rnn_type_of(layer)
        self.params = {k: v.to(dtype) for k, v in params_of(layer).items()}
        self.step = step_function(self.rnn_type)
        inner = getattr(layer, "rnn", layer)
        self.hidden = inner.hidden_size
        self.layers = 1 if self.rnn_type in ORTHOGONAL_TYPES else inner.num_layers
        self.u = torch.as_tensor(u, dtype=dtype)
        self.dtype = dtype
        per_tensor = self.layers * self.hidden
        self.dim = 2 * per_tensor if self.rnn_type == "LSTM" else per_tensor

    def unflatten(self, x):
        """``(*batch, D)`` -> the step's state with batch dims ``*batch``."""
        batch = x.shape[:-1]
        if self.rnn_type in ORTHOGONAL_TYPES:
            return x
        parts = x.chunk(2, dim=-1) if self.rnn_type == "LSTM" else (x,)
        shaped = [p.reshape(*batch, self.layers, self.hidden).movedim(-2, 0) for p in parts]
        return tuple(shaped) if self.rnn_type == "LSTM" else shaped[0]

    def flatten(self, state):
        if self.rnn_type in ORTHOGONAL_TYPES:
            return state
        parts = state if self.rnn_type == "LSTM" else (state,)
        flat = [p.movedim(0, -2).reshape(*p.shape[1:-1], -1) for p in parts]
        return torch.cat(flat, dim=-1)

    def __call__(self, x):
        """One step from flat states ``(*batch, D)``."""
        u = self.u.expand(*x.shape[:-1], self.u.shape[-1])
        return self.flatten(self.step(self.params, u, self.unflatten(x)))

    def output(self, x):
        """The layer's output (last layer's h) of flat states ``(*batch, D)``."""
        per_tensor = self.layers * self.hidden
        return x[..., per_tensor - self.hidden:per_tensor]

    def jacobian(self, x):
        """``(*batch, D, D)`` Jacobians of f at flat states ``x``."""
        flat = x.reshape(-1, self.dim)
        jac = vmap(jacrev(self))(flat)
        return jac.reshape(*x.shape[:-1], self.dim, self.dim)

    def iterate(self, x, steps):
        with torch.no_grad():
            for _ in range(steps):
                x = self(x)
        return x

    def random_states(self, n, std=1.0, generator=None):
        return std * torch.randn(n, self.dim, dtype=self.dtype, generator=generator)


def find_fixed_points(fmap, starts, newton_steps=50, tol=1e-9, dedup_tol=1e-6):
    """Newton's method on ``f(x) - x = 0`` from every row of ``starts``.

    Returns a list of dicts (one per distinct fixed point, in order of first
    discovery) with the state ``x``, the residual ``|f(x) - x|``, the Jacobian's
    eigenvalues, the spectral radius and ``stable`` (radius below 1)."""
    x = starts.to(fmap.dtype).clone()
    eye = torch.eye(fmap.dim, dtype=fmap.dtype)
    for _ in range(newton_steps):
        with torch.no_grad():
            residual = fmap(x) - x
        if residual.abs().max() < tol:
            break
        jac = fmap.jacobian(x)
        try:
            delta = torch.linalg.solve(jac - eye, residual)
        except RuntimeError:  # a singular J - I somewhere: least squares instead
            delta = torch.linalg.lstsq(jac - eye, residual.unsqueeze(-1)).solution[..., 0]
        x = x - torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0)
    with torch.no_grad():
        residual = (fmap(x) - x).norm(dim=-1)
    points = []
    for xi, ri in zip(x, residual):
        if not torch.isfinite(ri) or ri > max(tol * 1e3, 1e-6):
            continue
        if any((xi - p["x"]).abs().max() < dedup_tol for p in points):
            continue
        eigenvalues = torch.linalg.eigvals(fmap.jacobian(xi.unsqueeze(0))[0])
        radius = eigenvalues.abs().max().item()
        points.append({"x": xi, "residual": ri.item(), "eigenvalues": eigenvalues,
                       "spectral_radius": radius, "stable": radius < 1})
    return points


def lyapunov_exponents(f, x0, steps=1000, burnout=200, k=1, generator=None):
    """The ``k`` largest Lyapunov exponents (per step, natural log) of the
    trajectories of the map ``f`` from each row of ``x0``: ``(batch, k)``.

    ``f`` maps flat states ``(batch, D)`` to ``(batch, D)`` (a
    :class:`StateMap`, or any differentiable function). Tangent vectors are
    carried with Jacobian-vector products and re-orthonormalised (QR; plain
    renormalisation when k = 1) every step, after ``burnout`` steps."""
    x = x0
    with torch.no_grad():
        for _ in range(burnout):
            x = f(x)
    batch, dim = x.shape
    basis = torch.randn(batch, dim, k, dtype=x.dtype, generator=generator).to(x.device)
    basis, _ = torch.linalg.qr(basis)
    sums = torch.zeros(batch, k, dtype=x.dtype, device=x.device)
    for _ in range(steps):
        pushed = []
        for j in range(k):  # J v for each tangent vector, all trajectories at once
            x_next, tangent = jvp(f, (x,), (basis[..., j],))
            pushed.append(tangent)
        x = x_next.detach()
        basis, r = torch.linalg.qr(torch.stack(pushed, dim=-1))
        growth = r.diagonal(dim1=-2, dim2=-1).abs().clamp_min(1e-300)
        sums += growth.log()
    return sums / steps


def classify_trajectories(fmap, x0, steps=2000, record=400, max_period=None, rtol=1e-6,
                          lyapunov_steps=500, chaos_threshold=1e-3):
    """Simulate from each row of ``x0`` and name what it settles on.

    Returns one dict per trajectory: ``kind`` ('fixed point', 'periodic',
    'quasi-periodic', 'chaotic'), ``period`` (0 when not periodic) and the
    largest Lyapunov exponent ``lyapunov``."""
    x = fmap.iterate(x0.to(fmap.dtype), steps - record)
    states = []
    with torch.no_grad():
        for _ in range(record):
            x = fmap(x)
            states.append(x)
    states = torch.stack(states)                     # (record, batch, D)
    scale = (states.amax(dim=(0, 1)) - states.amin(dim=(0, 1))).max().item()
    found = periods(states.cpu().numpy(), rtol * max(scale, 1.0), max_period)
    exponents = lyapunov_exponents(fmap, x, steps=lyapunov_steps, burnout=0)[:, 0]
    results = []
    for period, lam in zip(found.tolist(), exponents.tolist()):
        if period == 1:
            kind = "fixed point"
        elif period > 1:
            kind = "periodic"
        else:
            kind = "chaotic" if lam > chaos_threshold else "quasi-periodic"
        results.append({"kind": kind, "period": period, "lyapunov": lam})
    return results

