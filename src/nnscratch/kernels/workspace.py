"""Scratch arrays a layer keeps between calls, so a training step allocates (and page-faults) nothing new."""
from __future__ import annotations

from typing import Any

from .. import backend


class Workspace:
    """Arrays by (name, shape, dtype), zero when created; what a caller never writes stays zero.

    The convolution kernels rely on that: the padding of an image buffer is written once (by the
    allocation) and every later call overwrites only the pixels. A layer owns one Workspace.
    """

    def __init__(self, limit: int = 48) -> None:
        self._arrays: dict[tuple, Any] = {}
        self.limit = limit

    def zeros(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        key = (name, tuple(shape), backend.xp.dtype(dtype).str)
        arr = self._arrays.get(key)
        if arr is None:
            if len(self._arrays) >= self.limit:  # many batch sizes seen: start afresh rather than grow
                self._arrays.clear()
            arr = self._arrays[key] = backend.xp.zeros(shape, dtype=dtype)
        return arr

    def clear(self) -> None:
        self._arrays.clear()

    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self._arrays.values()))
