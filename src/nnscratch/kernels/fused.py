"""A first convolution, its ReLU and the max pool after it in one pass (SimpleConvNet's conv1-relu1-pool1).

The first layer's output is the largest array of a small network (SimpleConvNet: 100 x 30 x 24 x 24,
6.9 MB in float32) and the pool reads it straight back. Here the two run chunk by chunk: the
column matrix of a few output rows (columns.py's few-channel path), its product with the weights
into a scratch block that stays in cache, and the pool (ReLU folded in, pool.py's
:func:`~nnscratch.kernels.pool.max_into`) from that block into the pooled output, written in the book's NCHW order (the next layer is usually an Affine,
whose reshape is then free). Backward undoes
it the same way: each window's gradient goes to its first maximum in the scratch block
(:func:`~nnscratch.kernels.pool.max_grad_into`), then [dW; db] += [colT; 1] @ block. The
convolution's output never exists whole, in either direction. The results are those of
conv2d_forward then pool2d_forward (and back) up to the order of float sums.

Taken where it applies (:func:`fusable`): the column path (fewer than COLUMN_CHANNELS input
channels), a max pool whose windows tile the output (stride = pool size, no padding), and no
gradient wanted for the input (a network's first layer).
"""
from __future__ import annotations

from typing import Any

from .. import backend
from . import threads
from .blas import gemm
from .columns import COLUMN_CHANNELS, _columns_t, _padded_hwnc, window_rows
from .geometry import Geometry, lhs_weights
from .pool import max_grad_into, max_into
from .workspace import Workspace

__all__ = ["ConvPoolSaved", "conv_pool_backward", "conv_pool_forward", "fusable"]

#: bytes of column matrix and convolution output per chunk (both stay in cache until pooled; measured
#: on SimpleConvNet's conv1-pool1 at 1 and 2 threads: 2 MiB no slower than 1 or 4 MiB, 0.5-1 MiB slower at 2)
FUSED_CHUNK_BYTES = 2 * 2**20
#: the filters run padded (zero weights) to a multiple of this many, so every pixel's channels fill
#: whole 64-byte vectors: SimpleConvNet's 30 -> 32 made conv1's products 20-30 % faster (OpenBLAS 0.3.31)
FILTER_ALIGN = 16
#: rows per matrix product: OpenBLAS's float32 products with these short reductions (26 taps) ran
#: 15 ns a row up to 1200 rows and 23-29 above (M = 1232 .. 2400, measured on SimpleConvNet's conv1)
GEMM_ROWS = 1200


def fusable(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: int, pad: int, pool: int) -> bool:
    """True when conv (W of ``w_shape``, stride, pad) then a pool x pool max pool of stride ``pool``
    on x of ``x_shape`` can run as one pass: few input channels, pooled windows tiling the output."""
    if len(x_shape) != 4 or len(w_shape) != 4 or x_shape[1] != w_shape[1] or x_shape[1] >= COLUMN_CHANNELS:
        return False
    oh = (x_shape[2] + 2 * pad - w_shape[2]) // stride + 1
    ow = (x_shape[3] + 2 * pad - w_shape[3]) // stride + 1
    return oh >= pool and ow >= pool and oh % pool == 0 and ow % pool == 0


class ConvPoolSaved:
    """What conv_pool_backward needs: the geometry, the padded input, the pool size, the maxima's offsets."""

    def __init__(self, geometry: Geometry, image: Any, pool: int, arg: Any) -> None:
        self.geometry, self.image, self.pool, self.arg = geometry, image, pool, arg


