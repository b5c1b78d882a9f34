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

from .functional import LAYERED_TYPES, LSTM_TYPES, params_of, rnn_type_of, step_function
from .orbit_analysis import periods


class StateMap:
    """``f(x) = step(params, u, x)`` on flat states, for one recurrent layer
    (or ``nn.*Cell``, or orthogonal cell) and a constant input ``u``.

    ``u`` is one input vector ``(input_size,)``, shared by every state, or
    one per state, ``(B, input_size)``, for maps applied to ``(B, D)`` states
    (many inputs at once). The flat state of a trajectory is ``(D,)``: the h
    of every layer, then (LSTM) the c of every layer; the map runs on the
    device of the layer's weights, in ``dtype``.
    """

    def __init__(self, layer, u, dtype=torch.float64):
        self.rnn_type = rnn_type_of(layer)
        self.params = {k: v.to(dtype) for k, v in params_of(layer).items()}
        self.device = next(iter(self.params.values())).device
        self.step = step_function(self.rnn_type)
        inner = getattr(layer, "rnn", layer)
        self.hidden = inner.hidden_size
        self.layered = self.rnn_type in LAYERED_TYPES
        self.lstm = self.rnn_type in LSTM_TYPES
        self.layers = inner.num_layers if self.layered else 1
        self.u = torch.as_tensor(u, dtype=dtype).to(self.device)
        self.dtype = dtype
        per_tensor = self.layers * self.hidden
        self.dim = 2 * per_tensor if self.lstm else per_tensor

    def unflatten(self, x):
        """``(*batch, D)`` -> the step's state with batch dims ``*batch``."""
        batch = x.shape[:-1]
        parts = x.chunk(2, dim=-1) if self.lstm else (x,)
        if self.layered:
            parts = [p.reshape(*batch, self.layers, self.hidden).movedim(-2, 0) for p in parts]
        return tuple(parts) if self.lstm else parts[0]

    def flatten(self, state):
        """The step's state (module layout) -> flat ``(*batch, D)``."""
        parts = state if self.lstm else (state,)
        if self.layered:
            parts = [p.movedim(0, -2).reshape(*p.shape[1:-1], -1) for p in parts]
        return torch.cat(list(parts), dim=-1)

    def apply(self, x, u):
        """One step from flat states ``(*batch, D)`` under inputs ``u``
        (broadcast to the batch)."""
        u = u.expand(*x.shape[:-1], u.shape[-1])
        return self.flatten(self.step(self.params, u, self.unflatten(x)))

    def __call__(self, x):
        """One step from flat states ``(*batch, D)``."""
        return self.apply(x, self.u)

    def output(self, x):
        """The layer's output (last layer's h) of flat states ``(*batch, D)``."""
        per_tensor = self.layers * self.hidden
        return x[..., per_tensor - self.hidden:per_tensor]

    def jacobian(self, x, u=None):
        """``(*batch, D, D)`` Jacobians of f at flat states ``x``; ``u``
        (default: the map's inputs) may hold one input per state."""
        u = self.u if u is None else u
        flat = x.reshape(-1, self.dim)
        if u.dim() == 1:
            jac = vmap(jacrev(lambda y: self.apply(y, u)))(flat)
        else:
            jac = vmap(jacrev(self.apply))(flat, u.reshape(-1, u.shape[-1]))
        return jac.reshape(*x.shape[:-1], self.dim, self.dim)

    def iterate(self, x, steps):
        with torch.no_grad():
            for _ in range(steps):
                x = self(x)
        return x

    def random_states(self, n, std=1.0, generator=None):
        """``n`` flat states, Gaussian with standard deviation ``std`` (drawn
        on the CPU, so a seed gives the same states on every device)."""
        return (std * torch.randn(n, self.dim, dtype=self.dtype, generator=generator)).to(self.device)


def newton(fmap, starts, newton_steps=50, tol=1e-9):
    """Newton's method on ``f(x) - x = 0`` from every row of ``starts``
    ``(B, D)`` (rows may have inputs of their own, see :class:`StateMap`).
    Returns the end points ``(B, D)`` and their residuals ``|f(x) - x|``."""
    x = starts.to(device=fmap.device, dtype=fmap.dtype).clone()
    eye = torch.eye(fmap.dim, dtype=fmap.dtype, device=fmap.device)
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
    return x, residual


def find_fixed_points(fmap, starts, newton_steps=50, tol=1e-9, dedup_tol=1e-6, group_size=None):
    """Newton's method on ``f(x) - x = 0`` from every row of ``starts``.

    Returns a list of dicts (one per distinct fixed point, in order of first
    discovery) with the state ``x``, the residual ``|f(x) - x|``, the Jacobian's
    eigenvalues, the spectral radius and ``stable`` (radius below 1).

    With ``group_size`` G, the rows come in consecutive groups of G, each
    group under an input of its own (``fmap.u`` holds one input per row): all
    groups are solved as one batch, and the result is one such list per group.
    """
    x, residual = newton(fmap, starts, newton_steps, tol)
    rows = range(len(x))
    groups = [rows] if group_size is None else [rows[i:i + group_size]
                                                for i in range(0, len(x), group_size)]
    kept = []  # per group: the rows of its distinct fixed points
    for group in groups:
        chosen = []
        for i in group:
            ri = residual[i]
            if not torch.isfinite(ri) or ri > max(tol * 1e3, 1e-6):
                continue
            if any((x[i] - x[j]).abs().max() < dedup_tol for j in chosen):
                continue
            chosen.append(i)
        kept.append(chosen)
    flat = [i for chosen in kept for i in chosen]
    if flat:  # the Jacobians and eigenvalues of every distinct point, as one batch
        index = torch.tensor(flat, device=x.device)
        u = fmap.u if fmap.u.dim() == 1 else fmap.u[index]
        eigenvalues = torch.linalg.eigvals(fmap.jacobian(x[index], u))
        radii = eigenvalues.abs().amax(dim=-1).tolist()
    found, k = [], 0
    for chosen in kept:
        points = []
        for i in chosen:
            points.append({"x": x[i], "residual": residual[i].item(),
                           "eigenvalues": eigenvalues[k], "spectral_radius": radii[k],
                           "stable": radii[k] < 1})
            k += 1
        found.append(points)
    return found[0] if group_size is None else found


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

