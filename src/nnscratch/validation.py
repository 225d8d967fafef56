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


def key_mismatch(expected: Iterable[str], got: Iterable[str]) -> tuple[list[str], list[str]]:
    """(missing, unexpected): the keys of ``expected`` not in ``got``, and of ``got`` not in ``expected``, sorted."""
    expected, got = set(expected), set(got)
    return sorted(expected - got), sorted(got - expected)


__all__ = ["check_choice", "check_int", "check_number", "check_positive", "key_mismatch"]
