"""Fast max / average pooling (ch. 7.3) over channels-last memory, ReLU optionally folded in.

Interface like :mod:`.conv`: x (N, C, H, W) with any strides, results NCHW-shaped views of
channels-last memory in the input's order: NHWC, or (H, W, N, C) after a stride-1 convolution.
Each window offset (i, j) is one strided view of the (padded) image, whose innermost run is all C
channels of a pixel (NHWC) or that pixel of every image (N*C numbers, (H, W, N, C)), so every pass
moves whole pixels; the passes run over cache-sized blocks of images or of output rows.

Max routes each output gradient to ONE input, the window's first maximum in row-major order
(torch's choice), ties included; padding counts as -inf. Average pads with zeros and divides by
pool_h * pool_w (torch's count_include_pad). ``relu=True`` (max only) computes max(0, pool(x)),
which is pool(max(0, x)) with the same gradient, so a ReLU before a max pool costs passes over
the pooled output only; a window whose inputs are all <= 0 gets no gradient, as through the ReLU
(its recorded offset is moved past the window's, so backward routes nothing there).
"""
from __future__ import annotations

from typing import Any

from .. import backend
from . import threads

__all__ = ["PoolSaved", "max_grad_into", "max_into", "pool2d_forward", "pool2d_backward"]

#: bytes of pooled output per block: a block's passes (several per window offset) stay in cache;
#: runs of images in NHWC memory, runs of output rows in (H, W, N, C) memory (measured with 2x2 pools)
IMAGE_BLOCK_BYTES = 256 * 2**10
ROW_BLOCK_BYTES = 2**20


class PoolSaved:
    """What pool2d_backward needs: the geometry and each window's first-maximum offset (max)."""

    def __init__(self, shape: tuple[int, ...], out_hw: tuple[int, int], pool: tuple[int, int], stride: int,
                 pad: int, mode: str, arg: Any, hwnc: bool) -> None:
        self.shape, self.out_hw, self.pool, self.stride, self.pad = shape, out_hw, pool, stride, pad
        self.mode, self.arg, self.hwnc = mode, arg, hwnc


