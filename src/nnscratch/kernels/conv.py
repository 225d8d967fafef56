"""Fast convolution (ch. 7.2, 7.4): forward and backward as matrix products in channels-last memory.

Interface: x (N, C, H, W), W (FN, C, FH, FW), b (FN,), dout (N, FN, OH, OW), NCHW shapes with any
strides. Results are NCHW-shaped views of channels-last memory (channels innermost), so the next
layer (ReLU, pooling, another convolution) reads them without a transposition.

Stride 1 with pad <= FH-1, FW-1 (every convolution of the book's networks) runs without a column
matrix. The padded batch lies in a flat (rows, C) buffer in (H, W, N) order: grid pixel (r, col)
of image n is row (r*R + col)*N + n, R = W + pad columns per grid row (the zero columns after a
row's pixels double as the next row's left padding) and rows of zeros above and below. Output
pixel m = (oh*R + ow)*N + n reads input row m + (i*R + j)*N for kernel offset (i, j), so
out = sum_(i,j) X[m + (i*R + j)*N] @ W_ij: one accumulated GEMM per offset over a contiguous
slice of the buffer. The OW*N rows of an output row are contiguous, so the products run chunk by
chunk over them (a chunk stays in cache) and never over a padding position.
The same trick gives dx = sum D[m + (i*R + j)*N] @ W_(FH-1-i, FW-1-j)^T on dout laid out in the
same grid (a convolution with the flipped kernel), and dW_ij = sum_m X[m + (i*R + j)*N]^T D[m].
Results are NCHW-shaped views of that (H, W, N, C) memory: channels innermost, like NHWC.
Other geometries (stride > 1, pad >= kernel size), and layers with fewer than COLUMN_CHANNELS
input channels (a network's first layer, where per-offset products would have 1-7-long rows),
multiply a column matrix instead (columns.py).
"""
from __future__ import annotations

from typing import Any

from .. import backend
from . import threads
from .blas import accumulator, gemm
from .columns import COLUMN_CHANNELS, columns_backward, columns_forward, im2col_backward, im2col_forward
from .geometry import ConvSaved, Geometry, dout_into, lhs_weights, ones_row
from .workspace import Workspace

__all__ = ["ConvSaved", "conv2d_forward", "conv2d_backward"]

#: multiply-adds per product of the stride-1 path (rows x C x FN): thin layers get longer chunks, so
#: every product outlasts its call's overhead, wide ones shorter, so a chunk stays in cache
#: (measured, fwd+bwd ms at 1 thread, batch 100: 16->16 channels 26.7 with 128 KiB chunks of the
#: wider operand, 22.3 with 512 KiB; 32->32: 21.0 and 25.4; DeepConvNet step 105-107 -> 98-100 ms)
CHUNK_MACS = 2**20
#: the same when the rows are split across threads: each product must outlast a GIL hand-over
#: (4x longer: with chunks sized in bytes, a DeepConvNet step at 2 threads took 78-80 ms with
#: 128 KiB chunks and 68-70 ms with 512 KiB, measured on the previous grid layout)
PARALLEL_CHUNK_MACS = 4 * 2**20
#: images per pass through the input buffer when no backward follows (keep=False)
INFERENCE_IMAGES = 128


