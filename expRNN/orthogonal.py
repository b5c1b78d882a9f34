"""Orthogonal matrices from unconstrained ones, and their initialisations.

An unconstrained square matrix A is mapped to the skew-symmetric matrix
S = triu(A, 1) - triu(A, 1)^T and S to the orthogonal group, either by the
matrix exponential (expRNN, dynamic trivialisation) or by the Cayley map.
Any gradient step on A therefore keeps B exactly orthogonal: no projection
and no constrained optimiser is needed (Lezcano-Casado and Martinez-Rubio,
ICML 2019; Lezcano-Casado, NeurIPS 2019).
"""
import math

import torch
from torch import nn

ORTHOGONAL_TYPES = ("exprnn", "dtriv", "cayley")
INITS = ("henaff", "cayley")


def skew(A):
    """Skew-symmetric matrix built from the strict upper triangle of A."""
    upper = A.triu(1)
    return upper - upper.mT


def cayley_map(S):
    """(I + S)^-1 (I - S): orthogonal for skew-symmetric S, no -1 eigenvalue."""
    eye = torch.eye(S.shape[-1], dtype=S.dtype, device=S.device)
    # A solve is cheaper and more accurate than forming the inverse.
    return torch.linalg.solve(eye + S, eye - S)


class Orthogonal(nn.Module):
    """Parametrisation A -> B, registered with torch.nn.utils.parametrize.

    For the exponential modes B = base @ expm(S). The base is the identity for
    `exprnn`; for `dtriv` the owner moves it (see OrthogonalRNN.rebase), which
    keeps S small so that expm stays well conditioned along training.
    """

    def __init__(self, n, mode):
        super().__init__()
        if mode not in ORTHOGONAL_TYPES:
            raise ValueError(f"mode must be one of {ORTHOGONAL_TYPES}, got {mode!r}")
        self.mode = mode
        if mode != "cayley":
            self.register_buffer("base", torch.eye(n))

    def forward(self, A):
        S = skew(A)
        if self.mode == "cayley":
            return cayley_map(S)
        return self.base @ torch.linalg.matrix_exp(S)


def init_skew(n, init):
    """The initial A: a skew-symmetric matrix made of 2x2 diagonal blocks.

    Block i is [[0, v_i], [-v_i, 0]]; expm of it is a rotation by v_i. For odd
    n the last row and column stay zero, so B has a fixed 1 there.

    `henaff`: v_i uniform in (-pi, pi) (Henaff et al. 2016).
    `cayley`: v_i = -sqrt((1 - cos t) / (1 + cos t)) = -tan(t / 2) with t
    uniform in (0, pi/2); the Cayley map turns this block into a rotation by t
    (Helfrich et al. 2018).

    The n // 2 values are one draw from torch's global generator, in the
    default dtype, as in the old code; nothing is drawn from NumPy.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    half = n // 2
    if init == "henaff":
        values = torch.empty(half).uniform_(-math.pi, math.pi)
    else:
        t = torch.empty(half).uniform_(0.0, math.pi / 2)
        values = -torch.sqrt((1.0 - torch.cos(t)) / (1.0 + torch.cos(t)))
    A = torch.zeros(n, n)
    even = torch.arange(0, 2 * half, 2)
    A[even, even + 1] = values
    A[even + 1, even] = -values
    return A


def project(M):
    """Nearest orthogonal matrix U V^T (polar factor), from the SVD of M."""
    U, _, Vh = torch.linalg.svd(M)
    return U @ Vh
