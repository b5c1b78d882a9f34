"""A recurrent cell under a constant input as a map x -> f(x), and what
dynamical systems theory asks of it: fixed points with their stability,
Lyapunov exponents, and the kind of attractor a trajectory ends on.

The state of every cell is handled as one flat vector per trajectory (LSTM:
h and c of every layer, concatenated; a cell of your own: its state tensors'
values in order), so Jacobians are square ``(D, D)`` matrices. Everything is
batched over trajectories and built on the one :class:`attractors.steps.Step`
of the cell (the pure steps of :mod:`attractors.functional` for the built-in
cells).
"""
import torch
from torch.func import jacrev, jvp, vmap

from .orbit_analysis import periods
from .steps import CellError, as_step, shape_text


class StateMap:
    """``f(x)``: one step of ``cell`` on flat states under a constant input ``u``.

    ``cell``: anything :func:`attractors.steps.as_step` takes (a built-in
    module, a model holding one, a :class:`Step`, a cell of your own with
    ``state_shape``). ``u`` is one input vector ``(input_size,)``, shared by
    every state, or one per state, ``(B, input_size)``, for maps applied to
    ``(B, D)`` states (many inputs at once). The flat state of a trajectory
    is ``(D,)`` (see :meth:`Step.flatten`); the map runs on the device of
    the cell's weights, in ``dtype``.
    """

    def __init__(self, cell, u, dtype=torch.float64, state_shape=None, who="state_map"):
        self.step = as_step(cell, state_shape, dtype, getattr(u, "device", None), who)
        self.who = who
        self.rnn_type = self.step.rnn_type
        self.device, self.dtype, self.dim = self.step.device, dtype, self.step.dim
        u = torch.as_tensor(u)
        # integer inputs (word ids) stay integers for a cell of one's own
        floating = u.is_floating_point() or self.step.input_size is not None
        self.u = (u.to(dtype) if floating else u).to(self.device)
        self.step.check_input(self.u, who)
        self._vmappable = True

    def unflatten(self, x):
        """``(*batch, D)`` -> the step's state with batch dims ``*batch``."""
        return self.step.unflatten(x)

    def flatten(self, state):
        """The step's state (module layout) -> flat ``(*batch, D)``."""
        return self.step.flatten(state)

    def _call(self, x, u):
        """The step's (output, new flat state) from flat states ``(*batch, D)``."""
        u = u.expand(*x.shape[:-1], u.shape[-1])
        if not self.step.needs_batch:
            output, state = self.step(u, self.unflatten(x))
            return output, self.flatten(state)
        rows = x.reshape(-1, self.dim)  # a cell of your own sees one batch dimension
        output, state = self.step(u.reshape(len(rows), -1), self.unflatten(rows))
        output = None if output is None else output.reshape(*x.shape[:-1], *output.shape[1:])
        return output, self.flatten(state).reshape(x.shape)

    def apply(self, x, u):
        """One step from flat states ``(*batch, D)`` under inputs ``u``
        (broadcast to the batch)."""
        return self._call(x, u)[1]

    def __call__(self, x):
        """One step from flat states ``(*batch, D)``."""
        if (not isinstance(x, torch.Tensor) or x.dtype != self.dtype
                or x.shape[-1:] != (self.dim,)):   # else an error from deep in torch
            got = f"{shape_text(x)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise CellError(f"{self.who}: the map takes flat states (*batch, {self.dim}) of "
                            f"{self.dtype}, got {got}")
        return self.apply(x, self.u)

    def output(self, x):
        """The cell's output at flat states ``(*batch, D)``: for the built-in
        cells the last layer's h; for a cell of your own the output its step
        returns from ``x`` (or, if it returns only the state, its first
        tensor after the step). At a fixed point, the output there."""
        if self.step.readout is not None:
            return self.step.readout(self.unflatten(x))
        with torch.no_grad():
            output, new = self._call(x, self.u)
        if output is None:
            new = self.unflatten(new)
            output = new[0] if self.step.tuple_state else new
        return output

    def jacobian(self, x, u=None):
        """``(*batch, D, D)`` Jacobians of f at flat states ``x``; ``u``
        (default: the map's inputs) may hold one input per state. Computed
        row by row under ``torch.vmap``; a step that ``vmap`` cannot run
        falls back to plain reverse mode over the batch."""
        u = self.u if u is None else u
        flat = x.reshape(-1, self.dim)
        jac = None
        if self._vmappable:
            try:
                if u.dim() == 1:
                    jac = vmap(jacrev(lambda y: self.apply(y, u)))(flat)
                else:
                    jac = vmap(jacrev(self.apply))(flat, u.reshape(-1, u.shape[-1]))
            except Exception:  # noqa: BLE001 (any failure of vmap: the plain way below)
                self._vmappable = False
        if jac is None:
            us = u.expand(len(flat), u.shape[-1]) if u.dim() == 1 else u.reshape(len(flat), -1)
            # rows are independent, so d(sum over rows of f)/dx holds every row's Jacobian
            jac = torch.autograd.functional.jacobian(lambda y: self.apply(y, us).sum(0), flat)
            jac = jac.permute(1, 0, 2)
        return jac.reshape(*x.shape[:-1], self.dim, self.dim)

    def iterate(self, x, steps):
        with torch.no_grad():
            for _ in range(steps):
                x = self(x)
        return x

    def random_states(self, n, std=1.0, generator=None):
        """``n`` flat states, Gaussian with standard deviation ``std`` (drawn
        on the CPU, so a seed gives the same states on every device)."""
        states = std * torch.randn(n, self.dim, dtype=self.dtype, generator=generator)
        return states.to(self.device)


