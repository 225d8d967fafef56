"""Perceptrons and logic gates (ch. 2): y = 1 if w . x + b > 0 else 0.

AND, NAND and OR are single perceptrons with the book's weights; XOR is not linearly
separable, so it needs two layers: XOR(x1, x2) = AND(NAND(x1, x2), OR(x1, x2)) (ch. 2.5).
Every gate takes scalars (returns an int) or arrays of x1, x2 (returns an int64 array).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import backend


class Perceptron:
    """A perceptron (ch. 2.3.3): y = 1 if sum_i w_i x_i + b > 0 else 0, vectorised over arrays.

    ``Perceptron((0.5, 0.5), -0.7)(1, 1)`` is the book's AND gate.
    """

    def __init__(self, w: Sequence[float], b: float) -> None:
        weights = np.asarray(w, dtype=np.float64)
        if weights.ndim != 1 or weights.size == 0:
            raise ValueError(f"w must be a non-empty 1-D sequence of weights, got shape {weights.shape}")
        if not np.all(np.isfinite(weights)) or not math.isfinite(float(b)):
            raise ValueError(f"w and b must be finite, got w={tuple(weights.tolist())}, b={b}")
        self.w: tuple[float, ...] = tuple(float(v) for v in weights)
        self.b: float = float(b)

    @property
    def n_inputs(self) -> int:
        """How many inputs the perceptron takes (the length of w)."""
        return len(self.w)

    def weighted_sum(self, *inputs: Any) -> Any:
        """The pre-activation w . x + b (ch. 2.3.2), element-wise over array inputs."""
        xp = backend.xp
        if len(inputs) != self.n_inputs:
            raise ValueError(f"expected {self.n_inputs} inputs (one per weight), got {len(inputs)}")
        arrays = [xp.asarray(x) for x in inputs]
        shapes = {a.shape for a in arrays if a.ndim > 0}
        if len(shapes) > 1:
            raise ValueError(f"inputs must share one shape (or be scalars), got shapes {sorted(shapes)}")
        for i, a in enumerate(arrays, start=1):
            if a.dtype.kind not in "biuf":
                raise ValueError(f"input x{i} must be numeric (0/1 or real), got dtype {a.dtype}")
        total: Any = self.b
        for wi, a in zip(self.w, arrays):
            total = total + wi * a.astype(np.float64)
        return total

    def __call__(self, *inputs: Any) -> Any:
        """Fire (1) where w . x + b > 0, else 0: an int for scalar inputs, an int64 array otherwise."""
        out = (self.weighted_sum(*inputs) > 0).astype(np.int64)
        return int(out) if out.ndim == 0 else out

    def __repr__(self) -> str:
        return f"Perceptron(w={self.w}, b={self.b})"


_AND = Perceptron((0.5, 0.5), -0.7)
_NAND = Perceptron((-0.5, -0.5), 0.7)
_OR = Perceptron((0.5, 0.5), -0.2)


def AND(x1: Any, x2: Any) -> Any:  # noqa: N802 - the book's name
    """AND gate (ch. 2.3.1): 1 if 0.5 x1 + 0.5 x2 - 0.7 > 0 else 0."""
    return _AND(x1, x2)


def NAND(x1: Any, x2: Any) -> Any:  # noqa: N802 - the book's name
    """NAND gate (ch. 2.3.3): 1 if -0.5 x1 - 0.5 x2 + 0.7 > 0 else 0 (AND with signs flipped)."""
    return _NAND(x1, x2)


def OR(x1: Any, x2: Any) -> Any:  # noqa: N802 - the book's name
    """OR gate (ch. 2.3.3): 1 if 0.5 x1 + 0.5 x2 - 0.2 > 0 else 0."""
    return _OR(x1, x2)


def XOR(x1: Any, x2: Any) -> Any:  # noqa: N802 - the book's name
    """XOR as a 2-layer perceptron (ch. 2.5.2): s1 = NAND(x1, x2), s2 = OR(x1, x2), y = AND(s1, s2)."""
    s1 = NAND(x1, x2)
    s2 = OR(x1, x2)
    return AND(s1, s2)


__all__ = ["Perceptron", "AND", "NAND", "OR", "XOR"]
