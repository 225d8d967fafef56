"""The Convolution layer of ch. 7.2-7.4, NCHW like the book: im2col, then one matrix product.

The speed machinery lives behind two helpers: :class:`.im2col.Im2col` (cache-sized chunks of the
batch, column plans, scratch buffers) for the book's form, the reference, and
:class:`.fast.FastConvolution` (nnscratch.kernels: no column matrix on stride 1, channels-last
activations), which runs by default; ``fast = False`` on a layer (or the class) runs the reference.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from ..validation import check_int
from .base import WeightLayer, check_dout, float_input
from .fast import FastConvolution
from .im2col import Columns, Im2col, output_hw

__all__ = ["Convolution"]


class Convolution(WeightLayer):
    """Convolution (ch. 7.2, 7.4.3): out[n, f] = sum_c W[f, c] * x_pad[n, c] (cross-correlation) + b[f].

    Forward: col = im2col(x), out = [W | b] · [col; 1]. Backward: [dW | db] = dout · [col; 1]^T,
    dx = col2im(W^T · dout). x (N, C, H, W), W (FN, C, FH, FW), b (FN,).
    """

    prefix = "conv"
    W_SHAPE = "(FN, C, FH, FW)"
    #: False on a network's first layer: backward skips dx and returns None (torch does the same
    #: for inputs that need no gradient); a model may set it, it is not part of the config
    input_grad: bool = True
    #: True: the same arithmetic on nnscratch.kernels (float64 parity to 1e-10, tests/test_fast_layers.py);
    #: False: the book's im2col form below, the reference
    fast: bool = True
    #: True when a model folded the ReLU after this layer in: out = max(0, conv(x)) (layers.fold)
    relu: bool = False

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0) -> None:
        super().__init__(W, b)
        self.stride = check_int("stride", stride, 1)
        self.pad = check_int("pad", pad, 0)
        self.im2col = Im2col(self.W.shape[2], self.W.shape[3], self.stride, self.pad)
        self.col: Columns | None = None  # the columns of the last input (they hold it for backward)
        self.out: Any = None  # the reference's output, kept when a ReLU is folded in
        self._fast = FastConvolution()

    def get_config(self) -> dict[str, Any]:
        return {"stride": self.stride, "pad": self.pad}

    def _out_hw(self, shape: tuple[int, ...], batch: bool = True) -> tuple[int, int]:
        W = self.params["W"]
        if 0 in tuple(shape):
            raise ValueError(f"Convolution input must have no zero-size axis, got shape {tuple(shape)}")
        oh_ow = output_hw(shape, W.shape[2], W.shape[3], self.stride, self.pad, "Convolution", batch)
        if shape[-3] != W.shape[1]:
            raise ValueError(f"Convolution with W of shape {tuple(W.shape)} expects {W.shape[1]} input channels, "
                             f"got input of shape {tuple(shape)}")
        return oh_ow

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        oh, ow = self._out_hw(tuple(input_shape), batch=False)
        return (self.params["W"].shape[0], oh, ow)

    def forward(self, x: Any, train: bool = True) -> Any:
        W, b = self.params["W"], self.params["b"]
        x = float_input(x, W.dtype)
        self._out_hw(x.shape)
        if self.fast:
            return self._fast.forward(x, W, b, self.stride, self.pad, self.relu, train)
        self.col = self.im2col(x)  # col = im2col(x), built chunk by chunk as it is used
        W_col = backend.xp.concatenate([self.im2col.weight_rows(W), b[:, None]], axis=1)  # [W | b]
        out = self.col.dot(W_col)  # out = [W | b] · [col; 1]
        if self.relu:
            self.out = out = backend.xp.maximum(out, 0)
        return out

    def backward(self, dout: Any) -> Any:
        W, col = self.params["W"], self.col
        if self.fast:
            dout = check_dout(self, dout, self._fast.out_shape).astype(W.dtype, copy=False)
            dx, self.grads["W"], self.grads["b"] = self._fast.backward(dout, W, self.input_grad)
            return dx
        shape = None if col is None else (col.x.shape[0], W.shape[0], *col.output_hw)
        dout = check_dout(self, dout, shape).astype(W.dtype, copy=False)
        if self.relu:
            dout = dout * (self.out > 0)
        W_rows = self.im2col.weight_rows(W) if self.input_grad else None
        dW_col, dx = col.gradients(dout, W_rows)  # [dW | db]^T = [col; 1] · dout^T, dx = col2im(W^T · dout)
        self.grads["W"] = self.im2col.weight_grad(dW_col[:-1].T, W.shape)
        self.grads["b"] = dW_col[-1].copy()
        return dx
