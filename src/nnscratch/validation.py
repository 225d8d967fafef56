"""Argument checks shared by every public entry point: one function per kind of value.

Each returns the value normalised (an ``int``, a ``float``) or raises ``ValueError`` whose message
names the argument, says what was expected and shows what came, e.g.
``stride must be an integer >= 1, got 0``. Imports NumPy only, so any module may use it.
"""
from __future__ import annotations

import math
from typing import Any, Collection, Iterable

import numpy as np


def _bound(v: float) -> str:
    return f"{v:g}"


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` (Python or NumPy integer, not bool), within [minimum, maximum] when given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be {_int_range(minimum, maximum)}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {_int_range(minimum, maximum)}, got {value!r}")
    return int(value)


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum in (0, 1):
        return f"a {'non-negative' if minimum == 0 else 'positive'} integer"
    if minimum is not None:
        return f"an integer >= {minimum}"
    return "an integer" if maximum is None else f"an integer <= {maximum}"


def check_number(name: str, value: Any, lo: float = -math.inf, hi: float = math.inf, *,
                 lo_open: bool = False, hi_open: bool = False) -> float:
    """``float(value)``, checked to lie in [lo, hi] (``lo_open`` / ``hi_open`` exclude an end); NaN never passes.

    Any real number (int, float, NumPy scalar, 0-d array) is accepted; bools and strings are not.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    above = x > lo if lo_open else x >= lo
    below = x < hi if hi_open else x <= hi
    if not (above and below):
        interval = f"{'(' if lo_open else '['}{_bound(lo)}, {_bound(hi)}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return x


def check_positive(name: str, value: Any, finite: bool = True) -> float:
    """``float(value)`` > 0 (and finite unless ``finite=False``)."""
    try:
        x = check_number(name, value, 0.0, lo_open=True)
    except ValueError:
        x = math.nan
    if math.isnan(x) or (finite and not math.isfinite(x)):
        kind = "a positive finite number" if finite else "a positive number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return x


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` itself when it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


#: dtype kinds a numeric input may have: bool, signed and unsigned integers, floats (cast to float)
REAL_KINDS = "biuf"
_KIND_NAMES = {"c": "complex", "M": "datetime", "m": "timedelta", "O": "object", "U": "string", "S": "bytes",
               "V": "structured (void)"}


def check_real_array(name: str, value: Any) -> np.ndarray:
    """``value`` as an array of real numbers (bool, int, uint or float dtype); ``TypeError`` otherwise.

    Complex inputs would lose their imaginary part, datetimes and objects have no meaning as pixel
    values, so they are refused by name instead of being cast.
    """
    try:
        a = np.asarray(value) if not (hasattr(value, "dtype") and hasattr(value, "shape")) else value
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__} ({exc})") from None
    kind = np.dtype(a.dtype).kind
    if kind not in REAL_KINDS:
        raise TypeError(f"{name} must be an array of real numbers (bool, int or float), "
                        f"got {_KIND_NAMES.get(kind, kind)} dtype {a.dtype}")
    return a


def check_labels(name: str, t: Any, n: int | None = None, num_classes: int | None = None) -> np.ndarray:
    """Class labels as int64 indices (N,): integer labels (N,) (integral floats too) or one-hot (N, C).

    Checks the rank (1-D or 2-D), that the values are whole numbers (not bool, not NaN, not strings),
    the length against ``n`` (the number of inputs) and, with ``num_classes``, the range
    [0, num_classes) and the one-hot width. Raises ValueError naming ``name``.
    """
    try:
        a = t if hasattr(t, "dtype") and hasattr(t, "ndim") else np.asarray(t)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be integer class labels, got {type(t).__name__} ({exc})") from None
    kind = np.dtype(a.dtype).kind
    if kind == "b" or kind not in "iuf":
        raise ValueError(f"{name} must be integer class labels or one-hot rows, got dtype {a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D class labels (N,) or 2-D one-hot (N, C), got shape {tuple(a.shape)}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name}: got {a.shape[0]} labels for a batch of {n} inputs; expected one label per input")
    if a.ndim == 2:
        if num_classes is not None and a.shape[1] != num_classes:
            raise ValueError(f"{name}: one-hot labels must have shape ({a.shape[0]}, {num_classes}) "
                             f"({num_classes} classes), got {tuple(a.shape)}")
        if kind == "f" and a.size and not bool(np.isfinite(a).all()):
            raise ValueError(f"{name}: one-hot labels contain NaN or inf")
        return np.asarray(a.argmax(axis=1), dtype=np.int64)
    a = np.asarray(a)
    if kind == "f" and a.size:
        if not bool(np.isfinite(a).all()):
            raise ValueError(f"{name} must be integer class labels, got NaN or inf")
        if not bool((a == np.round(a)).all()):
            raise ValueError(f"{name}: labels must be integers, got fractional values such as {a[a != np.round(a)][0]!r}")
    labels = a.astype(np.int64, copy=False)
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        top = None if num_classes is None else num_classes - 1
        if lo < 0 or (top is not None and hi > top) or (kind == "u" and hi != a.max()):
            expected = f"lie in [0, {top}]" if top is not None else "be >= 0"
            raise ValueError(f"{name}: labels must {expected} (class indices), got values from {lo} to {hi}")
    return labels


def key_mismatch(expected: Iterable[str], got: Iterable[str]) -> tuple[list[str], list[str]]:
    """(missing, unexpected): the keys of ``expected`` not in ``got``, and of ``got`` not in ``expected``, sorted."""
    expected, got = set(expected), set(got)
    return sorted(expected - got), sorted(got - expected)


__all__ = ["REAL_KINDS", "check_choice", "check_int", "check_labels", "check_number", "check_positive",
           "check_real_array", "key_mismatch"]
