"""The book's networks, built from layers and Sequential (ch. 5, 6, 7, 8).

Each keeps the book's constructor keywords; extra keywords (``seed``, ``dtype``) make runs
reproducible and choose the precision.
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import backend
from ..initializers import init_weight
from ..layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from ..layers.base import Layer
from .sequential import Sequential

ACTIVATIONS: dict[str, type[Layer]] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


def activation_layer(name: str) -> Layer:
    """A fresh activation layer by name: 'relu', 'sigmoid' or 'tanh'."""
    try:
        return ACTIVATIONS[name.lower()]()
    except (KeyError, AttributeError):
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None


def _dense(n_in: int, n_out: int, init: Any, rng: Any, dtype: Any) -> Affine:
    xp = backend.xp
    return Affine(W=init_weight((n_in, n_out), init, rng=rng, dtype=dtype), b=xp.zeros(n_out, dtype=dtype))


def _conv(fn: int, c: int, size: int, init: Any, rng: Any, dtype: Any, stride: int = 1, pad: int = 0) -> Convolution:
    xp = backend.xp
    W = init_weight((fn, c, size, size), init, rng=rng, dtype=dtype)
    return Convolution(W=W, b=xp.zeros(fn, dtype=dtype), stride=stride, pad=pad)


def _batchnorm(n: int, dtype: Any) -> BatchNormalization:
    xp = backend.xp
    return BatchNormalization(gamma=xp.ones(n, dtype=dtype), beta=xp.zeros(n, dtype=dtype))


class TwoLayerNet(Sequential):
    """Affine - ReLU - Affine - SoftmaxWithLoss (ch. 5.7), weights N(0, weight_init_std^2)."""

    def __init__(
        self,
        input_size: int = 784,
        hidden_size: int = 50,
        output_size: int = 10,
        weight_init_std: Any = 0.01,
        seed: Any = None,
        dtype: Any = None,
    ) -> None:
        rng, dtype = backend.rng(seed), backend.as_dtype(dtype or backend.default_dtype())
        super().__init__(
            [
                _dense(input_size, hidden_size, weight_init_std, rng, dtype),
                Relu(),
                _dense(hidden_size, output_size, weight_init_std, rng, dtype),
            ],
            SoftmaxWithLoss(),
        )


class MultiLayerNet(Sequential):
    """Fully connected net of ch. 6 (the book's MultiLayerNet and MultiLayerNetExtend in one).

    Each hidden block is Affine [- BatchNormalization] - activation [- Dropout]; the output
    is Affine - SoftmaxWithLoss. ``weight_init_std`` is a float std, 'xavier'/'he', or an
    activation alias ('relu' -> He, 'sigmoid' -> Xavier) as in the book. The book's keyword
    ``dropout_ration`` (sic) is kept; ``dropout_ratio`` is accepted too.
    """

    def __init__(
        self,
        input_size: int = 784,
        hidden_size_list: Sequence[int] = (100, 100, 100, 100),
        output_size: int = 10,
        activation: str = "relu",
        weight_init_std: Any = "relu",
        weight_decay_lambda: float = 0.0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        dropout_ratio: float | None = None,
        seed: Any = None,
        dtype: Any = None,
    ) -> None:
        rng, dtype = backend.rng(seed), backend.as_dtype(dtype or backend.default_dtype())
        ratio = dropout_ration if dropout_ratio is None else dropout_ratio
        activation_layer(activation)  # validate the name before building anything
        layers: list[Layer] = []
        sizes = [input_size, *hidden_size_list]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(_dense(n_in, n_out, weight_init_std, rng, dtype))
            if use_batchnorm:
                layers.append(_batchnorm(n_out, dtype))
            layers.append(activation_layer(activation))
            if use_dropout:
                layers.append(Dropout(ratio, seed=int(rng.integers(2**31))))
        layers.append(_dense(sizes[-1], output_size, weight_init_std, rng, dtype))
        super().__init__(layers, SoftmaxWithLoss(), weight_decay_lambda=weight_decay_lambda)


MultiLayerNetExtend = MultiLayerNet


class SimpleConvNet(Sequential):
    """Conv - ReLU - Pool - Affine - ReLU - Affine - SoftmaxWithLoss (ch. 7.5)."""

    def __init__(
        self,
        input_dim: Sequence[int] = (1, 28, 28),
        conv_param: dict[str, int] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: Any = 0.01,
        seed: Any = None,
        dtype: Any = None,
    ) -> None:
        rng, dtype = backend.rng(seed), backend.as_dtype(dtype or backend.default_dtype())
        p = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1, **(conv_param or {})}
        c, h, w = input_dim
        conv = _conv(p["filter_num"], c, p["filter_size"], weight_init_std, rng, dtype, p["stride"], p["pad"])
        pool = Pooling(2, 2, stride=2)
        flat = 1
        for d in pool.output_shape(conv.output_shape((c, h, w))):
            flat *= d
        super().__init__(
            [
                conv,
                Relu(),
                pool,
                _dense(flat, hidden_size, weight_init_std, rng, dtype),
                Relu(),
                _dense(hidden_size, output_size, weight_init_std, rng, dtype),
            ],
            SoftmaxWithLoss(),
        )


DEEP_CONV_PARAMS = (
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


class DeepConvNet(Sequential):
    """The book's ch. 8.1 net: (conv-relu-conv-relu-pool) x 3 - affine-relu-dropout - affine-dropout.

    He initialisation from each layer's fan-in (computed from the weight shape, not hard-coded).
    """

    def __init__(
        self,
        input_dim: Sequence[int] = (1, 28, 28),
        conv_params: Sequence[dict[str, int]] = DEEP_CONV_PARAMS,
        hidden_size: int = 50,
        output_size: int = 10,
        dropout_ratio: float = 0.5,
        weight_init_std: Any = "he",
        seed: Any = None,
        dtype: Any = None,
    ) -> None:
        rng, dtype = backend.rng(seed), backend.as_dtype(dtype or backend.default_dtype())
        layers: list[Layer] = []
        shape = tuple(input_dim)
        for i, p in enumerate(conv_params):
            conv = _conv(p["filter_num"], shape[0], p["filter_size"], weight_init_std, rng, dtype, p["stride"], p["pad"])
            layers += [conv, Relu()]
            shape = conv.output_shape(shape)
            if i % 2 == 1:
                pool = Pooling(2, 2, stride=2)
                layers.append(pool)
                shape = pool.output_shape(shape)
        flat = 1
        for d in shape:
            flat *= d
        layers += [
            _dense(flat, hidden_size, weight_init_std, rng, dtype),
            Relu(),
            Dropout(dropout_ratio, seed=int(rng.integers(2**31))),
            _dense(hidden_size, output_size, weight_init_std, rng, dtype),
            Dropout(dropout_ratio, seed=int(rng.integers(2**31))),
        ]
        super().__init__(layers, SoftmaxWithLoss())