def random_starts(shape, std, generator, box=None, dtype=torch.float64):
    """Random flat states of ``shape`` ``(..., D)``: Gaussian with standard
    deviation ``std``, or, in a ``box`` (two ``(D,)`` tensors), uniform along
    its finite sides (and clamped into the half-open ones)."""
    starts = std * torch.randn(*shape, dtype=dtype, generator=generator)
    if box is not None:
        low, high = (b.to(dtype) for b in box)
        finite = torch.isfinite(low) & torch.isfinite(high)
        span = torch.where(finite, high - low, torch.zeros_like(low))
        uniform = low.nan_to_num(0.0, 0.0, 0.0) + span * torch.rand(*shape, dtype=dtype,
                                                                     generator=generator)
        starts = torch.where(finite, uniform, starts.clamp(low, high))
    return starts


def _least_squares(a, b):
    """The least-squares solutions of the systems ``a x = b`` (batched),
    of least norm where ``a`` is singular. On the GPU, lstsq assumes full
    rank and fails on a singular system; the pseudo-inverse does not."""
    if a.device.type == "cpu":
        return torch.linalg.lstsq(a, b.unsqueeze(-1)).solution[..., 0]
    return (torch.linalg.pinv(a) @ b.unsqueeze(-1))[..., 0]


def newton(fmap, starts, newton_steps=50, tol=1e-9):
    """Newton's method on ``f(x) - x = 0`` from every row of ``starts``
    ``(B, D)`` (rows may have inputs of their own, see :class:`StateMap`);
    a row stops once its residual ``|f(x) - x|`` is below ``tol``, the rest
    after ``newton_steps`` steps. Returns the end points ``(B, D)`` and
    their residuals."""
    x = starts.to(device=fmap.device, dtype=fmap.dtype).clone()
    eye = torch.eye(fmap.dim, dtype=fmap.dtype, device=fmap.device)
    u, per_row = fmap.u, fmap.u.dim() > 1
    active = torch.arange(len(x), device=x.device)
    for _ in range(newton_steps):
        # only the rows still moving: the Jacobians are most of the work, and
        # starts that run off to saturation would otherwise keep all of them
        xa, ua = x[active], (u[active] if per_row else u)
        with torch.no_grad():
            residual = fmap.apply(xa, ua) - xa
        moving = residual.norm(dim=-1) >= tol
        if not moving.any():
            break
        active, xa, residual = active[moving], xa[moving], residual[moving]
        ua = ua[moving] if per_row else ua
        jac = fmap.jacobian(xa, ua)
        try:
            delta = torch.linalg.solve(jac - eye, residual)
        except RuntimeError:  # a singular J - I somewhere: least squares instead
            delta = _least_squares(jac - eye, residual)
        x[active] = xa - torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0)
    with torch.no_grad():
        residual = (fmap(x) - x).norm(dim=-1)
    return x, residual


