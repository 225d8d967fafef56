"""Activation layers of ch. 5.5: ReLU, Sigmoid (and Tanh), each a forward/backward pair.

Parameter-free layers keep the input's float dtype (integer input becomes the default dtype)
and never modify their input or ``dout`` in place.
"""
from __future__ import annotations

from typing import Any

from .. import backend, functions
from .base import Layer, check_dout, float_input


class Relu(Layer):
    """ReLU layer (ch. 5.5.1): y = max(0, x); dx = dout where x > 0, else 0.

    ``mask`` is True where the unit passed (the book stores the opposite, x <= 0).
    """

    prefix = "relu"
    #: True when a model folded this ReLU into the Convolution or max Pooling beside it
    #: (layers.fold.fold_relus): that layer applies max(0, .), this one passes through
    folded: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.mask: Any = None

    def forward(self, x: Any, train: bool = True) -> Any:
        if self.folded:
            return x
        x = float_input(x)
        self.mask = x > 0
        return backend.xp.maximum(x, 0)

    def backward(self, dout: Any) -> Any:
        if self.folded:
            return dout
        dout = check_dout(self, dout, None if self.mask is None else self.mask.shape)
        return dout * self.mask  # a new array: dout is left untouched (the book zeroes it in place)


class Sigmoid(Layer):
    """Sigmoid layer (ch. 5.5.2): y = 1 / (1 + exp(-x)); dx = dout * y * (1 - y)."""

    prefix = "sigmoid"

    def __init__(self) -> None:
        super().__init__()
        self.out: Any = None

    def forward(self, x: Any, train: bool = True) -> Any:
        self.out = functions.sigmoid(float_input(x))
        return self.out

    def backward(self, dout: Any) -> Any:
        dout = check_dout(self, dout, None if self.out is None else self.out.shape)
        return dout * (1.0 - self.out) * self.out


class Tanh(Layer):
    """Tanh layer: y = tanh(x); dx = dout * (1 - y^2) (a sigmoid rescaled, cf. ch. 6.2)."""

    prefix = "tanh"

    def __init__(self) -> None:
        super().__init__()
        self.out: Any = None

    def forward(self, x: Any, train: bool = True) -> Any:
        self.out = backend.xp.tanh(float_input(x))
        return self.out

    def backward(self, dout: Any) -> Any:
        dout = check_dout(self, dout, None if self.out is None else self.out.shape)
        return dout * (1.0 - self.out * self.out)