def _chunk_rows(g: Geometry) -> int:
    """Grid rows per chunk of the stride-1 path: CHUNK_MACS multiply-adds per product."""
    macs = PARALLEL_CHUNK_MACS if threads.workers() > 1 else CHUNK_MACS
    return max(256, min(8192, macs // (g.c * g.f)))


def _offset_views(g: Geometry, buf: Any, m0: int, m1: int) -> Any:
    """(FH, FW, m1 - m0, C): buf[m0 + shift : m1 + shift] for every kernel offset (i, j), one strided view."""
    item, c = buf.itemsize, buf.shape[1]
    return backend.xp.lib.stride_tricks.as_strided(
        buf[m0:], shape=(g.kh, g.kw, m1 - m0, c), strides=(g.row * g.n * c * item, g.n * c * item, c * item, item))


def _ranges(g: Geometry, h: int, w: int) -> list[tuple[int, int]]:
    """Chunks [m0, m1) of at most _chunk_rows rows covering the grid pixels (r < h, col < w)."""
    run, step = w * g.n, _chunk_rows(g)
    pieces = -(-run // step)
    return [(r * g.row * g.n + run * k // pieces, r * g.row * g.n + run * (k + 1) // pieces)
            for r in range(h) for k in range(pieces)]


def conv2d_forward(x: Any, W: Any, b: Any, stride: int = 1, pad: int = 0, *, relu: bool = False,
                   workspace: Workspace | None = None, keep: bool = True) -> tuple[Any, ConvSaved]:
    """out[n, f] = sum_c W[f, c] (*) x_pad[n, c] + b[f] (cross-correlation, ch. 7.2.3), max(0, .) if relu.

    Returns (out, saved): out (N, FN, OH, OW) in channels-last memory; pass ``saved`` to
    :func:`conv2d_backward`. ``workspace`` keeps the padded input between calls (a layer passes
    its own); ``keep=False`` (inference: no backward follows) runs INFERENCE_IMAGES images at a
    time through one small buffer, so a large batch leaves nothing batch-sized cached.
    """
    xp = backend.xp
    g = Geometry(tuple(x.shape), tuple(W.shape), stride, pad)
    ws = workspace if workspace is not None else Workspace()
    x = x.astype(W.dtype, copy=False)
    xl = x.transpose(0, 2, 3, 1)
    if g.c < COLUMN_CHANNELS:
        return columns_forward(g, xl, W, b, relu, ws, keep)
    if not g.shift:
        return im2col_forward(g, xl, W, b, relu, ws, keep)
    w = lhs_weights(W)
    if keep or g.n <= INFERENCE_IMAGES:
        xbuf, out = ws.zeros("conv.x", (g.rows, g.c), W.dtype), xp.empty((g.m, g.f), dtype=W.dtype)
        _shift_forward(g, xl, xbuf, w, b, relu, ws, out)
        y = g.grid(out, 0, g.oh, g.ow).transpose(0, 3, 1, 2)
        return y, ConvSaved(g, xbuf if keep else None, y if relu else None)
    hwnc = xp.empty((g.oh, g.ow, g.n, g.f), dtype=W.dtype)
    for n0 in range(0, g.n, INFERENCE_IMAGES):  # inference: a few images at a time through small buffers
        n1 = min(g.n, n0 + INFERENCE_IMAGES)
        gb = Geometry((n1 - n0, g.c, g.h, g.w), tuple(W.shape), stride, pad)
        xbuf, out = ws.zeros("conv.x", (gb.rows, g.c), W.dtype), ws.zeros("conv.out", (gb.m, g.f), W.dtype)
        _shift_forward(gb, xl[n0:n1], xbuf, w, b, relu, ws, out)
        hwnc[:, :, n0:n1] = gb.grid(out, 0, g.oh, g.ow).transpose(1, 2, 0, 3)
    return hwnc.transpose(2, 3, 0, 1), ConvSaved(g, None, None)


def _shift_forward(g: Geometry, xl: Any, xbuf: Any, w: Any, b: Any, relu: bool, ws: Workspace,
                   out: Any) -> None:
    """out (grid rows, FN) of the stride-1 path for the images xl (N, H, W, C) through xbuf."""
    xp = backend.xp
    pixels = g.grid(xbuf, g.lead_x, g.h, g.w)
    step = _chunk_rows(g)

    chunks = _ranges(g, g.oh, g.ow)

    def rows(lo: int, hi: int, worker: int) -> None:
        acc = accumulator(xbuf, w, out, ws.zeros(f"conv.tmp{worker}", (step, g.f), out.dtype))
        for m0, m1 in chunks[lo:hi]:
            o = out[m0:m1]
            o[...] = b  # the bias, then every product accumulates onto it
            for q, s in enumerate(g.shifts):
                acc(m0 + s, m0, m1 - m0, q)  # out[m0:m1] += xbuf[m0 + s:m1 + s] @ w[q]
            if relu:
                xp.maximum(o, 0, out=o)

    threads.run(lambda h0, h1, _: pixels[:, h0:h1].__setitem__(Ellipsis, xl[:, h0:h1]), g.h)
    threads.run(rows, len(chunks))


def conv2d_backward(dout: Any, saved: ConvSaved, W: Any, *, input_grad: bool = True,
                    workspace: Workspace | None = None) -> tuple[Any, Any, Any]:
    """(dx, dW, db) of :func:`conv2d_forward` for dout (N, FN, OH, OW); dx is None if not input_grad.

    dW = sum over pixels and offsets of x_pad-window^T dout, db = sum of dout, dx = the transposed
    convolution of dout (ch. 7.4.3's col2im of dout @ W, without the column matrix on stride 1).
    """
    xp = backend.xp
    g = saved.geometry
    expected = (g.n, g.f, g.oh, g.ow)
    if saved.image is None:
        raise ValueError("conv2d_backward needs the saved state of a conv2d_forward with keep=True")
    if tuple(dout.shape) != expected:
        raise ValueError(f"conv2d_backward expects dout of shape {expected}, got {tuple(dout.shape)}")
    ws = workspace if workspace is not None else Workspace()
    dout = dout.astype(W.dtype, copy=False)
    if g.c < COLUMN_CHANNELS:
        return columns_backward(g, saved, dout, W, input_grad, ws)
    if not g.shift:
        return im2col_backward(g, saved, dout, W, input_grad, ws)
    dbuf = ws.zeros("conv.d", (g.rows, g.f), W.dtype)  # lead, junk columns and rows stay zero
    douts = g.grid(dbuf, g.lead_d, g.oh, g.ow)
    threads.run(lambda n0, n1, _: dout_into(saved, dout[n0:n1], douts[n0:n1], n0, n1), g.n)
    wshape = (g.kh * g.kw, g.c, g.f)
    step = _chunk_rows(g)
    dx = wf = None
    if input_grad:  # dx is the convolution of dout with the flipped kernel, on the same grid
        wf = xp.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1)).reshape(-1, g.f, g.c)
        dx = xp.empty((g.m, g.c), dtype=W.dtype)

    ones = ones_row(ws, step, W.dtype)
    out_chunks = _ranges(g, g.oh, g.ow)  # the output pixels: dW and db sum over them

    def weights(lo: int, hi: int, worker: int) -> tuple[Any, Any]:
        dw = ws.zeros(f"conv.dw{worker}", wshape, W.dtype)
        db = ws.zeros(f"conv.db{worker}", (1, g.f), W.dtype)
        tmp_w = ws.zeros(f"conv.tmpw{worker}", wshape, W.dtype)
        dw4, tmp4 = (a.reshape(g.kh, g.kw, g.c, g.f) for a in (dw, tmp_w))
        for k, (m0, m1) in enumerate(out_chunks[lo:hi]):
            d = dbuf[g.lead_d + m0:g.lead_d + m1]
            gemm(ones[:, :m1 - m0], d, db, accumulate=k > 0, tmp=tmp_w[0, :1])
            # all FH*FW products X[m + shift]^T D in one stacked matmul: one call, not one per offset
            xp.matmul(_offset_views(g, saved.image, m0, m1).transpose(0, 1, 3, 2), d, out=tmp4 if k else dw4)
            if k:
                dw += tmp_w
        return dw, db

    parts = threads.run(weights, len(out_chunks))
    dw, db = parts[0][0].copy(), parts[0][1][0].copy()
    for dw_i, db_i in parts[1:]:
        dw += dw_i
        db += db_i[0]
    dW = xp.ascontiguousarray(dw.reshape(g.kh, g.kw, g.c, g.f).transpose(3, 2, 0, 1))
    if dx is None:
        return None, dW, db
    in_chunks = _ranges(g, g.h, g.w)  # the input pixels

    def inputs(lo: int, hi: int, worker: int) -> None:
        acc = accumulator(dbuf, wf, dx, ws.zeros(f"conv.tmpx{worker}", (step, g.c), W.dtype))
        for m0, m1 in in_chunks[lo:hi]:
            xp.matmul(dbuf[m0:m1], wf[0], out=dx[m0:m1])
            for q, s in enumerate(g.shifts[1:], 1):
                acc(m0 + s, m0, m1 - m0, q)  # dx[m0:m1] += dbuf[m0 + s:m1 + s] @ wf[q]

    threads.run(inputs, len(in_chunks))
    return g.grid(dx, 0, g.h, g.w).transpose(0, 3, 1, 2), dW, db
