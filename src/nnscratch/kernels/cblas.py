"""``cblas_?gemm`` of the OpenBLAS NumPy loaded, through ctypes: C = alpha A B + beta C in place.

NumPy's matmul has no beta, SciPy's wrappers hold the interpreter lock while they multiply; a
ctypes call of the C function does neither. The library is an OpenBLAS among those threadpoolctl
finds (``threads`` keeps the list; NumPy's wheels ship OpenBLAS with 64-bit integers and the
symbols ``scipy_cblas_sgemm64_``...), checked on a small product when first loaded; where none is found everything here reports unavailable
and blas.py multiplies with NumPy.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, NamedTuple

import numpy as np

from . import threads

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: symbol prefix, suffix and integer type of the builds known: NumPy's wheels, ILP64, plain LP64
_NAMINGS = (("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64), ("", "", ctypes.c_int))
_state: dict[str, Any] = {"loaded": False, "fns": {}}


class Gemm(NamedTuple):
    """One ``cblas_?gemm``: ``checked`` converts Python numbers (argtypes); ``raw`` takes ctypes
    values as they are (the hot loop's call, about 1.5 us cheaper), of types ``integer`` and ``real``."""
    checked: Any
    raw: Any
    integer: Any
    real: Any


def _bind(lib: Any) -> dict[str, Gemm]:
    """{"f": sgemm, "d": dgemm} of ``lib``, or {} if it has neither under a known naming."""
    for prefix, suffix, integer in _NAMINGS:
        fns = {}
        for char, real in (("f", ctypes.c_float), ("d", ctypes.c_double)):
            name = f"{prefix}cblas_{'s' if char == 'f' else 'd'}gemm{suffix}"
            if not hasattr(lib, name):
                break
            checked, raw = lib[name], lib[name]  # two function objects: argtypes belong to one
            pointer = ctypes.c_void_p  # order, trans a, trans b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
            checked.argtypes = [ctypes.c_int] * 3 + [integer] * 3 + [real, pointer, integer, pointer, integer,
                                                                     real, pointer, integer]
            checked.restype = raw.restype = None
            fns[char] = Gemm(checked, raw, integer, real)
        if len(fns) == 2:
            return fns
    return {}


def _load() -> dict[str, Any]:
    if not _state["loaded"]:
        _state["loaded"] = True
        for lib in threads._blas_libs():  # the BLAS libraries threadpoolctl found (none without it)
            if lib.internal_api != "openblas":
                continue
            try:
                fns = _bind(ctypes.CDLL(lib.filepath))
            except OSError:  # pragma: no cover - depends on the environment
                continue
            if fns and _works(fns):
                _state["fns"] = fns
                break
    return _state["fns"]


def _works(fns: dict[str, Any]) -> bool:
    """The binding ``fns`` gives a known product (a wrong integer width would not)."""
    for dtype in (np.float32, np.float64):
        a, b = np.arange(6, dtype=dtype).reshape(3, 2), np.arange(8, dtype=dtype).reshape(2, 4)
        c = np.ones((3, 4), dtype)
        if not _gemm(fns, a, b, c, 1.0) or not np.array_equal(c, 1 + a @ b):
            return False
    return True


def available() -> bool:
    """True when an OpenBLAS with a working ``cblas_?gemm`` is loaded."""
    return bool(_load())


def _operand(m: Any) -> tuple[int, int] | None:
    """(trans, leading dimension) of a row-major operand m, or None if it is neither C- nor F-contiguous."""
    if m.flags.c_contiguous:
        return _NO_TRANS, max(1, m.shape[1])
    if m.flags.f_contiguous:
        return _TRANS, max(1, m.shape[0])
    return None


def gemm(a: Any, b: Any, out: Any, beta: float) -> bool:
    """out = a @ b + beta * out for 2-D float32/float64 arrays of out's dtype, out C-contiguous,
    a and b C- or F-contiguous; False (nothing done) when they are not so."""
    return _gemm(_state["fns"], a, b, out, beta)


def _gemm(fns: dict[str, Any], a: Any, b: Any, out: Any, beta: float) -> bool:
    fn = fns.get(out.dtype.char)
    x, y = _operand(a), _operand(b)
    if fn is None or x is None or y is None or not out.flags.c_contiguous or out.ndim != 2:
        return False
    m, n = out.shape
    fn.checked(_ROW_MAJOR, x[0], y[0], m, n, a.shape[1], 1.0, a.ctypes.data, x[1], b.ctypes.data, y[1],
               beta, out.ctypes.data, max(1, n))
    return True


def row_accumulator(a: Any, b: Any, out: Any) -> Callable[[int, int, int, int], None]:
    """acc(r, o, m, q): out[o:o+m] += a[r:r+m] @ b[q] for C-contiguous a (rows, k), b (Q, k, n),
    out (rows', n) of one dtype, with no bounds checks (the caller's ranges must lie inside)."""
    fn = _state["fns"][out.dtype.char]
    k, n, item = a.shape[1], b.shape[2], out.itemsize
    pa, pb, po = a.ctypes.data, b.ctypes.data, out.ctypes.data
    row_a, mat_b, row_o = k * item, k * n * item, n * item
    order, no_trans = ctypes.c_int(_ROW_MAJOR), ctypes.c_int(_NO_TRANS)
    ck, cn, one, pointer, call = fn.integer(k), fn.integer(n), fn.real(1.0), ctypes.c_void_p, fn.raw
    lengths: dict[int, Any] = {}  # m -> ctypes integer: a few distinct chunk lengths

    def acc(r: int, o: int, m: int, q: int, _arrays: tuple = (a, b, out)) -> None:  # they outlive the pointers
        cm = lengths.get(m) or lengths.setdefault(m, fn.integer(m))
        call(order, no_trans, no_trans, cm, cn, ck, one, pointer(pa + r * row_a), ck, pointer(pb + q * mat_b), cn,
             one, pointer(po + o * row_o), cn)
    return acc