def _out_hw(shape: tuple[int, ...], ph: int, pw: int, stride: int, pad: int) -> tuple[int, int]:
    if len(shape) != 4:
        raise ValueError(f"pool2d expects x (N, C, H, W), got shape {tuple(shape)}")
    for name, v, lo in (("pool_h", ph, 1), ("pool_w", pw, 1), ("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"pool2d: {name} must be an integer >= {lo}, got {v!r}")
    if 2 * pad > min(ph, pw):
        raise ValueError(f"pool2d: pad must be at most half the {ph}x{pw} window, got pad={pad}")
    h, w = shape[2] + 2 * pad, shape[3] + 2 * pad
    if ph > h or pw > w:
        raise ValueError(f"pool2d: a {ph}x{pw} window does not fit x of shape {tuple(shape)} padded by {pad}")
    return (h - ph) // stride + 1, (w - pw) // stride + 1


def _empty(make: Any, shape: tuple[int, ...], dtype: Any, hwnc: bool) -> Any:
    """An (N, H, W, C) array stored NHWC, or (H, W, N, C) like a stride-1 convolution's output."""
    if not hwnc:
        return make(shape, dtype=dtype)
    n, h, w, c = shape
    return make((h, w, n, c), dtype=dtype).transpose(2, 0, 1, 3)


def _offsets(img: Any, ph: int, pw: int, s: int, oh: int, ow: int) -> list[Any]:
    """img[:, oh*s + i, ow*s + j, :] for each window offset (i, j), row-major order."""
    return [img[:, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s] for i in range(ph) for j in range(pw)]


def _blocks(fn: Any, out_shape: tuple[int, ...], itemsize: int, s: int, ph: int, hwnc: bool,
            shared_rows: bool = False) -> None:
    """fn(out_index, in_index) over cache-sized blocks of the (N, H, W, C)-shaped output and input:
    runs of output rows in (H, W, N, C) memory (each a contiguous block), else runs of images.
    ``shared_rows``: blocks of rows overlap in the input (windows taller than the stride), one thread."""
    n, oh, ow, c = out_shape
    if not hwnc:
        images = max(1, IMAGE_BLOCK_BYTES // (oh * ow * c * itemsize))
        threads.run(threads.chunked(lambda n0, n1, _: fn(slice(n0, n1), slice(n0, n1)), images), n)
        return
    rows = max(1, ROW_BLOCK_BYTES // (ow * n * c * itemsize))
    every = slice(None)
    threads.run(threads.chunked(lambda r0, r1, _: fn((every, slice(r0, r1)), (every, slice(r0 * s, (r1 - 1) * s + ph))),
                                rows), oh, n_workers=1 if shared_rows else None)


def max_into(wins: list[Any], o: Any, a: Any, relu: bool) -> None:
    """o = max over the window offsets' views ``wins``, max(0, .) if relu; a (uint8/int32, zero, or
    None: not recorded) = the offset of each window's FIRST maximum, moved past the last offset
    where relu zeroed the window (backward then routes nothing there)."""
    xp = backend.xp
    if a is None:
        if len(wins) == 1:
            o[...] = wins[0]
        else:  # no copy of wins[0] first: one pass fewer
            xp.maximum(wins[0], wins[1], out=o)
        for win in wins[2:]:
            xp.maximum(o, win, out=o)
    elif len(wins) == 4:
        _max4_into(wins, o, a)
    else:
        # offset q takes over only where strictly greater, and later offsets have larger q, so
        # a = max over q of q * (win_q > running max) (branch-free)
        greater = xp.empty_like(o, dtype=bool)  # in o's memory order, like every operand
        qs = xp.empty_like(a)
        o[...] = wins[0]
        for q, win in enumerate(wins[1:], 1):
            xp.greater(win, o, out=greater)
            xp.multiply(greater, a.dtype.type(q), out=qs)
            xp.maximum(a, qs, out=a)
            xp.maximum(o, win, out=o)
    if relu:
        if a is not None:
            a += xp.less_equal(o, 0) * a.dtype.type(len(wins))
        xp.maximum(o, 0, out=o)


def _max4_into(wins: list[Any], o: Any, a: Any) -> None:
    """max_into for four window offsets (a 2 x 2 pool) as a tree, (w0 | w1) against (w2 | w3): 6 passes
    over the pooled size where the running maximum takes 7, and 4 where it takes 6 over the uint8
    offsets ``a`` (any content: all written). Ties go left, to the first maximum."""
    xp = backend.xp
    w0, w1, w2, w3 = wins
    right = xp.empty_like(o)
    left_offset = xp.greater(w1, w0).view(xp.uint8)  # 1 where w1 is the left pair's first maximum
    xp.maximum(w0, w1, out=o)
    right_offset = xp.greater(w3, w2).view(xp.uint8)
    right_offset += 2
    xp.maximum(w2, w3, out=right)
    take_right = xp.greater(right, o).view(xp.uint8)
    xp.maximum(o, right, out=o)
    # a = left + take_right * (right - left): each factor is 0/1 or in 1..3, so nothing wraps
    right_offset -= left_offset
    right_offset *= take_right
    xp.add(right_offset, left_offset, out=a)


def max_grad_into(d: Any, arg: Any, views: list[Any], overlap: bool) -> None:
    """Route each window's gradient ``d`` to its first maximum: views[q] gets d where arg == q
    (added when windows overlap, else written: then every view is written whole)."""
    xp = backend.xp
    hit = xp.empty_like(arg, dtype=bool)
    for q, view in enumerate(views):
        xp.equal(arg, q, out=hit)
        if overlap:
            view += d * hit
        else:
            xp.multiply(d, hit, out=view)


def pool2d_forward(x: Any, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0,
                   mode: str = "max", *, relu: bool = False, keep: bool = True) -> tuple[Any, PoolSaved]:
    """Max or mean of each pool_h x pool_w window, channel by channel; returns (out, saved).

    ``keep=False`` (inference: no backward follows) skips recording where each maximum was.
    """
    xp = backend.xp
    if mode not in ("max", "avg"):
        raise ValueError(f"pool2d: mode must be 'max' or 'avg', got {mode!r}")
    if relu and mode != "max":
        raise ValueError("pool2d: relu can be folded into max pooling only")
    s = pool_h if stride is None else stride
    oh, ow = _out_hw(tuple(x.shape), pool_h, pool_w, s, pad)
    xl = x.transpose(0, 2, 3, 1)
    n, h, w, c = xl.shape
    hwnc = n > 1 and xl.strides[0] < xl.strides[2]  # keep the input's memory order: the next layer reads it
    img = xl
    if pad:
        img = _empty(xp.empty, (n, h + 2 * pad, w + 2 * pad, c), x.dtype, hwnc)
        img[...] = -xp.inf if mode == "max" else 0.0
        img[:, pad:pad + h, pad:pad + w] = xl
    out = _empty(xp.empty, (n, oh, ow, c), x.dtype, hwnc)
    arg = None if mode == "avg" or not keep else \
        _empty(xp.zeros, out.shape, xp.uint8 if 2 * pool_h * pool_w <= 256 else xp.int32, hwnc)

    def block(o_at: Any, x_at: Any) -> None:
        o = out[o_at]
        wins = _offsets(img[x_at], pool_h, pool_w, s, o.shape[1], ow)
        if mode == "avg":
            o[...] = wins[0]
            for win in wins[1:]:
                o += win
            o /= pool_h * pool_w
            return
        max_into(wins, o, None if arg is None else arg[o_at], relu)

    _blocks(block, out.shape, out.itemsize, s, pool_h, hwnc)
    y = out.transpose(0, 3, 1, 2)
    return y, PoolSaved(tuple(x.shape), (oh, ow), (pool_h, pool_w), s, pad, mode, arg, hwnc)


def _memory_order(a: Any) -> list[int]:
    """a's axes from the innermost (smallest stride) out."""
    return sorted(range(a.ndim), key=lambda axis: a.strides[axis])


def pool2d_backward(dout: Any, saved: PoolSaved) -> Any:
    """dx of :func:`pool2d_forward` (N, C, H, W): max to each window's first maximum, avg spread evenly."""
    xp = backend.xp
    n, c, h, w = saved.shape
    (oh, ow), (ph, pw), s, p = saved.out_hw, saved.pool, saved.stride, saved.pad
    if saved.mode == "max" and saved.arg is None:
        raise ValueError("pool2d_backward needs the saved state of a pool2d_forward with keep=True")
    if tuple(dout.shape) != (n, c, oh, ow):
        raise ValueError(f"pool2d_backward expects dout of shape {(n, c, oh, ow)}, got {tuple(dout.shape)}")
    covered = p == 0 and s == ph == pw and h == oh * s and w == ow * s  # every pixel in one window
    overlap = s < max(ph, pw)
    img = _empty(xp.empty if covered else xp.zeros, (n, h + 2 * p, w + 2 * p, c), dout.dtype, saved.hwnc)
    dl = dout.transpose(0, 2, 3, 1)
    if saved.arg is not None and _memory_order(dl) != _memory_order(saved.arg):  # one transposing copy, not one per offset
        dl = xp.empty_like(saved.arg, dtype=dout.dtype)
        dl[...] = dout.transpose(0, 2, 3, 1)

    def block(d_at: Any, x_at: Any) -> None:
        d = dl[d_at]
        views = _offsets(img[x_at], ph, pw, s, d.shape[1], ow)
        if saved.mode == "avg":
            share = d / (ph * pw)
            for view in views:
                if overlap:
                    view += share
                else:
                    view[...] = share
            return
        max_grad_into(d, saved.arg[d_at], views, overlap)

    _blocks(block, dl.shape, img.itemsize, s, ph, saved.hwnc, shared_rows=overlap)
    return img[:, p:p + h, p:p + w].transpose(0, 3, 1, 2)