class FixedPoints(list):
    """The distinct fixed points found for one input (a list of dicts, see
    :func:`find_fixed_points`), with what was left out: ``outside``, the
    distinct points outside the box (dicts of the same form);
    ``unconverged``, how many starts did not reach a residual below ``tol``;
    ``starts``, how many starts there were."""

    def __init__(self, points=(), outside=(), unconverged=0, starts=0):
        super().__init__(points)
        self.outside, self.unconverged, self.starts = list(outside), unconverged, starts


def _distinct(x, rows, dedup_tol):
    chosen = []
    for i in rows:
        if not any((x[i] - x[j]).abs().max() < dedup_tol for j in chosen):
            chosen.append(i)
    return chosen


def find_fixed_points(fmap, starts, newton_steps=50, tol=1e-9, dedup_tol=1e-6, group_size=None,
                      box=None):
    """Newton's method on ``f(x) - x = 0`` from every row of ``starts``.

    Returns a :class:`FixedPoints` list of dicts, one per distinct fixed
    point (residual ``|f(x) - x|`` at most ``tol``; points closer than
    ``dedup_tol`` in every coordinate are one), in order of first
    discovery, with the state ``x``, the ``residual``, the Jacobian's
    ``eigenvalues``, the ``spectral_radius`` and ``stable`` (radius below 1).
    ``box`` ``(low, high)`` (numbers or ``(D,)`` tensors): points with a
    coordinate outside ``[low, high]`` go to the list's ``outside``.

    With ``group_size`` G, the rows come in consecutive groups of G, each
    group under an input of its own (``fmap.u`` holds one input per row): all
    groups are solved as one batch, and the result is one such list per group.
    """
    x, residual = newton(fmap, starts, newton_steps, tol)
    converged = torch.isfinite(residual) & (residual <= tol)
    inside = converged.clone()
    if box is not None:
        low, high = (torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in box)
        inside &= ((x >= low) & (x <= high)).all(dim=-1)
    size = len(x) if group_size is None else group_size
    groups = [range(i, i + size) for i in range(0, len(x), size)]
    kept = []  # per group: the rows of its distinct points, inside and outside the box
    for group in groups:
        kept.append((_distinct(x, [i for i in group if inside[i]], dedup_tol),
                     _distinct(x, [i for i in group if converged[i] and not inside[i]],
                               dedup_tol)))
    flat = [i for rows in kept for part in rows for i in part]
    if flat:  # the Jacobians and eigenvalues of every distinct point, as one batch
        index = torch.tensor(flat, device=x.device)
        u = fmap.u if fmap.u.dim() == 1 else fmap.u[index]
        eigenvalues = torch.linalg.eigvals(fmap.jacobian(x[index], u))
        radii = eigenvalues.abs().amax(dim=-1).tolist()
    described = {}
    for k, i in enumerate(flat):
        described[i] = {"x": x[i], "residual": residual[i].item(), "eigenvalues": eigenvalues[k],
                        "spectral_radius": radii[k], "stable": radii[k] < 1}
    found = [FixedPoints([described[i] for i in rows_in], [described[i] for i in rows_out],
                         sum(1 for i in group if not converged[i]), len(group))
             for group, (rows_in, rows_out) in zip(groups, kept)]
    return found[0] if group_size is None else found


