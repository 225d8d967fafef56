"""Fast convolution (ch. 7.2, 7.4): forward and backward as matrix products in channels-last memory.

Interface: x (N, C, H, W), W (FN, C, FH, FW), b (FN,), dout (N, FN, OH, OW), NCHW shapes with any
strides. Results are NCHW-shaped views of channels-last (NHWC) memory, so the next layer (ReLU,
pooling, another convolution) reads them without a transposition.

Stride 1 with pad <= FH-1, FW-1 (every convolution of the book's networks) runs without a column
matrix. The padded images lie one after another in a flat (rows, C) buffer, R = max(W + pad, OW)
pixels per image row, Hs = max(H + pad, OH) rows per image (rows and columns past the pixels are
zero and double as the next row's or image's padding). Output pixel m = (n*Hs + oh)*R + ow reads
input row m + i*R + j for kernel offset (i, j), so out = sum_(i,j) X[m + i*R + j] @ W_ij: one
accumulated GEMM per offset over a contiguous slice of the buffer, chunk by chunk so that a chunk
stays in cache (the grid positions with ow >= OW or oh >= OH are computed and thrown away).
The same trick gives dx = sum D[m + i*R + j] @ W_(FH-1-i, FW-1-j)^T on dout laid out in the same
grid (a convolution with the flipped kernel), and dW_ij = sum_m X[m + i*R + j]^T D[m].
Other geometries (stride > 1, pad >= kernel size) take a channels-last im2col path. Below
COLUMN_CHANNELS input channels (a network's first layer) per-offset products would have 1-7-long
rows, so a transposed column matrix over the real output pixels is multiplied once per chunk of
images: its rows are whole image rows, copied contiguously, and dW reads dout where it lies.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from . import threads
from .blas import gemm
from .workspace import Workspace

__all__ = ["ConvSaved", "conv2d_forward", "conv2d_backward"]

#: bytes of one operand chunk of the stride-1 path (cache-sized: tuned with bench/kernels.py)
CHUNK_BYTES = 128 * 2**10
#: the same when the rows are split across threads: each product must outlast a GIL hand-over
#: (DeepConvNet step at 2 threads, measured: 78-80 ms with 128 KiB chunks, 68-70 ms with 512 KiB)
PARALLEL_CHUNK_BYTES = 512 * 2**10
#: images per pass through the input buffer when no backward follows (keep=False)
INFERENCE_IMAGES = 128
#: bytes of column matrix per chunk of images in the im2col path
COLUMN_BYTES = 2 * 2**20
#: fewer input channels than this (a network's first layer) multiply a transposed column matrix
#: instead: per-offset products with C-long rows waste the BLAS kernel
COLUMN_CHANNELS = 8
#: bytes of transposed column matrix and output per chunk of images on that path
COLUMN_CHUNK_BYTES = 2**20


class _Geometry:
    """Shapes and the flat-grid layout of one convolution."""

    def __init__(self, x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: int, pad: int) -> None:
        if len(x_shape) != 4 or len(w_shape) != 4:
            raise ValueError(f"conv2d expects x (N, C, H, W) and W (FN, C, FH, FW), got shapes "
                             f"{tuple(x_shape)} and {tuple(w_shape)}")
        self.n, self.c, self.h, self.w = x_shape
        self.f, c, self.kh, self.kw = w_shape
        if c != self.c:
            raise ValueError(f"conv2d: W of shape {tuple(w_shape)} expects {c} input channels, "
                             f"got x of shape {tuple(x_shape)}")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"conv2d: stride must be a positive integer, got {stride!r}")
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(f"conv2d: pad must be a non-negative integer, got {pad!r}")
        self.stride, self.pad = stride, pad
        self.oh = (self.h + 2 * pad - self.kh) // stride + 1
        self.ow = (self.w + 2 * pad - self.kw) // stride + 1
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"conv2d: a {self.kh}x{self.kw} kernel does not fit x of shape {tuple(x_shape)} "
                             f"padded by {pad}")
        self.shift = stride == 1 and pad <= min(self.kh, self.kw) - 1
        if self.shift:
            self.row = max(self.w + pad, self.ow)  # R
            self.rows_per_image = max(self.h + pad, self.oh)  # Hs
            self.m = self.n * self.rows_per_image * self.row  # grid positions computed
            self.shifts = [i * self.row + j for i in range(self.kh) for j in range(self.kw)]
            self.lead_x = pad * self.row + pad  # buffer row of image 0's pixel (0, 0)
            self.lead_d = (self.kh - 1 - pad) * self.row + (self.kw - 1 - pad)  # of dout's pixel (0, 0)
            self.rows = self.m + self.shifts[-1]  # every slice m + shift stays inside the buffer

    def grid(self, buf: Any, lead: int, h: int, w: int) -> Any:
        """The (N, h, w, channels) pixels of a flat grid buffer whose pixel (0, 0) is row ``lead``."""
        block = buf[lead:lead + self.m]
        return block.reshape(self.n, self.rows_per_image, self.row, buf.shape[1])[:, :h, :w]

    def chunk_rows(self) -> int:
        """Grid rows per chunk of the stride-1 path: CHUNK_BYTES of the wider operand (in float32)."""
        chunk = PARALLEL_CHUNK_BYTES if threads.workers() > 1 else CHUNK_BYTES
        return max(256, min(8192, chunk // (4 * max(self.c, self.f))))


class ConvSaved:
    """What conv2d_backward needs from the forward pass (the layer keeps it until backward)."""

    def __init__(self, geometry: _Geometry, image: Any, y: Any) -> None:
        self.geometry = geometry
        self.image = image  # stride 1: the flat padded grid; im2col path: the padded NHWC image
        self.y = y  # the output when ReLU was folded in (its mask gates dout), else None


def _lhs_weights(W: Any) -> Any:
    """W as (FH*FW, C, FN): one (C, FN) right-hand matrix per kernel offset (i, j)."""
    f, c, kh, kw = W.shape
    return backend.xp.ascontiguousarray(W.transpose(2, 3, 1, 0)).reshape(kh * kw, c, f)


def conv2d_forward(x: Any, W: Any, b: Any, stride: int = 1, pad: int = 0, *, relu: bool = False,
                   workspace: Workspace | None = None, keep: bool = True) -> tuple[Any, ConvSaved]:
    """out[n, f] = sum_c W[f, c] (*) x_pad[n, c] + b[f] (cross-correlation, ch. 7.2.3), max(0, .) if relu.

    Returns (out, saved): out (N, FN, OH, OW) in channels-last memory; pass ``saved`` to
    :func:`conv2d_backward`. ``workspace`` keeps the padded input between calls (a layer passes
    its own); ``keep=False`` (inference: no backward follows) runs INFERENCE_IMAGES images at a
    time through one small buffer, so a large batch leaves nothing batch-sized cached.
    """
    xp = backend.xp
    g = _Geometry(tuple(x.shape), tuple(W.shape), stride, pad)
    ws = workspace if workspace is not None else Workspace()
    x = x.astype(W.dtype, copy=False)
    xl = x.transpose(0, 2, 3, 1)
    if g.c < COLUMN_CHANNELS:
        return _columns_forward(g, xl, W, b, relu, ws, keep)
    if not g.shift:
        return _im2col_forward(g, xl, W, b, relu, ws, keep)
    w = _lhs_weights(W)
    out = xp.empty((g.m, g.f), dtype=W.dtype)
    block = g.n if keep else min(g.n, INFERENCE_IMAGES)
    for n0 in range(0, g.n, block):  # inference: a few images at a time through one small buffer
        n1 = min(g.n, n0 + block)
        gb = g if n1 - n0 == g.n else _Geometry((n1 - n0, g.c, g.h, g.w), tuple(W.shape), stride, pad)
        xbuf = ws.zeros("conv.x", (gb.rows, g.c), W.dtype)
        rows0 = n0 * g.rows_per_image * g.row
        _shift_forward(gb, xl[n0:n1], xbuf, w, b, relu, ws, out[rows0:rows0 + gb.m])
    y = g.grid(out, 0, g.oh, g.ow).transpose(0, 3, 1, 2)
    return y, ConvSaved(g, xbuf if keep else None, y if relu else None)


def _shift_forward(g: _Geometry, xl: Any, xbuf: Any, w: Any, b: Any, relu: bool, ws: Workspace,
                   out: Any) -> None:
    """out (grid rows, FN) of the stride-1 path for the images xl (N, H, W, C) through xbuf."""
    xp = backend.xp
    pixels = g.grid(xbuf, g.lead_x, g.h, g.w)
    step = g.chunk_rows()

    def rows(lo: int, hi: int, worker: int) -> None:
        tmp = ws.zeros(f"conv.tmp{worker}", (step, g.f), out.dtype)
        for m0 in range(lo, hi, step):
            m1 = min(hi, m0 + step)
            o = out[m0:m1]
            o[...] = b  # the bias, then every product accumulates onto it
            for q, s in enumerate(g.shifts):
                gemm(xbuf[m0 + s:m1 + s], w[q], o, accumulate=True, tmp=tmp[:m1 - m0])
            if relu:
                xp.maximum(o, 0, out=o)

    threads.run(lambda n0, n1, _: pixels[n0:n1].__setitem__(Ellipsis, xl[n0:n1]), g.n)
    threads.run(rows, g.m, step)


def _ones(ws: Workspace, n: int, dtype: Any) -> Any:
    """A (1, n) row of ones: db = ones @ dout is a BLAS product (a column sum of a narrow array is slow)."""
    ones = ws.zeros("conv.ones", (1, n), dtype)
    ones[...] = 1
    return ones


def _dout_into(saved: ConvSaved, dout: Any, dst: Any, n0: int = 0, n1: int | None = None) -> None:
    """dst (k, OH, OW, FN) = dout of images n0..n1, gated by the folded ReLU's mask (out > 0) if any."""
    dl = dout.transpose(0, 2, 3, 1)
    if saved.y is None:
        dst[...] = dl
    else:
        backend.xp.multiply(dl, saved.y[n0:n1].transpose(0, 2, 3, 1) > 0, out=dst)


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
        return _columns_backward(g, saved, dout, W, input_grad, ws)
    if not g.shift:
        return _im2col_backward(g, saved, dout, W, input_grad, ws)
    dbuf = ws.zeros("conv.d", (g.rows, g.f), W.dtype)  # lead, junk columns and rows stay zero
    douts = g.grid(dbuf, g.lead_d, g.oh, g.ow)
    threads.run(lambda n0, n1, _: _dout_into(saved, dout[n0:n1], douts[n0:n1], n0, n1), g.n)
    wshape = (g.kh * g.kw, g.c, g.f)
    step = g.chunk_rows()
    dx = wf = None
    if input_grad:  # dx is the convolution of dout with the flipped kernel, on the same grid
        wf = xp.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1)).reshape(-1, g.f, g.c)
        dx = xp.empty((g.m, g.c), dtype=W.dtype)

    ones = _ones(ws, step, W.dtype)

    def rows(lo: int, hi: int, worker: int) -> tuple[Any, Any]:
        dw = ws.zeros(f"conv.dw{worker}", wshape, W.dtype)
        db = ws.zeros(f"conv.db{worker}", (1, g.f), W.dtype)
        tmp_w = ws.zeros(f"conv.tmpw{worker}", wshape[1:], W.dtype)
        tmp = ws.zeros(f"conv.tmpx{worker}", (step, g.c), W.dtype) if dx is not None else None
        for m0 in range(lo, hi, step):
            m1 = min(hi, m0 + step)
            d = dbuf[g.lead_d + m0:g.lead_d + m1]
            gemm(ones[:, :m1 - m0], d, db, accumulate=m0 > lo, tmp=tmp_w[:1])
            for q, s in enumerate(g.shifts):
                gemm(saved.image[m0 + s:m1 + s].T, d, dw[q], accumulate=m0 > lo, tmp=tmp_w)
            if dx is not None:
                o = dx[m0:m1]
                for q, s in enumerate(g.shifts):
                    gemm(dbuf[m0 + s:m1 + s], wf[q], o, accumulate=q > 0, tmp=tmp[:m1 - m0])
        return dw, db

    parts = threads.run(rows, g.m, step)
    dw, db = parts[0][0].copy(), parts[0][1][0].copy()
    for dw_i, db_i in parts[1:]:
        dw += dw_i
        db += db_i[0]
    dW = xp.ascontiguousarray(dw.reshape(g.kh, g.kw, g.c, g.f).transpose(3, 2, 0, 1))
    if dx is not None:
        dx = g.grid(dx, 0, g.h, g.w).transpose(0, 3, 1, 2)
    return dx, dW, db


