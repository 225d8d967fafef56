"""Shared test fixtures: a seeded Generator and a single-layer gradient check."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from nnscratch import gradient


def layer_grad_errors(layer: Any, x: np.ndarray, t: Any = None, *, train: bool = True,
                      h: float = 1e-5, seed: int = 0) -> dict[str, float]:
    """Relative error, backprop vs central differences, for dx ("x") and every param of ``layer``.

    Plain layers are checked on f = sum(forward(x) * w) with fixed random w; loss layers (t given)
    on f = forward(x, t). Use float64 arrays; ``x`` and the params are nudged in place.
    """
    if t is None:
        w = np.random.default_rng(seed).standard_normal(np.shape(layer.forward(x, train)))

        def f(_: Any = None) -> float:
            return float(np.sum(layer.forward(x, train) * w))

        layer.forward(x, train)
        dx = layer.backward(w.copy())
    else:
        def f(_: Any = None) -> float:
            return float(layer.forward(x, t))

        layer.forward(x, t)
        dx = layer.backward(1.0)
    analytic = {"x": np.array(dx, copy=True), **{k: np.array(g, copy=True) for k, g in layer.grads.items()}}
    numeric = {"x": gradient.numerical_gradient(f, x, h)}
    for name, p in layer.params.items():
        numeric[name] = gradient.numerical_gradient(f, p, h)
    return {k: gradient.relative_error(analytic[k], numeric[k]) for k in analytic}


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded Generator per test."""
    return np.random.default_rng(0)


@pytest.fixture
def grad_errors() -> Callable[..., dict[str, float]]:
    """The single-layer gradient check :func:`layer_grad_errors`."""
    return layer_grad_errors
