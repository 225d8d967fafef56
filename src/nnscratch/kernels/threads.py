"""Split a kernel's rows across worker threads, each running single-threaded BLAS.

The kernels are thousands of small matrix products per step. OpenBLAS splits each one across its
own threads (waking them for ~10 us of work, and waiting on them when another process holds the
core), so the kernels instead give each thread a contiguous range of rows and let BLAS run on one
thread inside. The number of workers follows the BLAS thread count in force (``OPENBLAS_NUM_THREADS``,
threadpoolctl's limits, a future ``--threads``), which threadpoolctl reads; without threadpoolctl,
or on CuPy, everything runs in the calling thread. NumPy and BLAS release the GIL while they work.
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import numpy as np

from .. import backend

_state: dict[str, Any] = {"libs": None, "pool": None, "size": 0}


def _blas_libs() -> list[Any]:
    if _state["libs"] is None:
        try:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415
        except ImportError:  # pragma: no cover - depends on the environment
            _state["libs"] = []
        else:
            _state["libs"] = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return _state["libs"]


def workers() -> int:
    """Threads the kernels may use now: the BLAS thread count (1 without threadpoolctl or on CuPy)."""
    if backend.xp is not np:
        return 1
    libs = _blas_libs()
    if not libs:
        return 1
    return max(1, min(os.cpu_count() or 1, max(lib.get_num_threads() for lib in libs)))


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    libs = _blas_libs()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.set_num_threads(n)


def split(total: int, parts: int, align: int = 1) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges covering [0, total), boundaries on multiples of ``align``."""
    blocks = -(-total // align)
    parts = max(1, min(parts, blocks))
    cuts = [min(total, (blocks * i // parts) * align) for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]


def run(fn: Callable[[int, int, int], Any], total: int, align: int = 1, n_workers: int | None = None) -> list[Any]:
    """[fn(lo, hi, worker) for each range of :func:`split`], the ranges run concurrently."""
    n = workers() if n_workers is None else n_workers
    ranges = split(total, n, align)
    if len(ranges) == 1:
        return [fn(ranges[0][0], ranges[0][1], 0)]
    if _state["size"] < len(ranges) - 1:
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
        _state["pool"] = ThreadPoolExecutor(len(ranges) - 1, thread_name_prefix="nnscratch-kernel")
        _state["size"] = len(ranges) - 1
    with _single_threaded_blas():
        futures = [_state["pool"].submit(fn, lo, hi, i) for i, (lo, hi) in enumerate(ranges[1:], 1)]
        try:
            first = fn(ranges[0][0], ranges[0][1], 0)
        finally:
            rest = [f.result() for f in futures]  # all done (or raised) before BLAS threads return
        return [first, *rest]
