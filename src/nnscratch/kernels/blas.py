"""C = A @ B or C += A @ B into a caller's buffer: the one matrix product the kernels are made of.

NumPy's matmul cannot accumulate (BLAS beta = 1), so ``C += A @ B`` costs a temporary and an
extra pass over C. SciPy's BLAS wrappers can: when SciPy is installed and the backend is NumPy,
accumulating float32/float64 products with a short reduction (k <= m, the convolution's products
per kernel offset) go straight to ``?gemm`` with beta = 1 on C's memory (C is handed over in
Fortran order as C^T = B^T A^T, so nothing is copied). Everything else (no SciPy, CuPy, long
reductions into a small C, and rows split across threads: SciPy's wrappers hold the GIL) runs
the portable ``matmul`` (+ add); all give the same numbers up to round-off. Measured by
bench/kernels.py (contestants ``kernels-fold`` vs ``kernels-fold-numpy``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import backend
from . import threads

try:  # optional: a faster accumulate, measured in bench/kernels.py
    from scipy.linalg import blas as _blas
except ImportError:  # pragma: no cover - depends on the environment
    _blas = None

#: use SciPy's BLAS with beta = 1 when it is there (bench/kernels.py switches it to compare)
USE_SCIPY_BLAS: bool = _blas is not None
#: dtype.char -> ?gemm (a dict lookup: this runs thousands of times per training step)
_GEMM: dict[str, Any] = {} if _blas is None else {"f": _blas.sgemm, "d": _blas.dgemm}


def _fortran_operand(m: Any) -> tuple[Any, int] | None:
    """(array, trans) such that op(array) = m^T with array Fortran-contiguous, or None."""
    if m.flags.c_contiguous:
        return m.T, 0
    if m.flags.f_contiguous:
        return m, 1
    return None


def _scipy_gemm(dtype: Any) -> Any:
    """SciPy's ?gemm for ``dtype`` where it may run now (installed, NumPy backend, not inside a
    parallel section: SciPy's wrappers hold the GIL, so threads sharing rows use NumPy's matmul), else None."""
    if not USE_SCIPY_BLAS or backend.xp is not np or threads.in_parallel():
        return None
    return _GEMM.get(np.dtype(dtype).char)


def accumulator(dtype: Any) -> Callable[[Any, Any, Any, Any], None]:
    """acc(a, b, out, tmp): out += a @ b for C-contiguous a (m, k), b (k, n), out (m, n) of ``dtype``
    with k <= m (the per-offset products), ``tmp`` (m, n) scratch for the portable path.

    :func:`gemm`'s choice made once for a loop of thousands of such calls (its checks cost about
    1 us a call, measured on a 1400x16 @ 16x16 product of 10 us).
    """
    xp, fn = backend.xp, _scipy_gemm(dtype)
    if fn is not None:
        def acc(a: Any, b: Any, out: Any, tmp: Any) -> None:
            fn(1.0, b.T, a.T, 1.0, out.T, overwrite_c=1)  # out^T += b^T a^T in out's memory
    else:
        def acc(a: Any, b: Any, out: Any, tmp: Any) -> None:
            xp.matmul(a, b, out=tmp)
            out += tmp
    return acc


def gemm(a: Any, b: Any, out: Any, accumulate: bool = False, tmp: Any = None) -> Any:
    """out = a @ b, or out += a @ b when ``accumulate``; a (m, k), b (k, n), out (m, n) C-contiguous.

    ``tmp`` (m, n) is scratch for the portable path's accumulate (allocated when not given).
    """
    xp = backend.xp
    # beta = 1 pays where C is large next to the reduction (k <= m: the per-offset products);
    # a long reduction into a small C (dW) runs faster in NumPy's newer BLAS, and its add is tiny
    fn = _scipy_gemm(out.dtype) if accumulate and a.shape[1] <= out.shape[0] else None
    if fn is not None and out.flags.c_contiguous and a.dtype == b.dtype == out.dtype:
        x, y = _fortran_operand(b), _fortran_operand(a)
        if x is not None and y is not None:
            # c = out^T is Fortran-contiguous and of gemm's dtype, so f2py writes into it in place
            fn(1.0, x[0], y[0], 1.0 if accumulate else 0.0, out.T, trans_a=x[1], trans_b=y[1], overwrite_c=1)
            return out
    if not accumulate:
        return xp.matmul(a, b, out=out)
    if tmp is None:
        tmp = xp.empty_like(out)
    xp.matmul(a, b, out=tmp)
    out += tmp
    return out
