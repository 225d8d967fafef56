"""Split a kernel's rows across worker threads, each running single-threaded BLAS.

The kernels are thousands of small matrix products per step. OpenBLAS splits each one across its
own threads (waking them for ~10 us of work, and waiting on them when another process holds the
core), so the kernels instead give each thread a contiguous range of rows and let BLAS run on one
thread inside. The number of workers follows the BLAS thread count in force (``OPENBLAS_NUM_THREADS``,
threadpoolctl's limits, ``--threads``), which threadpoolctl reads; without threadpoolctl, or on
CuPy, everything runs in the calling thread. NumPy's matmul and copies, and the ctypes calls of
``cblas_?gemm`` (blas.py), release the GIL while they work. A network pass runs inside
:func:`handed_over` (``Sequential`` enters it when a layer is on the kernels), so BLAS's own
threads never wake between the kernels. Python threads pay for every GIL hand-over, so a product
must be tens of microseconds long to gain from a second one: the convolution's chunks are larger
when they are split (``kernels.conv.PARALLEL_CHUNK_MACS``).
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import numpy as np

from .. import backend

_state: dict[str, Any] = {"libs": None, "pool": None, "size": 0, "handed_over": None}


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
    """Threads the kernels may use now: the BLAS thread count (1 without threadpoolctl or on CuPy),
    or inside :func:`handed_over` the count BLAS had when it was entered."""
    if backend.xp is not np:
        return 1
    if _state["handed_over"] is not None:
        return _state["handed_over"]
    libs = _blas_libs()
    if not libs:
        return 1
    return max(1, min(os.cpu_count() or 1, max(lib.get_num_threads() for lib in libs)))


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread inside the block (its thread counts restored after); a cheap call, for
    every step: the libraries are looked up once (threadpoolctl's own ``threadpool_limits`` scans
    them each time, 0.6 ms)."""
    libs = _blas_libs()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.set_num_threads(n)


@contextlib.contextmanager
def handed_over() -> Iterator[None]:
    """A whole network pass with BLAS's threads handed to the kernels: BLAS runs on one thread
    (also for the Affine layers between the convolutions) and the kernels split over as many
    workers as BLAS had threads.

    Why: after a multi-threaded call OpenBLAS's helper threads spin for about 0.1 s waiting for
    more work (measured: 0.10 CPU-s burnt in a 0.2 s sleep after one 100x1024 @ 1024x50 product),
    so one small Affine product per step keeps a core busy under the kernels' second worker.
    Measured with a DeepConvNet step at 2 threads: 100-106 ms with the helpers, 68-79 ms without.
    """
    if _state["handed_over"] is not None:  # a pass inside a pass: the outer one holds the count
        yield
        return
    n = _state["handed_over"] = workers()  # fixed for the pass: workers() is then a lookup
    try:
        with single_threaded_blas() if n > 1 else contextlib.nullcontext():
            yield
    finally:
        _state["handed_over"] = None


#: OpenBLAS kernels without AVX-512, to which OPENBLAS_CORETYPE can hold a CPU that has it
NARROW_KERNELS = frozenset({"haswell", "zen", "sandybridge", "nehalem", "core2", "penryn", "dunnington",
                            "prescott", "atom", "barcelona", "bulldozer", "piledriver", "steamroller", "excavator"})


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def pinned_kernel_note(env: Any = None, kernel: str | None = None, cpu_flags: set[str] | None = None) -> str | None:
    """One line for a long command to print when ``OPENBLAS_CORETYPE`` holds NumPy's OpenBLAS to a kernel
    without AVX-512 on a CPU with AVX-512: its matrix products then use half the vector width (measured on a
    Zen 5: sgemm 121 against 232 GFLOP/s, a DeepConvNet step 66 against 38-40 ms). None otherwise. The
    arguments stand in for os.environ, the loaded OpenBLAS's kernel and the CPU's flags (tests)."""
    pinned = (os.environ if env is None else env).get("OPENBLAS_CORETYPE")
    if not pinned:
        return None
    if kernel is None:
        kernel = next((lib.info().get("architecture") for lib in _blas_libs() if lib.internal_api == "openblas"), None)
    flags = _cpu_flags() if cpu_flags is None else cpu_flags
    if not kernel or kernel.lower() not in NARROW_KERNELS or "avx512f" not in flags:
        return None
    return (f"note: OPENBLAS_CORETYPE={pinned} holds NumPy's OpenBLAS to its {kernel} kernel on this AVX-512 CPU; "
            "matrix products and convolutions run slower than with the variable unset")


def split(total: int, parts: int, align: int = 1) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges covering [0, total), boundaries on multiples of ``align``."""
    blocks = -(-total // align)
    parts = max(1, min(parts, blocks))
    cuts = [min(total, (blocks * i // parts) * align) for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]


def chunked(fn: Callable[[int, int, int], Any], chunk: int) -> Callable[[int, int, int], None]:
    """fn over [lo, hi) in pieces of at most ``chunk``, for :func:`run`: each pass stays in cache."""
    def pieces(lo: int, hi: int, worker: int) -> None:
        for start in range(lo, hi, chunk):
            fn(start, min(hi, start + chunk), worker)
    return pieces


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
    with single_threaded_blas():
        futures = [_state["pool"].submit(fn, lo, hi, i) for i, (lo, hi) in enumerate(ranges[1:], 1)]
        try:
            first = fn(ranges[0][0], ranges[0][1], 0)
        finally:
            rest = [f.result() for f in futures]  # all done (or raised) before BLAS threads return
        return [first, *rest]


#: multiply-adds below which :func:`matmul` keeps a product on one worker (a hand-over costs tens of us)
SPLIT_MATMUL_MACS = 2**22


def matmul(a: Any, b: Any) -> Any:
    """a @ b for 2-D a (m, k) and b (k, n); inside :func:`handed_over` with more than one worker, split
    over them. BLAS runs on one thread there, so an Affine between the convolutions would use one core.

    Each worker packs whole every operand it is not given a part of, so the split is the one that
    copies least: a's rows (b read by all: b's size), b's columns (a's), or the reduction (every
    worker a share of both, then one sum of the (m, n) partial products).
    """
    xp, n = backend.xp, _state["handed_over"] or 1
    (m, k), cols = a.shape, b.shape[1]
    if n == 1 or xp is not np or m * k * cols < SPLIT_MATMUL_MACS:
        return a @ b
    copied = {"rows": b.size, "cols": a.size, "reduction": 2 * m * cols}
    split_by = min(copied, key=copied.get)
    if split_by == "reduction":
        parts = run(lambda lo, hi, _: xp.matmul(a[:, lo:hi], b[lo:hi]), k, n_workers=n)
        for part in parts[1:]:
            parts[0] += part
        return parts[0]
    out = xp.empty((m, cols), dtype=xp.result_type(a, b))
    if split_by == "rows":
        run(lambda lo, hi, _: xp.matmul(a[lo:hi], b, out=out[lo:hi]), m, n_workers=n)
    else:
        run(lambda lo, hi, _: xp.matmul(a, b[:, lo:hi], out=out[:, lo:hi]), cols, n_workers=n)
    return out
