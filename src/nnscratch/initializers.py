"""Initial weight values (ch. 6.2): Gaussian weights with a fixed std, Xavier, or He.

A spec is a positive float std (the book's 0.01), 'xavier' (std = sqrt(1 / fan_in), for sigmoid
and tanh) or 'he' (std = sqrt(2 / fan_in), for ReLU); 'sigmoid'/'tanh'/'relu' are aliases.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Union

import numpy as np

from . import backend
from .validation import check_positive

Spec = Union[float, str]

#: accepted names (case-insensitive) -> the scheme they stand for
INITIALIZER_NAMES: dict[str, str] = {
    "xavier": "xavier",
    "sigmoid": "xavier",
    "tanh": "xavier",
    "he": "he",
    "relu": "he",
}
_GAIN = {"xavier": 1.0, "he": 2.0}  # std = sqrt(gain / fan_in)


def _as_shape(shape: Any) -> tuple[int, ...]:
    """Validate a shape: an int or a sequence of positive ints."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in dims):
        raise ValueError(f"shape must be a non-empty sequence of positive ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def fan_in(shape: Any) -> int:
    """Inputs feeding one unit: dense W of shape (fan_in, fan_out) -> fan_in; conv W (FN, C, FH, FW) -> C*FH*FW."""
    dims = _as_shape(shape)
    if len(dims) == 2:
        return dims[0]
    if len(dims) == 4:
        return dims[1] * dims[2] * dims[3]
    raise ValueError(
        f"fan_in needs a dense weight shape (fan_in, fan_out) or a conv shape (FN, C, FH, FW), got {dims}"
    )


def _parse(spec: Any) -> tuple[str, float]:
    """('std', value) for a number, ('xavier' | 'he', gain) for a name; anything else is an error."""
    if isinstance(spec, str):
        scheme = INITIALIZER_NAMES.get(spec.strip().lower())
        if scheme is None:
            raise ValueError(
                f"unknown initializer {spec!r}; expected a positive float std or one of {sorted(INITIALIZER_NAMES)}"
            )
        return scheme, _GAIN[scheme]
    if isinstance(spec, bool) or not isinstance(spec, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"initializer spec must be a positive float std or one of {sorted(INITIALIZER_NAMES)}, "
            f"got {type(spec).__name__}"
        )
    return "std", check_positive("weight std", spec)


def weight_std(shape: Any, spec: Spec) -> float:
    """The std a spec gives for a weight shape: the float itself, sqrt(1/fan_in) (Xavier) or sqrt(2/fan_in) (He)."""
    kind, value = _parse(spec)
    if kind == "std":
        _as_shape(shape)
        return value
    return math.sqrt(value / fan_in(shape))


def init_weight(
    shape: Any, spec: Spec = 0.01, rng: int | np.random.Generator | None = None, dtype: Any = None
) -> Any:
    """W ~ N(0, std^2) of the given shape (ch. 6.2), std from the spec; drawn in float64, then cast.

    Drawing in float64 means one seed gives the same weights (up to rounding) in float32 and float64.
    """
    std = weight_std(shape, spec)
    dt = backend.as_dtype(dtype) if dtype is not None else backend.default_dtype()
    w = backend.rng(rng).standard_normal(_as_shape(shape), dtype=np.float64) * std
    return backend.xp.asarray(w.astype(dt))


def get_initializer(spec: Spec) -> Callable[..., Any]:
    """An initializer function ``init(shape, rng=None, dtype=None) -> W`` for a spec (validated now)."""
    kind, _ = _parse(spec)

    def init(shape: Any, rng: int | np.random.Generator | None = None, dtype: Any = None) -> Any:
        return init_weight(shape, spec, rng=rng, dtype=dtype)

    init.__name__ = f"init_{kind}"
    init.__doc__ = f"init_weight(shape, {spec!r}, rng, dtype): Gaussian weights, see nnscratch.initializers."
    return init


__all__ = ["INITIALIZER_NAMES", "fan_in", "weight_std", "init_weight", "get_initializer"]
