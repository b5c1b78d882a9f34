"""Orthogonal RNN cells: exprnn, dtriv (dynamic trivialisation) and cayley."""
from .cell import OrthogonalRNN, modrelu
from .orthogonal import INITS, ORTHOGONAL_TYPES

__all__ = ["OrthogonalRNN", "ORTHOGONAL_TYPES", "INITS", "modrelu"]
