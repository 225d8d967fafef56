"""Convolution, Pooling and Flatten layers of ch. 7, NCHW like the book.

Convolution is the book's im2col + one matrix product, done on cache-sized chunks of the batch
(a 45 MB column matrix does not fit a cache; a 2 MB one does) with scratch buffers reused between
calls. Stride 1 builds columns by whole-block shifts (:class:`.im2col.ShiftPlan`), other strides
by the book's strided copies. Backward rebuilds each chunk's columns from the cached input.
"""
from __future__ import annotations

import math
from typing import Any

from .. import backend
from .activations import _check_dout, _float_input
from .base import Layer, weight_and_bias
from .im2col import ColumnPlan, col2im, column_plan, im2col, output_hw, pad_image

__all__ = ["Convolution", "Pooling", "MaxPooling", "AveragePooling", "Flatten", "im2col", "col2im"]

#: bytes of column matrix per chunk of the batch (tuned with bench/layers_conv.py: cache-sized)
CHUNK_BYTES = 2 * 2**20


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class Convolution(Layer):
    """Convolution (ch. 7.2, 7.4.3): out[n, f] = sum_c W[f, c] * x_pad[n, c] (cross-correlation) + b[f].

    Forward: col = im2col(x), out = [W | b] @ [col; 1]. Backward: [dW | db] = dout @ [col; 1]^T,
    dx = col2im(W^T @ dout). x (N, C, H, W), W (FN, C, FH, FW), b (FN,).
    """

    prefix = "conv"
    #: False on a network's first layer: backward skips dx and returns None (torch does the same
    #: for inputs that need no gradient); a model may set it, it is not part of the config
    input_grad: bool = True

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        xp = backend.xp
        W, b = weight_and_bias("Convolution", W, b, 4, "(FN, C, FH, FW)")
        self.stride = _check_int("stride", stride, 1)
        self.pad = _check_int("pad", pad, 0)
        self.params = {"W": W, "b": b}
        self.grads = {"W": xp.zeros_like(W), "b": xp.zeros_like(self.params["b"])}
        self.x: Any = None  # the input, cached for backward (columns are rebuilt chunk by chunk)
        self._scratch: dict[tuple, Any] = {}  # work buffers and plans, reused between calls

    @property
    def W(self) -> Any:
        return self.params["W"]

    @property
    def b(self) -> Any:
        return self.params["b"]

    def get_config(self) -> dict[str, Any]:
        return {"stride": self.stride, "pad": self.pad}

    def _out_hw(self, shape: tuple[int, ...], batch: bool = True) -> tuple[int, int]:
        W = self.params["W"]
        oh_ow = output_hw(shape, W.shape[2], W.shape[3], self.stride, self.pad, "Convolution", batch)
        if shape[-3] != W.shape[1]:
            raise ValueError(f"Convolution with W of shape {tuple(W.shape)} expects {W.shape[1]} input channels, "
                             f"got input of shape {tuple(shape)}")
        return oh_ow

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        oh, ow = self._out_hw(tuple(input_shape), batch=False)
        return (self.params["W"].shape[0], oh, ow)

    # -- chunks of the batch, each with its column plan and scratch buffers ----------------
    def _buffer(self, name: str, shape: tuple[int, ...], dtype: Any, ones_row: bool = False) -> Any:
        """A scratch array kept between calls, zero when created (parts never written stay zero)."""
        key = (name, shape, dtype)
        buf = self._scratch.get(key)
        if buf is None:
            if len(self._scratch) > 64:  # many batch sizes seen: start afresh rather than grow
                self._scratch.clear()
            buf = self._scratch[key] = backend.xp.zeros(shape, dtype=dtype)
            if ones_row:
                buf[-1] = 1  # the bias row of [col; 1]
        return buf

    def _chunks(self, x: Any) -> list[tuple[int, int, ColumnPlan]]:
        """(n0, n1, plan) per chunk: as many samples as fit CHUNK_BYTES of columns, balanced."""
        n = x.shape[0]
        fh, fw = self.params["W"].shape[2:]
        one = self._plan((1, *x.shape[1:]), fh, fw)
        per_sample = (fh * fw * x.shape[1] + 1) * one.length * x.dtype.itemsize
        nb = max(1, min(n, CHUNK_BYTES // per_sample))
        chunks = -(-n // nb)
        nb = -(-n // chunks)  # the same number of chunks, evened out
        return [(n0, min(n, n0 + nb), self._plan((min(n, n0 + nb) - n0, *x.shape[1:]), fh, fw))
                for n0 in range(0, n, nb)]

    def _plan(self, shape: tuple[int, ...], fh: int, fw: int) -> ColumnPlan:
        key = ("plan", shape, fh, fw)
        if key not in self._scratch:
            self._scratch[key] = column_plan(shape, fh, fw, self.stride, self.pad)
        return self._scratch[key]

    def _columns(self, x: Any, plan: ColumnPlan) -> Any:
        """[col; 1] of the chunk x as a (FH*FW*C + 1, k*S) matrix (a scratch buffer)."""
        k, c = x.shape[:2]
        fh, fw = self.params["W"].shape[2:]
        img = self._buffer("img", plan.image_shape, x.dtype)
        plan.load(x, img)
        col = self._buffer("col", (fh * fw * c + 1, k * plan.length), x.dtype, ones_row=True)
        plan.unfold(img, col[:-1])
        return col

    @staticmethod
    def _weight_grad(col: Any, d: Any, k: int) -> Any:
        """[col; 1] @ dout^T, (FH*FW*C + 1, FN). With few rows (a first layer), one product per
        sample is faster than one long reduction, which BLAS cannot split across threads."""
        if col.shape[0] >= 64:
            return backend.xp.matmul(col, d.T)
        per_sample = backend.xp.matmul(col.reshape(col.shape[0], k, -1).transpose(1, 0, 2),
                                       d.reshape(d.shape[0], k, -1).transpose(1, 2, 0))
        return per_sample.sum(axis=0)

    def _weights(self) -> Any:
        """W as (FN, FH*FW*C), columns ordered (i, j, c) like the rows of the columns."""
        W = self.params["W"]
        return W.transpose(0, 2, 3, 1).reshape(W.shape[0], -1)

    def forward(self, x: Any, train: bool = True) -> Any:
        xp = backend.xp
        W, b = self.params["W"], self.params["b"]
        x = _float_input(x, W.dtype)
        oh, ow = self._out_hw(x.shape)
        Wb = xp.concatenate([self._weights(), b[:, None]], axis=1)  # [W | b]
        out = xp.empty((x.shape[0], W.shape[0], oh, ow), dtype=x.dtype)
        for n0, n1, plan in self._chunks(x):
            y = self._buffer("y", (W.shape[0], (n1 - n0) * plan.length), x.dtype)
            xp.matmul(Wb, self._columns(x[n0:n1], plan), out=y)
            out[n0:n1] = plan.outputs(y)
        self.x = x
        return out

    def backward(self, dout: Any) -> Any:
        xp = backend.xp
        W, x = self.params["W"], self.x
        fn, c, fh, fw = W.shape
        shape = None if x is None else (x.shape[0], fn, *self._out_hw(x.shape))
        dout = _check_dout(self, dout, shape).astype(W.dtype, copy=False)
        W2 = self._weights()
        dWb = xp.zeros((W2.shape[1] + 1, fn), dtype=W.dtype)  # [dW | db]^T = [col; 1] @ dout^T
        dx = xp.empty_like(x) if self.input_grad else None
        for n0, n1, plan in self._chunks(x):
            length = (n1 - n0) * plan.length
            d = self._buffer("dout", (fn, length), x.dtype)  # junk columns stay zero
            plan.outputs(d)[...] = dout[n0:n1]
            dWb += self._weight_grad(self._columns(x[n0:n1], plan), d, n1 - n0)
            if dx is None:
                continue
            dcol = self._buffer("dcol", (W2.shape[1], length), x.dtype)
            xp.matmul(W2.T, d, out=dcol)
            img = self._buffer("dimg", plan.image_shape, x.dtype)
            img.fill(0)
            plan.fold(dcol, img)  # col2im
            dx[n0:n1] = plan.crop(img)
        self.grads["W"] = xp.ascontiguousarray(dWb[:-1].T.reshape(fn, fh, fw, c).transpose(0, 3, 1, 2))
        self.grads["b"] = dWb[-1].copy()
        return dx


class Pooling(Layer):
    """Pooling (ch. 7.3): max or mean over each pool_h x pool_w window, channel by channel; no params.

    Max routes each output gradient to ONE input, the window's first maximum in row-major order
    (torch's choice), ties included; padding counts as -inf. Average pads with zeros and always
    divides by pool_h*pool_w (torch's count_include_pad). ``stride`` defaults to ``pool_h``.
    """

    prefix = "pool"
    _MODES = ("max", "avg")

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0, mode: str = "max") -> None:
        super().__init__()
        if mode not in self._MODES:
            raise ValueError(f"pooling mode must be one of {self._MODES}, got {mode!r}")
        self.pool_h = _check_int("pool_h", pool_h, 1)
        self.pool_w = _check_int("pool_w", pool_w, 1)
        self.stride = _check_int("stride", pool_h if stride is None else stride, 1)
        self.pad = _check_int("pad", pad, 0)
        if 2 * pad > min(pool_h, pool_w):
            raise ValueError(f"pad must be at most half the {pool_h}x{pool_w} window, got pad={pad}")
        self.mode = mode
        self.x_shape: tuple[int, ...] | None = None
        self.arg: Any = None  # max: index (i*pool_w + j) of each window's first maximum

    def get_config(self) -> dict[str, Any]:
        return {"pool_h": self.pool_h, "pool_w": self.pool_w, "stride": self.stride, "pad": self.pad,
                "mode": self.mode}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[0], *self._out_hw(tuple(input_shape), batch=False))

    def _out_hw(self, shape: tuple[int, ...], batch: bool = True) -> tuple[int, int]:
        return output_hw(shape, self.pool_h, self.pool_w, self.stride, self.pad, type(self).__name__, batch)

    def _tiles(self, shape: tuple[int, ...]) -> bool:
        """True when the windows tile the input exactly (the fast path: no padding, each pixel once)."""
        n, c, h, w = shape
        s, ph, pw = self.stride, self.pool_h, self.pool_w
        return self.pad == 0 and s == ph == pw and h % s == 0 and w % s == 0

    def _offsets(self, img: Any, oh: int, ow: int) -> list[Any]:
        """Views img[:, :, oh*s + i, ow*s + j] (s the stride) for each window offset (i, j), row-major order.

        When the windows tile the input these are x.reshape(N, C, OH, PH, OW, PW)[:, :, :, i, :, j].
        """
        s = self.stride
        return [img[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s]
                for i in range(self.pool_h) for j in range(self.pool_w)]

    def forward(self, x: Any, train: bool = True) -> Any:
        xp = backend.xp
        x = _float_input(x)
        oh, ow = self._out_hw(x.shape)
        self.x_shape = x.shape
        fill = -xp.inf if self.mode == "max" else 0.0
        windows = self._offsets(pad_image(x, self.pad, fill), oh, ow)
        out = windows[0].copy()
        if self.mode == "avg":
            for win in windows[1:]:
                out += win
            out /= self.pool_h * self.pool_w
            return out
        # arg = the offset of each window's FIRST maximum: offset q takes over only when strictly
        # greater, and later offsets have larger q, so arg = max over q of q * (win_q > running max)
        self.arg = arg = xp.zeros(out.shape, dtype=xp.uint8 if len(windows) < 256 else xp.int32)
        greater = xp.empty(out.shape, dtype=bool)
        for q, win in enumerate(windows[1:], 1):
            xp.greater(win, out, out=greater)
            xp.maximum(arg, greater.view(xp.uint8) * arg.dtype.type(q), out=arg)
            xp.maximum(out, win, out=out)
        return out

    def backward(self, dout: Any) -> Any:
        xp = backend.xp
        shape = None if self.x_shape is None else (*self.x_shape[:2], *self._out_hw(self.x_shape))
        dout = _check_dout(self, dout, shape)
        n, c, h, w = self.x_shape
        ph, pw, p = self.pool_h, self.pool_w, self.pad
        overlap = self.stride < max(ph, pw)  # then windows share pixels and their gradients add up
        empty = self._tiles(self.x_shape)  # every pixel is written exactly once
        img = (xp.empty if empty else xp.zeros)((n, c, h + 2 * p, w + 2 * p), dtype=dout.dtype)
        share = dout / (ph * pw) if self.mode == "avg" else None
        for q, view in enumerate(self._offsets(img, *shape[2:])):
            grad = share if share is not None else dout * (self.arg == q)  # max: to the first maximum only
            if overlap:
                view += grad
            else:
                view[...] = grad
        return img[:, :, p:p + h, p:p + w] if p else img


class MaxPooling(Pooling):
    """Max pooling (ch. 7.3): the book's Pooling layer."""

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__(pool_h, pool_w, stride, pad, mode="max")

    def get_config(self) -> dict[str, Any]:
        return {k: v for k, v in super().get_config().items() if k != "mode"}


class AveragePooling(Pooling):
    """Average pooling (ch. 7.3.1): the mean of each window (padding counted as zeros)."""

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__(pool_h, pool_w, stride, pad, mode="avg")

    def get_config(self) -> dict[str, Any]:
        return {k: v for k, v in super().get_config().items() if k != "mode"}


class Flatten(Layer):
    """Flatten (N, C, H, W) -> (N, C*H*W) before an Affine layer (ch. 7.5); backward restores the shape."""

    prefix = "flatten"

    def __init__(self) -> None:
        super().__init__()
        self.x_shape: tuple[int, ...] | None = None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def forward(self, x: Any, train: bool = True) -> Any:
        x = _float_input(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten expects a batch (N, ...) of at least 2 dimensions, got shape {x.shape}")
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: Any) -> Any:
        shape = None if self.x_shape is None else (self.x_shape[0], self.output_shape(self.x_shape[1:])[0])
        return _check_dout(self, dout, shape).reshape(self.x_shape)
