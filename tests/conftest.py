"""Shared test fixtures: a seeded Generator and the single-layer gradient check."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from nnscratch.gradient import layer_gradient_check


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded Generator per test."""
    return np.random.default_rng(0)


@pytest.fixture
def grad_errors() -> Callable[..., dict[str, float]]:
    """The single-layer gradient check :func:`nnscratch.gradient.layer_gradient_check`."""
    return layer_gradient_check
