"""The book's ch04/gradient_2d.py: the numerical gradient of ch. 4.4, row by row for a 2-D X as there."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...gradient import function_2, tangent_line
from ...gradient import numerical_gradient as _numerical_gradient


def numerical_gradient(f: Callable[[Any], float], X: Any) -> np.ndarray:
    """Gradient of f at X (1-D); for a 2-D X, the gradient of f at each row (the book's quiver plot)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        return _numerical_gradient(f, X.copy())
    return np.stack([_numerical_gradient(f, row.copy()) for row in X])


__all__ = ["function_2", "numerical_gradient", "tangent_line"]
