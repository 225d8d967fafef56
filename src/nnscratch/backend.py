"""One place that picks the array module (numpy, or cupy on a GPU) and the default float dtype.

Everything array-shaped in nnscratch goes through :data:`xp` so CuPy can run it unchanged.
float32 is the default; gradient checks ask for float64 with ``precision("float64")``.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from . import optional

xp: Any = np
_default_dtype: np.dtype = np.dtype(np.float32)
_FLOAT_DTYPES = ("float16", "float32", "float64")


def use(name: str = "numpy") -> None:
    """Select the array module: 'numpy' (default) or 'cupy' (needs the cupy extra and a GPU)."""
    global xp
    if name == "numpy":
        xp = np
    elif name == "cupy":
        xp = optional.require("cupy", "backend 'cupy' needs CuPy", hint="pip install cupy-cuda12x")
    else:
        raise ValueError(f"unknown backend {name!r}; expected 'numpy' or 'cupy'")


def get_array_module() -> Any:
    """The array module in use (numpy or cupy)."""
    return xp


def as_dtype(dtype: Any) -> np.dtype:
    """Normalise a dtype name/object; only float16/32/64 are accepted."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {_FLOAT_DTYPES}") from exc
    if dt.name not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of {_FLOAT_DTYPES}, got {dt.name!r}")
    return dt


def default_dtype() -> np.dtype:
    """The float dtype new parameters and converted inputs get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    global _default_dtype
    _default_dtype = as_dtype(dtype)


@contextlib.contextmanager
def precision(dtype: Any) -> Iterator[np.dtype]:
    """Temporarily change the default dtype: ``with precision('float64'): ...``."""
    global _default_dtype
    old = _default_dtype
    _default_dtype = as_dtype(dtype)
    try:
        yield _default_dtype
    finally:
        _default_dtype = old


def asarray(x: Any, dtype: Any = None) -> Any:
    """Convert to an array of the backend; floats get ``dtype`` (default: the default dtype)."""
    return xp.asarray(x, dtype=as_dtype(dtype) if dtype is not None else _default_dtype)


def to_numpy(x: Any) -> np.ndarray:
    """Bring an array back to host NumPy (a no-op for NumPy arrays)."""
    if hasattr(x, "get"):
        return x.get()
    return np.asarray(x)


def rng(seed: int | np.random.Generator | None = None) -> np.random.Generator:
    """A NumPy Generator from a seed (or pass a Generator through): every random choice takes one."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