def push(f, x, basis):
    """``f(x)`` and ``J(x) v`` for each column ``v`` of ``basis`` ``(batch, D,
    k)``. A :class:`StateMap` with more than one vector multiplies by its
    Jacobians (vmapped reverse mode: 35x faster than one forward-mode
    product per vector for the whole spectrum of an LSTM of 32 units, 1.7x
    for k = 3, benchmarks/bench_lyapunov.py); one vector (the largest
    exponent alone), and any other ``f``, takes forward-mode products (for
    k = 1, 1.7x faster than the Jacobian)."""
    if isinstance(f, StateMap) and basis.shape[-1] > 1:
        with torch.no_grad():
            x_next = f(x)
        return x_next, f.jacobian(x) @ basis
    pushed = []
    for j in range(basis.shape[-1]):
        x_next, tangent = jvp(f, (x,), (basis[..., j],))
        pushed.append(tangent)
    return x_next.detach(), torch.stack(pushed, dim=-1)


def lyapunov_exponents(f, x0, steps=1000, burnout=200, k=1, generator=None):
    """The ``k`` largest Lyapunov exponents (per step, natural log) of the
    trajectories of the map ``f`` from each row of ``x0``: ``(batch, k)``.

    ``f`` maps flat states ``(batch, D)`` to ``(batch, D)`` (a
    :class:`StateMap`, or any differentiable function). ``k`` tangent
    vectors, orthonormal and random at ``x0``, are pushed by the Jacobian
    (see :func:`push`) and re-orthonormalised (QR) at every step, the
    ``burnout`` steps included, so that both the state and the frame have
    settled when the ``steps`` averaged begin (the standard algorithm of
    Benettin et al., 1980): what is left of the start falls as 1/steps."""
    x = x0
    batch, dim = x.shape
    basis = torch.randn(batch, dim, k, dtype=x.dtype, generator=generator).to(x.device)
    basis, _ = torch.linalg.qr(basis)
    sums = torch.zeros(batch, k, dtype=x.dtype, device=x.device)
    for t in range(burnout + steps):
        x, pushed = push(f, x, basis)
        basis, r = torch.linalg.qr(pushed)
        if t >= burnout:
            growth = r.diagonal(dim1=-2, dim2=-1).abs().clamp_min(1e-300)
            sums += growth.log()
    return sums / steps


def classify_trajectories(fmap, x0, steps=2000, record=400, max_period=None, rtol=1e-6,
                          lyapunov_steps=500, chaos_threshold=1e-3, seed=0):
    """Simulate from each row of ``x0`` and name what it settles on.

    Returns one dict per trajectory: ``kind`` ('fixed point', 'periodic',
    'quasi-periodic', 'chaotic'), ``period`` (0 when not periodic) and the
    largest Lyapunov exponent ``lyapunov``, averaged over ``lyapunov_steps``
    after the last ``record`` steps, through which its tangent vector (random,
    from ``seed``) is carried.

    An aperiodic trajectory is chaotic when that exponent exceeds
    ``chaos_threshold`` and ``2 / lyapunov_steps``: on a quasi-periodic orbit
    the exponent is 0, but its estimate over T steps is the log of how much
    longer the tangent vector is where the average ends than where it began,
    over T, which on an invariant circle twice as long one way as the other
    is up to log(2) / T (tests/test_dynamics.py: an ellipse ten times as
    long, 0.003 over 500 steps)."""
    x = fmap.iterate(x0.to(fmap.dtype), steps - record)
    before_record = x
    states = []
    with torch.no_grad():
        for _ in range(record):
            x = fmap(x)
            states.append(x)
    states = torch.stack(states)                     # (record, batch, D)
    scale = (states.amax(dim=(0, 1)) - states.amin(dim=(0, 1))).max().item()
    found = periods(states.cpu().numpy(), rtol * max(scale, 1.0), max_period)
    generator = torch.Generator().manual_seed(seed)
    exponents = lyapunov_exponents(fmap, before_record, steps=lyapunov_steps, burnout=record,
                                   generator=generator)[:, 0]
    threshold = max(chaos_threshold, 2.0 / lyapunov_steps)
    results = []
    for period, lam in zip(found.tolist(), exponents.tolist()):
        if period == 1:
            kind = "fixed point"
        elif period > 1:
            kind = "periodic"
        else:
            kind = "chaotic" if lam > threshold else "quasi-periodic"
        results.append({"kind": kind, "period": period, "lyapunov": lam})
    return results