# -- any stride and padding: channels-last im2col on chunks of images --------------------------

def _windows(img: Any, g: _Geometry, i: int, j: int) -> Any:
    """img[:, oh*S + i, ow*S + j, :] for all (oh, ow): the (i, j) pixel of every window."""
    s = g.stride
    return img[:, i:i + s * (g.oh - 1) + 1:s, j:j + s * (g.ow - 1) + 1:s]


def _image_chunks(g: _Geometry, itemsize: int) -> list[tuple[int, int]]:
    per_image = g.oh * g.ow * g.kh * g.kw * g.c * itemsize
    nb = max(1, min(g.n, COLUMN_BYTES // per_image))
    return [(n0, min(g.n, n0 + nb)) for n0 in range(0, g.n, nb)]


def _columns(g: _Geometry, img: Any, n0: int, n1: int, col: Any) -> Any:
    """col[(n, oh, ow), (i, j, c)] of images n0..n1 (a prefix of the scratch buffer ``col``)."""
    rows = (n1 - n0) * g.oh * g.ow
    view = col[:rows].reshape(n1 - n0, g.oh, g.ow, g.kh, g.kw, g.c)
    for i in range(g.kh):
        for j in range(g.kw):
            view[:, :, :, i, j] = _windows(img[n0:n1], g, i, j)
    return col[:rows]


def _im2col_forward(g: _Geometry, xl: Any, W: Any, b: Any, relu: bool, ws: Workspace,
                    keep: bool) -> tuple[Any, ConvSaved]:
    xp = backend.xp
    p = g.pad
    shape = (g.n, g.h + 2 * p, g.w + 2 * p, g.c)
    img = ws.zeros("conv.img", shape, W.dtype) if keep else xp.zeros(shape, dtype=W.dtype)
    img[:, p:p + g.h, p:p + g.w] = xl
    wm = _lhs_weights(W).reshape(-1, g.f)
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


def _im2col_backward(g: _Geometry, saved: ConvSaved, dout: Any, W: Any, input_grad: bool,
                     ws: Workspace) -> tuple[Any, Any, Any]:
    xp = backend.xp
    p, img = g.pad, saved.image
    d = ws.zeros("conv.d", (g.n * g.oh * g.ow, g.f), W.dtype)
    _dout_into(saved, dout, d.reshape(g.n, g.oh, g.ow, g.f))
    wm = _lhs_weights(W).reshape(-1, g.f)
    chunks = _image_chunks(g, W.dtype.itemsize)
    nb = chunks[0][1]
    col = ws.zeros("conv.col", (nb * g.oh * g.ow, wm.shape[0]), W.dtype)
    dwm = xp.zeros_like(wm)
    tmp_w = ws.zeros("conv.tmpw", wm.shape, W.dtype)
    dimg = xp.zeros(img.shape, dtype=W.dtype) if input_grad else None
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
    db = (_ones(ws, d.shape[0], W.dtype) @ d)[0]
    dx = None if dimg is None else dimg[:, p:p + g.h, p:p + g.w].transpose(0, 3, 1, 2)
    return dx, dW, db


# -- few input channels (a first layer): a transposed column matrix over the real output pixels --

def _padded(g: _Geometry, xl: Any, ws: Workspace, keep: bool) -> Any:
    """The NHWC image padded by zeros (the workspace's copy when keep: its border stays zero)."""
    p, shape = g.pad, (g.n, g.h + 2 * g.pad, g.w + 2 * g.pad, g.c)
    img = ws.zeros("conv.img", shape, xl.dtype) if keep else backend.xp.zeros(shape, dtype=xl.dtype)
    img[:, p:p + g.h, p:p + g.w] = xl
    return img


def _column_images(g: _Geometry) -> int:
    """Images per chunk: COLUMN_CHUNK_BYTES of transposed column matrix and output (float32)."""
    return max(1, COLUMN_CHUNK_BYTES // (4 * g.oh * g.ow * (g.kh * g.kw * g.c + g.f)))


def _columns_t(g: _Geometry, img: Any, n0: int, n1: int, flat: Any) -> Any:
    """colT[(i, j, c), (n, oh, ow)] = img[n, oh*S + i, ow*S + j, c] of images n0..n1, contiguous in
    the front of the scratch buffer ``flat``."""
    colt = flat[:g.kh * g.kw * g.c * (n1 - n0) * g.oh * g.ow].reshape(g.kh * g.kw * g.c, -1)
    view = colt.reshape(g.kh, g.kw, g.c, n1 - n0, g.oh, g.ow)
    for i in range(g.kh):
        for j in range(g.kw):
            view[i, j] = _windows(img[n0:n1], g, i, j).transpose(3, 0, 1, 2)
    return colt


def _columns_forward(g: _Geometry, xl: Any, W: Any, b: Any, relu: bool, ws: Workspace,
                     keep: bool) -> tuple[Any, ConvSaved]:
    xp = backend.xp
    img, wm, nb, pixels = _padded(g, xl, ws, keep), _lhs_weights(W).reshape(-1, g.f), _column_images(g), g.oh * g.ow
    out = xp.empty((g.n * pixels, g.f), dtype=W.dtype)

    def images(lo: int, hi: int, worker: int) -> None:
        flat = ws.zeros(f"conv.colt{worker}", (wm.shape[0] * nb * pixels,), W.dtype)
        for n0 in range(lo, hi, nb):
            n1 = min(hi, n0 + nb)
            o = out[n0 * pixels:n1 * pixels]
            gemm(_columns_t(g, img, n0, n1, flat).T, wm, o)
            o += b
            if relu:
                xp.maximum(o, 0, out=o)

    threads.run(images, g.n, nb)
    y = out.reshape(g.n, g.oh, g.ow, g.f).transpose(0, 3, 1, 2)
    return y, ConvSaved(g, img if keep else None, y if relu else None)


def _columns_backward(g: _Geometry, saved: ConvSaved, dout: Any, W: Any, input_grad: bool,
                      ws: Workspace) -> tuple[Any, Any, Any]:
    xp = backend.xp
    img, wm, nb, pixels = saved.image, _lhs_weights(W).reshape(-1, g.f), _column_images(g), g.oh * g.ow
    d = dout.transpose(0, 2, 3, 1)  # dout where it lies when it is channels-last (a pool's dx is)
    if saved.y is not None or not d.flags.c_contiguous:
        d = ws.zeros("conv.d", d.shape, W.dtype)
        _dout_into(saved, dout, d)
    d = d.reshape(-1, g.f)
    dimg = xp.zeros(img.shape, dtype=W.dtype) if input_grad else None

    def images(lo: int, hi: int, worker: int) -> tuple[Any, Any]:
        flat = ws.zeros(f"conv.colt{worker}", (wm.shape[0] * nb * pixels,), W.dtype)
        dwm = ws.zeros(f"conv.dw{worker}", wm.shape, W.dtype)
        tmp_w = ws.zeros(f"conv.tmpw{worker}", wm.shape, W.dtype)
        for n0 in range(lo, hi, nb):
            n1 = min(hi, n0 + nb)
            dc = d[n0 * pixels:n1 * pixels]
            colt = _columns_t(g, img, n0, n1, flat)
            gemm(colt, dc, dwm, accumulate=n0 > lo, tmp=tmp_w)
            if dimg is not None:  # col2im of dcolT = wm @ dout^T, window offset by window offset
                dcolt = gemm(wm, dc.T, colt)
                view = dcolt.reshape(g.kh, g.kw, g.c, n1 - n0, g.oh, g.ow)
                for i in range(g.kh):
                    for j in range(g.kw):
                        _windows(dimg[n0:n1], g, i, j)[...] += view[i, j].transpose(1, 2, 3, 0)
        return dwm.copy()

    parts = threads.run(images, g.n, nb)
    dwm = sum(parts[1:], parts[0])
    dW = xp.ascontiguousarray(dwm.reshape(g.kh, g.kw, g.c, g.f).transpose(3, 2, 0, 1))
    db = (_ones(ws, d.shape[0], W.dtype) @ d)[0]
    p = g.pad
    dx = None if dimg is None else dimg[:, p:p + g.h, p:p + g.w].transpose(0, 3, 1, 2)
    return dx, dW, db
