"""The book's common/layers.py: nnscratch's layers with the book's signatures (ch. 5-7).

Each class here is a thin subclass of nnscratch's layer (not registered as a model layer of its own, so
model files still name the nnscratch class): ``forward(x, train_flg=True)``, the gradients also as
``dW``/``db``/``dgamma``/``dbeta``, weights assignable (``layer.W = W`` copies into the array the network
holds, or rebinds it when the shape changes), a scalar bias (``Convolution(w, 0)``), labels as a column
(N, 1), the book's non-inverted Dropout and its Pooling stride default of 1.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import layers as nn
from ...layers.base import Layer
from ...step import Diverged
from .functions import *  # noqa: F401,F403  (the book's module exports its functions too)
from .functions import column_labels, cross_entropy_error, softmax
from .util import col2im, im2col  # noqa: F401


def assign(layer: Layer, key: str, value: Any, store: str = "params") -> None:
    """``layer.W = value``: copied into the existing array when the shape matches, else rebound."""
    arrays = getattr(layer, store)
    value = np.asarray(value)
    dst = arrays.get(key)
    if dst is not None and value is not dst and value.shape == dst.shape and dst.flags.writeable:
        dst[...] = value
    elif dst is None or value is not dst:
        arrays[key] = value.astype(dst.dtype if dst is not None else value.dtype, copy=True)
        if store == "params":
            layer.grads[key] = np.zeros_like(arrays[key])


class BookLayer(Layer):
    """``forward(x, train_flg=True)``: the book's keyword (nnscratch's ``train=`` is accepted too)."""

    registered = False

    def forward(self, x: Any, train_flg: bool = True, train: bool | None = None) -> Any:
        return super().forward(x, train_flg if train is None else train)


class _Weights(BookLayer):
    """W, b (read and assign) and their gradients dW, db."""

    W = property(lambda self: self.params["W"], lambda self, v: assign(self, "W", v))
    b = property(lambda self: self.params["b"], lambda self, v: assign(self, "b", v))
    dW = property(lambda self: self.grads["W"])
    db = property(lambda self: self.grads["b"])


def _bias(b: Any, n: int, dtype: Any) -> np.ndarray:
    b = np.asarray(b, dtype=dtype)
    return np.full(n, b, dtype=dtype) if b.ndim == 0 else b


class Relu(BookLayer, nn.Relu):
    """The book's Relu (ch. 5.5.1)."""


class Sigmoid(BookLayer, nn.Sigmoid):
    """The book's Sigmoid (ch. 5.5.2)."""


class Affine(_Weights, nn.Affine):
    """The book's Affine(W, b) (ch. 5.6); b may be a scalar."""

    def __init__(self, W: Any, b: Any) -> None:
        W = np.asarray(W)
        super().__init__(W, _bias(b, W.shape[-1], W.dtype if W.dtype.kind == "f" else np.float64))


class Convolution(_Weights, nn.Convolution):
    """The book's Convolution(W, b, stride=1, pad=0) (ch. 7.2); b may be a scalar (ch07/apply_filter.py)."""

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0) -> None:
        W = np.asarray(W)
        super().__init__(W, _bias(b, W.shape[0], W.dtype if W.dtype.kind == "f" else np.float64), stride, pad)


class Pooling(BookLayer, nn.Pooling):
    """The book's max Pooling(pool_h, pool_w, stride=1, pad=0) (ch. 7.3): the stride defaults to 1 there."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        super().__init__(pool_h, pool_w, stride, pad)


class Dropout(BookLayer, nn.Dropout):
    """The book's Dropout (ch. 6.4.3): train x * mask, test x * (1 - dropout_ratio) (not inverted)."""

    def __init__(self, dropout_ratio: float = 0.5) -> None:
        super().__init__(dropout_ratio, inverted=False)


class BatchNormalization(BookLayer, nn.BatchNormalization):
    """The book's BatchNormalization(gamma, beta, momentum=0.9, running_mean=None, running_var=None) (ch. 6.3),
    with its eps of 10e-7."""

    def __init__(self, gamma: Any, beta: Any, momentum: float = 0.9, running_mean: Any = None,
                 running_var: Any = None) -> None:
        super().__init__(gamma, beta, momentum=momentum, eps=10e-7, running_mean=running_mean,
                         running_var=running_var)

    gamma = property(lambda self: self.params["gamma"], lambda self, v: assign(self, "gamma", v))
    beta = property(lambda self: self.params["beta"], lambda self, v: assign(self, "beta", v))
    dgamma = property(lambda self: self.grads["gamma"])
    dbeta = property(lambda self: self.grads["beta"])


class SoftmaxWithLoss(nn.SoftmaxWithLoss):
    """The book's SoftmaxWithLoss (ch. 5.6.3): ``forward(x, t)``, t one-hot, labels, or labels as (N, 1)."""

    registered = False

    def forward(self, x: Any, t: Any, train: bool = True) -> Any:
        t = column_labels(t, np.shape(x)[-1])
        try:
            return super().forward(x, t, train)
        except Diverged:  # the book's layer carries NaN/inf on (ch06/batch_norm_test.py's w = 1 runs do)
            x = np.asarray(x)
            with np.errstate(all="ignore"):
                self.y = softmax(x.reshape(len(x), -1) if x.ndim > 1 else x[None])
                self.t = np.asarray(t).argmax(axis=-1) if np.ndim(t) == self.y.ndim else np.asarray(t).reshape(-1)
                self.loss = float(cross_entropy_error(self.y, self.t))
            self._x_shape = x.shape
            return self.loss


#: nnscratch layer class -> its book adapter (for turning a zoo network into the book's)
ADAPTERS: dict[type, type] = {nn.Relu: Relu, nn.Sigmoid: Sigmoid, nn.Affine: Affine, nn.Convolution: Convolution,
                              nn.Pooling: Pooling, nn.MaxPooling: Pooling, nn.Dropout: Dropout,
                              nn.BatchNormalization: BatchNormalization, nn.SoftmaxWithLoss: SoftmaxWithLoss,
                              nn.Tanh: type("Tanh", (BookLayer, nn.Tanh), {"__doc__": "Tanh (book-style)."})}
