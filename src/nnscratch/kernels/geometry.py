"""The shapes of one convolution, what its backward needs, and small helpers its paths share.

conv.py (the stride-1 path, without a column matrix) and columns.py (the column-matrix paths) are
the two ways :func:`nnscratch.kernels.conv2d_forward` computes a convolution; both start here.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from .workspace import Workspace


class Geometry:
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
            self.row = self.w + pad  # R (>= OW as pad <= FW - 1)
            self.m = max(self.h, self.oh) * self.row * self.n  # grid rows holding output and dx pixels
            self.shifts = [(i * self.row + j) * self.n for i in range(self.kh) for j in range(self.kw)]
            self.lead_x = (pad * self.row + pad) * self.n  # buffer row of pixel (0, 0) of image 0
            self.lead_d = ((self.kh - 1 - pad) * self.row + (self.kw - 1 - pad)) * self.n  # of dout's
            self.rows = self.m + self.shifts[-1]  # every slice m + shift stays inside the buffer

    def grid(self, buf: Any, lead: int, h: int, w: int) -> Any:
        """The (N, h, w, channels) pixels of a flat grid buffer whose pixel (0, 0) is row ``lead``."""
        block = buf[lead:lead + h * self.row * self.n]
        return block.reshape(h, self.row, self.n, buf.shape[1])[:, :w].transpose(2, 0, 1, 3)


class ConvSaved:
    """What conv2d_backward needs from the forward pass (the layer keeps it until backward)."""

    def __init__(self, geometry: Geometry, image: Any, y: Any) -> None:
        self.geometry = geometry
        self.image = image  # stride 1: the flat padded grid; column paths: the padded image (HWNC or NHWC)
        self.y = y  # the output when ReLU was folded in (its mask gates dout), else None


def lhs_weights(W: Any) -> Any:
    """W as (FH*FW, C, FN): one (C, FN) right-hand matrix per kernel offset (i, j)."""
    f, c, kh, kw = W.shape
    return backend.xp.ascontiguousarray(W.transpose(2, 3, 1, 0)).reshape(kh * kw, c, f)


def ones_row(ws: Workspace, n: int, dtype: Any) -> Any:
    """A (1, n) row of ones: db = ones @ dout is a BLAS product (a column sum of a narrow array is slow)."""
    ones = ws.zeros("conv.ones", (1, n), dtype)
    ones[...] = 1
    return ones


def dout_into(saved: ConvSaved, dout: Any, dst: Any, n0: int = 0, n1: int | None = None) -> None:
    """dst (k, OH, OW, FN) = dout of images n0..n1, gated by the folded ReLU's mask (out > 0) if any."""
    dl = dout.transpose(0, 2, 3, 1)
    if saved.y is None:
        dst[...] = dl
    else:
        backend.xp.multiply(dl, saved.y[n0:n1].transpose(0, 2, 3, 1) > 0, out=dst)
