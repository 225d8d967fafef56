"""Convolution through a column matrix (ch. 7.4.3's im2col): the paths for what the stride-1 path
of conv.py does not take. Few input channels (a network's first layer): a transposed column matrix
over the real output pixels, in (H, W, N, C) order like conv.py's results. Other strides and pads:
the book's im2col on chunks of images in NHWC memory.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from . import threads
from .blas import gemm
from .geometry import ConvSaved, Geometry, dout_into, lhs_weights, ones_row
from .workspace import Workspace

#: bytes of column matrix per chunk of images in the im2col path
COLUMN_BYTES = 2 * 2**20
#: fewer input channels than this (a network's first layer) multiply a transposed column matrix
#: instead: per-offset products with C-long rows waste the BLAS kernel
COLUMN_CHANNELS = 8
#: bytes of transposed column matrix and output per chunk of images on that path
COLUMN_CHUNK_BYTES = 2**20


# -- any stride and padding: channels-last im2col on chunks of images --------------------------

def _windows(img: Any, g: Geometry, i: int, j: int) -> Any:
    """img[:, oh*S + i, ow*S + j, :] for all (oh, ow): the (i, j) pixel of every window."""
    s = g.stride
    return img[:, i:i + s * (g.oh - 1) + 1:s, j:j + s * (g.ow - 1) + 1:s]


def _image_chunks(g: Geometry, itemsize: int) -> list[tuple[int, int]]:
    per_image = g.oh * g.ow * g.kh * g.kw * g.c * itemsize
    nb = max(1, min(g.n, COLUMN_BYTES // per_image))
    return [(n0, min(g.n, n0 + nb)) for n0 in range(0, g.n, nb)]


def _columns(g: Geometry, img: Any, n0: int, n1: int, col: Any) -> Any:
    """col[(n, oh, ow), (i, j, c)] of images n0..n1 (a prefix of the scratch buffer ``col``)."""
    rows = (n1 - n0) * g.oh * g.ow
    view = col[:rows].reshape(n1 - n0, g.oh, g.ow, g.kh, g.kw, g.c)
    for i in range(g.kh):
        for j in range(g.kw):
            view[:, :, :, i, j] = _windows(img[n0:n1], g, i, j)
    return col[:rows]


def im2col_forward(g: Geometry, xl: Any, W: Any, b: Any, relu: bool, ws: Workspace,
                    keep: bool) -> tuple[Any, ConvSaved]:
    xp = backend.xp
    p = g.pad
    shape = (g.n, g.h + 2 * p, g.w + 2 * p, g.c)
    img = ws.zeros("conv.img", shape, W.dtype) if keep else xp.zeros(shape, dtype=W.dtype)
    img[:, p:p + g.h, p:p + g.w] = xl
    wm = lhs_weights(W).reshape(-1, g.f)
    chunks = _image_chunks(g, W.dtype.itemsize)
    nb = chunks[0][1]
    col = ws.zeros("conv.col", (nb * g.oh * g.ow, wm.shape[0]), W.dtype)
    out = xp.empty((g.n * g.oh * g.ow, g.f), dtype=W.dtype)
    for n0, n1 in chunks:
        o = out[n0 * g.oh * g.ow:n1 * g.oh * g.ow]
        gemm(_columns(g, img, n0, n1, col), wm, o)
        o += b
        if relu:
            xp.maximum(o, 0, out=o)
    y = out.reshape(g.n, g.oh, g.ow, g.f).transpose(0, 3, 1, 2)
    return y, ConvSaved(g, img, y if relu else None)


def im2col_backward(g: Geometry, saved: ConvSaved, dout: Any, W: Any, input_grad: bool,
                     ws: Workspace) -> tuple[Any, Any, Any]:
    xp = backend.xp
    p, img = g.pad, saved.image
    d = ws.zeros("conv.d", (g.n * g.oh * g.ow, g.f), W.dtype)
    dout_into(saved, dout, d.reshape(g.n, g.oh, g.ow, g.f))
    wm = lhs_weights(W).reshape(-1, g.f)
    chunks = _image_chunks(g, W.dtype.itemsize)
    nb = chunks[0][1]
    col = ws.zeros("conv.col", (nb * g.oh * g.ow, wm.shape[0]), W.dtype)
    dwm = xp.zeros_like(wm)
    tmp_w = ws.zeros("conv.tmpw", wm.shape, W.dtype)
    dimg = xp.zeros(img.shape, dtype=W.dtype) if input_grad else None
    windows = window_rows(g, img)
    dcol = ws.zeros("conv.dcol", col.shape, W.dtype) if input_grad else None
    for n0, n1 in chunks:
        dc = d[n0 * g.oh * g.ow:n1 * g.oh * g.ow]
        gemm(_columns(g, img, n0, n1, col).T, dc, dwm, accumulate=True, tmp=tmp_w)
        if dimg is None:
            continue
        rows = dc.shape[0]
        gemm(dc, wm.T, dcol[:rows])
        view = dcol[:rows].reshape(n1 - n0, g.oh, g.ow, g.kh, g.kw, g.c)
        for i in range(g.kh):
            for j in range(g.kw):
                _windows(dimg[n0:n1], g, i, j)[...] += view[:, :, :, i, j]
    dW = xp.ascontiguousarray(dwm.reshape(g.kh, g.kw, g.c, g.f).transpose(3, 2, 0, 1))
    db = (ones_row(ws, d.shape[0], W.dtype) @ d)[0]
    dx = None if dimg is None else dimg[:, p:p + g.h, p:p + g.w].transpose(0, 3, 1, 2)
    return dx, dW, db


# -- few input channels (a first layer): a transposed column matrix over the real output pixels --
# In (H, W, N, C) order like the stride-1 path, so the next layer's input copy moves whole rows.

def _padded_hwnc(g: Geometry, xl: Any, ws: Workspace, keep: bool) -> Any:
    """The batch padded by zeros, (H + 2p, W + 2p, N, C) (the workspace's copy when keep: its border stays zero)."""
    p, shape = g.pad, (g.h + 2 * g.pad, g.w + 2 * g.pad, g.n, g.c)
    img = ws.zeros("conv.img", shape, xl.dtype) if keep else backend.xp.zeros(shape, dtype=xl.dtype)
    img[p:p + g.h, p:p + g.w] = xl.transpose(1, 2, 0, 3)
    return img


def _column_chunks(g: Geometry) -> tuple[list[tuple[int, int, int]], int]:
    """(oh, ow0, ow1): pieces of output rows, COLUMN_CHUNK_BYTES of column matrix and output (float32)
    each; and the most pixels (ow, n) any piece holds, to size the scratch buffers."""
    per_pixel = 4 * g.n * (g.kh * g.kw * g.c + g.f)
    pieces = -(-g.ow * per_pixel // COLUMN_CHUNK_BYTES)
    cuts = [g.ow * k // pieces for k in range(pieces + 1)]
    chunks = [(oh, lo, hi) for oh in range(g.oh) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]
    return chunks, max(hi - lo for _, lo, hi in chunks) * g.n


def _pixel_rows(g: Geometry, oh: int, ow0: int, ow1: int) -> slice:
    """The rows (oh, ow, n), ow0 <= ow < ow1, of an (OH, OW, N)-ordered (rows, channels) array."""
    return slice((oh * g.ow + ow0) * g.n, (oh * g.ow + ow1) * g.n)


def _window_pixels(img: Any, g: Geometry, oh: int, ow0: int, ow1: int, i: int, j: int) -> Any:
    """img[oh*S + i, ow*S + j] for ow0 <= ow < ow1: pixel (i, j) of those windows, (ow, N, C)."""
    s = g.stride
    return img[oh * s + i, ow0 * s + j:(ow1 - 1) * s + j + 1:s]


def window_rows(g: Geometry, img: Any) -> Any:
    """Every output row's windows of the padded (H, W, N, C) batch, one read-only view
    (OH, KH, KW, C, OW, N): [oh, i, j, c, ow, n] = img[oh*S + i, ow*S + j, n, c]. Made once per
    pass; :func:`_columns_t` slices it (as_strided costs 8 us a call, a slice under 1)."""
    s, (sh, sw, sn, sc) = g.stride, img.strides
    return backend.xp.lib.stride_tricks.as_strided(
        img, shape=(g.oh, g.kh, g.kw, g.c, g.ow, g.n), strides=(sh * s, sh, sw, sc, sw * s, sn))


def _columns_t(g: Geometry, windows: Any, oh: int, ow0: int, ow1: int, flat: Any, ones: bool = False) -> Any:
    """colT[(i, j, c), (ow, n)] = img[oh*S + i, ow*S + j, n, c] for ow0 <= ow < ow1, contiguous in the
    front of the scratch buffer ``flat``, from :func:`window_rows` of img; ``ones``: then a last row
    of ones (the bias's, in forward). One copy (the windows overlap, so the view is read-only).
    """
    k, taps = (ow1 - ow0) * g.n, g.kh * g.kw * g.c
    colt = flat[:(taps + ones) * k].reshape(taps + ones, k)
    colt[:taps].reshape(g.kh, g.kw, g.c, ow1 - ow0, g.n)[...] = windows[oh, :, :, :, ow0:ow1]
    if ones:
        colt[taps] = 1
    return colt


def columns_forward(g: Geometry, xl: Any, W: Any, b: Any, relu: bool, ws: Workspace,
                     keep: bool) -> tuple[Any, ConvSaved]:
    xp = backend.xp
    img, (chunks, width) = _padded_hwnc(g, xl, ws, keep), _column_chunks(g)
    # the bias is one more row of the weights, times a row of ones in the column matrix: no pass of its own
    wmb = xp.concatenate([lhs_weights(W).reshape(-1, g.f), xp.asarray(b, dtype=W.dtype).reshape(1, g.f)])
    out = xp.empty((g.oh * g.ow * g.n, g.f), dtype=W.dtype)  # rows (oh, ow, n)

    windows = window_rows(g, img)

    def rows(lo: int, hi: int, worker: int) -> None:
        flat = ws.zeros(f"conv.colt{worker}", (wmb.shape[0] * width,), W.dtype)
        for oh, ow0, ow1 in chunks[lo:hi]:
            o = out[_pixel_rows(g, oh, ow0, ow1)]
            gemm(_columns_t(g, windows, oh, ow0, ow1, flat, ones=True).T, wmb, o)
            if relu:
                xp.maximum(o, 0, out=o)

    threads.run(rows, len(chunks))
    y = out.reshape(g.oh, g.ow, g.n, g.f).transpose(2, 3, 0, 1)
    return y, ConvSaved(g, img if keep else None, y if relu else None)


def columns_backward(g: Geometry, saved: ConvSaved, dout: Any, W: Any, input_grad: bool,
                      ws: Workspace) -> tuple[Any, Any, Any]:
    xp = backend.xp
    img, wm, (chunks, width) = saved.image, lhs_weights(W).reshape(-1, g.f), _column_chunks(g)
    d = dout.transpose(2, 3, 0, 1)  # dout where it lies when it is in (H, W, N, C) order (a pool's dx is)
    if saved.y is not None or not d.flags.c_contiguous:
        d = ws.zeros("conv.d", d.shape, W.dtype)
        dout_into(saved, dout, d.transpose(2, 0, 1, 3))
    d = d.reshape(-1, g.f)
    dimg = xp.zeros(img.shape, dtype=W.dtype) if input_grad else None
    windows = window_rows(g, img)

    def weights(lo: int, hi: int, worker: int) -> Any:
        # [dW; db] = [colT; ones] @ dout: the row of ones that carried the bias forward sums dout for db
        flat = ws.zeros(f"conv.colt{worker}", ((wm.shape[0] + 1) * width,), W.dtype)
        dwmb = ws.zeros(f"conv.dw{worker}", (wm.shape[0] + 1, g.f), W.dtype)
        tmp_w = ws.zeros(f"conv.tmpw{worker}", dwmb.shape, W.dtype)
        for k, (oh, ow0, ow1) in enumerate(chunks[lo:hi]):
            dc = d[_pixel_rows(g, oh, ow0, ow1)]
            gemm(_columns_t(g, windows, oh, ow0, ow1, flat, ones=True), dc, dwmb, accumulate=k > 0, tmp=tmp_w)
        return dwmb.copy()

    parts = threads.run(weights, len(chunks))
    dwmb = sum(parts[1:], parts[0])
    dwm, db = dwmb[:-1], dwmb[-1].copy()
    if dimg is not None:  # col2im of dcolT = wm @ dout^T, offset by offset (on one thread: the
        # windows of neighbouring output rows overlap in dx)
        flat = ws.zeros("conv.dcolt", (wm.shape[0] * width,), W.dtype)
        for oh, ow0, ow1 in chunks:
            dc = d[_pixel_rows(g, oh, ow0, ow1)]
            dcolt = gemm(wm, dc.T, flat[:wm.shape[0] * dc.shape[0]].reshape(wm.shape[0], -1))
            view = dcolt.reshape(g.kh, g.kw, g.c, ow1 - ow0, g.n)
            for i in range(g.kh):
                for j in range(g.kw):
                    _window_pixels(dimg, g, oh, ow0, ow1, i, j)[...] += view[i, j].transpose(1, 2, 0)
    dW = xp.ascontiguousarray(dwm.reshape(g.kh, g.kw, g.c, g.f).transpose(3, 2, 0, 1))
    p = g.pad
    dx = None if dimg is None else dimg[p:p + g.h, p:p + g.w].transpose(2, 3, 0, 1)
    return dx, dW, db