def _chunks(g: Geometry, p: int) -> tuple[list[tuple[int, int, int]], int]:
    """(pooled row, first and last+1 pooled column) pieces of FUSED_CHUNK_BYTES, and the widest piece's
    pooled columns (to size the scratch blocks)."""
    opw = g.ow // p
    per_pooled = 4 * p * p * g.n * (g.kh * g.kw * g.c + 1 + g.f)
    pieces = max(1, min(opw, -(-opw * per_pooled // FUSED_CHUNK_BYTES)))
    cuts = [opw * k // pieces for k in range(pieces + 1)]
    chunks = [(r, lo, hi) for r in range(g.oh // p) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]
    return chunks, max(hi - lo for _, lo, hi in chunks)


def _padded_filters(f: int) -> int:
    """f rounded up to a multiple of FILTER_ALIGN: the channels of the scratch blocks."""
    return -(-f // FILTER_ALIGN) * FILTER_ALIGN


def _scratch(ws: Workspace, g: Geometry, p: int, widest: int, worker: int, dtype: Any) -> tuple[Any, Any]:
    """A worker's column-matrix buffer (one conv row's [colT; 1]) and its (p, conv columns * N, padded FN) block."""
    taps = g.kh * g.kw * g.c + 1
    flat = ws.zeros(f"fused.colt{worker}", (taps * widest * p * g.n,), dtype)
    block = ws.zeros(f"fused.block{worker}", (p, widest * p * g.n, _padded_filters(g.f)), dtype)
    return flat, block


def _windows(block: Any, g: Geometry, p: int, cols: int) -> list[Any]:
    """The p*p window offsets' views (cols, N, padded FN) of a block holding p conv rows of p*cols columns."""
    grid = block[:, :cols * p * g.n].reshape(p, cols * p, g.n, block.shape[-1])
    return [grid[i, j::p] for i in range(p) for j in range(p)]


def _row_blocks(rows: int) -> list[slice]:
    """Pieces of at most GEMM_ROWS rows."""
    return [slice(r, min(rows, r + GEMM_ROWS)) for r in range(0, rows, GEMM_ROWS)]


def conv_pool_forward(x: Any, W: Any, b: Any, stride: int, pad: int, pool: int, *, relu: bool,
                      workspace: Workspace | None = None, keep: bool = True) -> tuple[Any, ConvPoolSaved]:
    """max-pool(conv(x)) (max(0, .) of it if relu) over pool x pool windows of stride pool; returns
    (out (N, FN, OH/pool, OW/pool), C-contiguous like the book's, saved). Needs :func:`fusable`."""
    xp = backend.xp
    if not fusable(tuple(x.shape), tuple(W.shape), stride, pad, pool):
        raise ValueError(f"conv_pool_forward: a conv of W {tuple(W.shape)} (stride {stride}, pad {pad}) and a "
                         f"{pool}x{pool} pool do not fuse on x of shape {tuple(x.shape)}")
    g, p, ws = Geometry(tuple(x.shape), tuple(W.shape), stride, pad), pool, workspace or Workspace()
    img = _padded_hwnc(g, x.astype(W.dtype, copy=False).transpose(0, 2, 3, 1), ws, keep)
    fp = _padded_filters(g.f)
    wmb = xp.zeros((g.kh * g.kw * g.c + 1, fp), dtype=W.dtype)
    wmb[:-1, :g.f], wmb[-1, :g.f] = lhs_weights(W).reshape(-1, g.f), b
    chunks, widest = _chunks(g, p)
    pooled_hwnc = xp.empty((g.oh // p, g.ow // p, g.n, g.f), dtype=W.dtype)
    arg = xp.zeros((g.oh // p, g.ow // p, g.n, fp), dtype=xp.uint8) if keep else None

    windows = window_rows(g, img)

    def rows(lo: int, hi: int, worker: int) -> None:
        flat, block = _scratch(ws, g, p, widest, worker, W.dtype)
        pooled = ws.zeros(f"fused.pooled{worker}", (widest, g.n, fp), W.dtype)
        for r, c0, c1 in chunks[lo:hi]:
            for i in range(p):  # conv row p*r + i, columns p*c0 .. p*c1 - 1
                colt = _columns_t(g, windows, p * r + i, p * c0, p * c1, flat, ones=True)
                for part in _row_blocks(colt.shape[1]):
                    gemm(colt.T[part], wmb, block[i, part])
            wins = _windows(block, g, p, c1 - c0)
            o = pooled[:c1 - c0]
            max_into(wins, o, None if arg is None else arg[r, c0:c1], relu)
            pooled_hwnc[r, c0:c1] = o[..., :g.f]

    threads.run(rows, len(chunks))
    # NCHW like the book's (Flatten's reshape is then free): one 2-D transpose, (OH*OW, N*FN) -> (N*FN, OH*OW),
    # 0.47 ms on SimpleConvNet's conv1 where a transposing copy per piece took 0.86
    out = xp.empty((g.n, g.f, g.oh // p, g.ow // p), dtype=W.dtype)
    out.reshape(g.n * g.f, -1)[...] = pooled_hwnc.reshape(-1, g.n * g.f).T
    return out, ConvPoolSaved(g, img if keep else None, p, arg)


def conv_pool_backward(dout: Any, saved: ConvPoolSaved, W: Any, *,
                       workspace: Workspace | None = None) -> tuple[Any, Any]:
    """(dW, db) of :func:`conv_pool_forward` for dout (N, FN, OH/pool, OW/pool); no dx (a first layer)."""
    xp = backend.xp
    g, p, ws = saved.geometry, saved.pool, workspace or Workspace()
    if saved.image is None:
        raise ValueError("conv_pool_backward needs the saved state of a conv_pool_forward with keep=True")
    expected = (g.n, g.f, g.oh // p, g.ow // p)
    if tuple(dout.shape) != expected:
        raise ValueError(f"conv_pool_backward expects dout of shape {expected}, got {tuple(dout.shape)}")
    d = dout.astype(W.dtype, copy=False).transpose(2, 3, 0, 1)  # (OH/p, OW/p, N, FN) like arg
    chunks, widest = _chunks(g, p)
    taps, windows = g.kh * g.kw * g.c + 1, window_rows(g, saved.image)

    def weights(lo: int, hi: int, worker: int) -> Any:
        flat, block = _scratch(ws, g, p, widest, worker, W.dtype)
        fp = block.shape[-1]
        dwmb = ws.zeros(f"fused.dw{worker}", (taps, fp), W.dtype)
        tmp = ws.zeros(f"fused.tmpw{worker}", (taps, fp), W.dtype)
        dc = ws.zeros(f"fused.d{worker}", (widest, g.n, fp), W.dtype)  # dout's piece in arg's order; padding stays 0
        for k, (r, c0, c1) in enumerate(chunks[lo:hi]):
            dc[:c1 - c0, :, :g.f] = d[r, c0:c1]  # one read of a transposed dout, not one per window offset
            max_grad_into(dc[:c1 - c0], saved.arg[r, c0:c1], _windows(block, g, p, c1 - c0), overlap=False)
            for i in range(p):
                colt = _columns_t(g, windows, p * r + i, p * c0, p * c1, flat, ones=True)
                for j, part in enumerate(_row_blocks(colt.shape[1])):
                    gemm(colt[:, part], block[i, part], dwmb, accumulate=k > 0 or i > 0 or j > 0, tmp=tmp)
        return dwmb[:, :g.f].copy()

    parts = threads.run(weights, len(chunks))
    dwmb = sum(parts[1:], parts[0])
    dW = xp.ascontiguousarray(dwmb[:-1].reshape(g.kh, g.kw, g.c, g.f).transpose(3, 2, 0, 1))
    return dW, dwmb[-1].copy()
