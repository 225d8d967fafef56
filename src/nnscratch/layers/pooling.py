"""Max and average pooling (ch. 7.3), NCHW like the book; no parameters.

``fast = True`` (the default) hands the pooling to nnscratch.kernels through one helper,
:class:`.fast.FastPooling` (channels-last memory, same results); ``fast = False`` runs the
book-readable form below, the reference.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from ..validation import check_choice, check_int
from .base import Layer, check_dout, float_input
from .fast import FastPooling
from .im2col import output_hw, pad_image

__all__ = ["Pooling", "MaxPooling", "AveragePooling"]


class Pooling(Layer):
    """Pooling (ch. 7.3): max or mean over each pool_h x pool_w window, channel by channel; no params.

    Max routes each output gradient to ONE input, the window's first maximum in row-major order
    (torch's choice), ties included; padding counts as -inf. Average pads with zeros and always
    divides by pool_h*pool_w (torch's count_include_pad). ``stride`` defaults to ``pool_h``.
    """

    prefix = "pool"
    _MODES = ("max", "avg")
    #: True: nnscratch.kernels; False: the reference below
    fast: bool = True
    #: True when a model folded the ReLU before this max pool in: max(0, pool(x)) = pool(max(0, x))
    relu: bool = False

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0, mode: str = "max") -> None:
        super().__init__()
        self.mode = check_choice("mode", mode, self._MODES)
        self.pool_h = check_int("pool_h", pool_h, 1)
        self.pool_w = check_int("pool_w", pool_w, 1)
        self.stride = check_int("stride", pool_h if stride is None else stride, 1)
        self.pad = check_int("pad", pad, 0)
        if 2 * self.pad > min(self.pool_h, self.pool_w):
            raise ValueError(f"pad must be at most half the {pool_h}x{pool_w} window, got pad={pad}")
        self.x_shape: tuple[int, ...] | None = None
        self.arg: Any = None  # max: index (i*pool_w + j) of each window's first maximum
        self.out: Any = None  # kept when a ReLU is folded in
        self._fast = FastPooling()

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
        x = float_input(x)
        oh, ow = self._out_hw(x.shape)
        if self.fast:
            return self._fast.forward(x, self.pool_h, self.pool_w, self.stride, self.pad, self.mode,
                                      self.relu and self.mode == "max", train)
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
        if self.relu:
            self.out = out = xp.maximum(out, 0)
        return out

    def backward(self, dout: Any) -> Any:
        xp = backend.xp
        if self.fast:
            return self._fast.backward(check_dout(self, dout, self._fast.out_shape))
        shape = None if self.x_shape is None else (*self.x_shape[:2], *self._out_hw(self.x_shape))
        dout = check_dout(self, dout, shape)
        if self.relu and self.mode == "max":
            dout = dout * (self.out > 0)
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
