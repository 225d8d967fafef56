"""The fully connected (Affine) layer of ch. 5.6, for inputs of any rank."""
from __future__ import annotations

import math
from typing import Any

from ..kernels.threads import matmul
from .base import WeightLayer, check_dout, float_input


class Affine(WeightLayer):
    """Affine layer (ch. 5.6.2): y = x W + b; dx = dout W^T, dW = x^T dout, db = sum_n dout.

    Input (N, d1, d2, ...) is flattened to (N, D) (D = W.shape[0]) and dx gets the input's
    shape back; a single sample (D,) gives (M,). Computes in W's dtype (the input is cast to it).
    """

    prefix = "affine"
    W_SHAPE = "(in_features, out_features)"

    def __init__(self, W: Any, b: Any) -> None:
        super().__init__(W, b)
        self.x: Any = None  # the input as (N, D), cached for dW
        self.original_x_shape: tuple[int, ...] | None = None

    def _check_features(self, shape: tuple[int, ...], what: str) -> None:
        d_in, d_out = self.params["W"].shape
        features = shape[0] if len(shape) == 1 else math.prod(shape[1:])
        if len(shape) == 0 or features != d_in:
            raise ValueError(
                f"Affine expects {d_in} input features (W is {d_in}x{d_out}), got {what} of shape {shape}"
            )

    def forward(self, x: Any, train: bool = True) -> Any:
        W, b = self.params["W"], self.params["b"]
        x = float_input(x, W.dtype)
        self._check_features(x.shape, "input")
        self.original_x_shape = x.shape
        self.x = x.reshape(-1, W.shape[0])
        out = matmul(self.x, W) + b  # x @ W (rows split over the kernels' threads inside a network pass)
        return out[0] if x.ndim == 1 else out

    def backward(self, dout: Any) -> Any:
        W = self.params["W"]
        expected = None
        if self.original_x_shape is not None:
            expected = (W.shape[1],) if len(self.original_x_shape) == 1 else (self.x.shape[0], W.shape[1])
        dout = check_dout(self, dout, expected).astype(W.dtype, copy=False).reshape(-1, W.shape[1])
        self.grads["W"] = matmul(self.x.T, dout)
        self.grads["b"] = dout.sum(axis=0)
        return matmul(dout, W.T).reshape(self.original_x_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        d_in, d_out = self.params["W"].shape
        if math.prod(input_shape) != d_in:
            raise ValueError(
                f"Affine expects {d_in} input features (W is {d_in}x{d_out}), got per-sample shape {tuple(input_shape)}"
            )
        return (d_out,)
