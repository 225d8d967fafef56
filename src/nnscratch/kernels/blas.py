"""C = A @ B or C += A @ B into a caller's buffer: the one matrix product the kernels are made of.

NumPy's matmul cannot accumulate (BLAS beta = 1), so ``C += A @ B`` costs a temporary and an
extra pass over C. The BLAS that NumPy already loaded can: where threadpoolctl finds OpenBLAS,
its ``cblas_sgemm`` / ``cblas_dgemm`` are called through ctypes (cblas.py) with beta = 1 on C's
memory. ctypes lets go of the interpreter lock during the call, so the kernel threads multiply
side by side (SciPy's BLAS wrappers, used here before, hold it: two threads ran at 0.88x one).
Everything else (another BLAS, no threadpoolctl, CuPy) runs the portable ``matmul`` (+ add);
both give the same numbers up to round-off. Measured by bench/kernels.py (contestants
``kernels-fold`` vs ``kernels-fold-numpy``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import backend
from . import cblas

#: call the loaded BLAS with beta = 1 when it is there (bench/kernels.py switches it to compare)
USE_CBLAS: bool = cblas.available()


def _cblas_gemm(dtype: Any) -> Any:
    """cblas.gemm where it may run for ``dtype`` now (found, enabled, NumPy backend), else None."""
    if not USE_CBLAS or backend.xp is not np or np.dtype(dtype).char not in "fd":
        return None
    return cblas.gemm


def accumulator(a: Any, b: Any, out: Any, tmp: Any) -> Callable[[int, int, int, int], None]:
    """acc(r, o, m, q): out[o:o+m] += a[r:r+m] @ b[q], for C-contiguous a (rows, k), a stack of
    right-hand matrices b (Q, k, n) and out (rows', n) of one dtype; ``tmp`` (>= m, n) is scratch
    for the portable path.

    The convolution's per-offset products, thousands a step: the pointers are worked out here once,
    so a call costs one BLAS call (``a[r:r+m]`` and its checks cost microseconds on a 10 us product).
    """
    xp = backend.xp
    if _cblas_gemm(out.dtype) is not None and out.dtype == a.dtype == b.dtype \
            and all(m.flags.c_contiguous for m in (a, b, out)):
        return cblas.row_accumulator(a, b, out)

    def acc(r: int, o: int, m: int, q: int) -> None:
        xp.matmul(a[r:r + m], b[q], out=tmp[:m])
        out[o:o + m] += tmp[:m]
    return acc


def gemm(a: Any, b: Any, out: Any, accumulate: bool = False, tmp: Any = None) -> Any:
    """out = a @ b, or out += a @ b when ``accumulate``; a (m, k), b (k, n), out (m, n) C-contiguous.

    ``tmp`` (m, n) is scratch for the portable path's accumulate (allocated when not given).
    """
    xp = backend.xp
    # beta = 1 pays where C is large next to the reduction (k <= m: the per-offset products); a long
    # reduction into a small C (dW, db) keeps NumPy's matmul (which takes gemv for one row) and its tiny add
    fn = _cblas_gemm(out.dtype) if accumulate and a.shape[1] <= out.shape[0] else None
    if fn is not None and out.flags.c_contiguous and a.dtype == b.dtype == out.dtype and fn(a, b, out, 1.0):
        return out
    if not accumulate:
        return xp.matmul(a, b, out=out)
    if tmp is None:
        tmp = xp.empty_like(out)
    xp.matmul(a, b, out=tmp)
    out += tmp
    return out
