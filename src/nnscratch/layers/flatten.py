"""Flatten (ch. 7.5): the bridge from convolution maps to Affine layers."""
from __future__ import annotations

import math
from typing import Any

from .base import Layer, check_dout, float_input

__all__ = ["Flatten"]


class Flatten(Layer):
    """Flatten (N, C, H, W) -> (N, C*H*W) before an Affine layer (ch. 7.5); backward restores the shape."""

    prefix = "flatten"

    def __init__(self) -> None:
        super().__init__()
        self.x_shape: tuple[int, ...] | None = None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def forward(self, x: Any, train: bool = True) -> Any:
        x = float_input(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten expects a batch (N, ...) of at least 2 dimensions, got shape {x.shape}")
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: Any) -> Any:
        shape = None if self.x_shape is None else (self.x_shape[0], self.output_shape(self.x_shape[1:])[0])
        return check_dout(self, dout, shape).reshape(self.x_shape)
