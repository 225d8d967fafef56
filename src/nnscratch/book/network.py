"""What every network of the book offers, over an nnscratch Sequential: the book's names and methods.

:func:`adopt` turns a zoo network into the book's: layers renamed as the book names them ("Affine1",
"Relu1", "Conv1", "Pool1", "BatchNorm1", "Activation_function1", "Dropout1"), each layer given its book
adapter (:mod:`.common.layers`), parameters under ``W1``/``b1``/``gamma1``... (:class:`BookNet`).
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from .. import backend, book_pickle, fileio
from ..gradient import kink_safe_gradient
from ..layers import BatchNormalization, Dropout
from ..models.booknets import BookKeyed
from ..models.sequential import Sequential
from .common.functions import column_labels
from .common.layers import ADAPTERS

#: the book's prefix for each kind of layer
BOOK_PREFIX = {"Affine": "Affine", "Convolution": "Conv", "Pooling": "Pool", "MaxPooling": "Pool", "Relu": "Relu",
               "Sigmoid": "Sigmoid", "Tanh": "Tanh", "BatchNormalization": "BatchNorm", "Dropout": "Dropout"}
#: the float step of the book's numerical gradients here: the book's 1e-4 in float32/16, 1e-6 in float64
BOOK_STEP = {np.dtype("float64"): 1e-6}


def numerical_step(dtype: Any) -> float:
    """h for central differences: 1e-6 in float64, where the step straddles a ReLU kink or a max-pool tie
    100x less often than the book's 1e-4 (and :func:`~nnscratch.gradient.kink_safe_gradient` shrinks it
    where one still does), while round-off (~1e-16 / 1e-6) stays far below 1e-6; 1e-4 otherwise."""
    return BOOK_STEP.get(np.dtype(dtype), 1e-4)


def adopt(model: Sequential, activation_name: str | None = None) -> Sequential:
    """Rename ``model``'s layers as the book does and give each its book adapter, in place.

    ``activation_name``: MultiLayerNet calls its activations "Activation_function1", ...
    """
    counts: dict[str, int] = {}
    renamed: dict[str, Any] = {}
    for layer in model.layers.values():
        kind = type(layer).__name__
        prefix = BOOK_PREFIX.get(kind, kind)
        if activation_name and kind in ("Relu", "Sigmoid", "Tanh"):
            prefix = activation_name
        counts[prefix] = counts.get(prefix, 0) + 1
        renamed[f"{prefix}{counts[prefix]}"] = layer
        if isinstance(layer, Dropout):
            layer.inverted = False  # the book's Dropout scales at test time
        if isinstance(layer, BatchNormalization):
            layer.eps = 10e-7  # the book's
        layer.__class__ = ADAPTERS.get(type(layer), type(layer))
    model.last_layer.__class__ = ADAPTERS.get(type(model.last_layer), type(model.last_layer))
    model.layers = renamed
    model._book_init()  # type: ignore[attr-defined]
    return model


class BookNet(BookKeyed):
    """Mixin before a Sequential: the book's ``predict(x, train_flg=False)``, ``loss``, ``accuracy``,
    ``gradient``, ``numerical_gradient``, ``save_params``/``load_params``, ``lastLayer``, (N, 1) labels."""

    #: what ``loss`` does when train_flg is not given: None follows train()/eval() (nnscratch's rule)
    loss_train_flg: bool | None = None

    def predict(self, x: Any, train_flg: bool = False, train: bool | None = None) -> Any:
        return super().predict(x, train_flg if train is None else train)  # type: ignore[misc]

    def loss(self, x: Any, t: Any, train_flg: bool | None = None, train: bool | None = None) -> float:
        flag = train if train is not None else (train_flg if train_flg is not None else self.loss_train_flg)
        return super().loss(x, column_labels(t), flag)  # type: ignore[misc]

    def accuracy(self, x: Any, t: Any, batch_size: int = 100) -> float:
        return super().accuracy(x, column_labels(t), batch_size)  # type: ignore[misc]

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        return super().gradient(x, column_labels(t))  # type: ignore[misc]

    def numerical_gradient(self, x: Any, t: Any, h: float | None = None) -> dict[str, Any]:
        """Central differences of the training loss for every parameter (ch. 4.4; h: :func:`numerical_step`)."""
        step = numerical_step(self.dtype) if h is None else h  # type: ignore[attr-defined]
        t = column_labels(t)
        if np.dtype(self.dtype) != np.float64:  # type: ignore[attr-defined]
            return super().numerical_gradient(x, t, step)  # type: ignore[misc]

        def f(_: Any) -> float:
            return self.loss(x, t, train=True)

        return {k: kink_safe_gradient(f, p, step) for k, p in self.params.items()}

    @property
    def lastLayer(self) -> Any:  # noqa: N802 - the book's name
        return self.last_layer  # type: ignore[attr-defined]

    def save_params(self, file_name: str = "params.pkl") -> None:
        """The book's weight file: a pickle of {key: array}, readable by the book's code (written atomically)."""
        data = pickle.dumps({k: backend.to_numpy(v).copy() for k, v in self.params.items()})
        fileio.atomic_write_bytes(file_name, data)

    def load_params(self, file_name: str = "params.pkl") -> None:
        """Read the book's weight file safely (:mod:`nnscratch.book_pickle`) into this network, in place."""
        params = book_pickle.load_params(file_name)
        if unknown := sorted(set(params) - set(self.params)):
            raise ValueError(f"{file_name} holds {unknown}, which this network does not have ({', '.join(self.params)})")
        for key, value in params.items():
            self.params[key] = value  # type: ignore[index]


__all__ = ["BOOK_PREFIX", "BookNet", "adopt", "numerical_step"]
