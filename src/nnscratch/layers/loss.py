"""Output layers with their loss (ch. 5.6.3): SoftmaxWithLoss and MeanSquaredLoss.

Loss layers take the targets too: ``forward(x, t) -> float`` and ``backward(dout=1.0) -> dx``;
``y`` holds the last output (softmax probabilities, or the scores themselves for MSE).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend, functions
from ..step import Diverged
from ..validation import check_number
from .base import Layer, float_input


def _check_finite(layer: Layer, x: Any) -> None:
    if not bool(backend.xp.isfinite(x).all()):
        raise Diverged(f"{type(layer).__name__} got non-finite scores (NaN/inf)")


def _check_loss(layer: Layer, loss: float) -> float:
    if not math.isfinite(loss):
        raise Diverged(f"{type(layer).__name__} computed a non-finite loss ({loss})")
    return loss


class LossLayer(Layer):
    """A loss layer: ``forward(x, t) -> float``, ``backward(dout=1.0) -> dx``; ends a network.

    ``loss`` and ``y`` hold the last loss and output, ``t`` the last targets (None before forward).
    Non-finite scores or loss raise :class:`~nnscratch.step.Diverged` (a ValueError).
    """

    prefix = "loss"

    def __init__(self) -> None:
        super().__init__()
        self.loss: float | None = None
        self.y: Any = None
        self.t: Any = None

    def __call__(self, x: Any, t: Any, train: bool = True) -> float:  # type: ignore[override]
        return self.forward(x, t, train)


class SoftmaxWithLoss(LossLayer):
    """Softmax + cross-entropy (ch. 5.6.3): L = -1/N sum_n log softmax(x)[n, t_n]; dx = (y - t) / N.

    ``t``: integer labels (N,) or one-hot (N, C) (a single sample (C,) works too); ``y`` holds the
    probabilities and ``t`` the label indices. The loss comes from log_softmax, so it is finite.

    ``label_smoothing`` eps (beyond the book; torch.nn.CrossEntropyLoss's ``label_smoothing``): the
    target becomes q = (1 - eps) one_hot(t) + eps / C, so L = -1/N sum_n sum_c q[n, c] log y[n, c]
    and dx = (y - q) / N. 0 (the default) is the book's loss, computed exactly as before.
    """

    _x_shape: tuple[int, ...] | None = None

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = check_number("label_smoothing", label_smoothing, 0.0, 1.0, hi_open=True)

    def get_config(self) -> dict[str, Any]:
        return {"label_smoothing": self.label_smoothing} if self.label_smoothing else {}

    def forward(self, x: Any, t: Any, train: bool = True) -> float:  # type: ignore[override]
        xp = backend.xp
        x = float_input(x)
        x_shape = x.shape
        x, t = functions._batchify(x, t)
        if x.shape[0] == 0:
            raise ValueError(f"SoftmaxWithLoss got an empty batch of shape {x_shape}")
        _check_finite(self, x)
        labels = functions._as_label_indices(t, x.shape[0], x.shape[1])
        n = x.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):  # reported as Diverged just below
            logp = functions.log_softmax(x)
        ce = -float(logp[xp.arange(n), labels].sum()) / n
        if self.label_smoothing:  # (1 - eps) * the book's loss + eps * the mean over classes of -log y
            eps = self.label_smoothing
            ce = (1.0 - eps) * ce - eps * float(logp.sum()) / (n * logp.shape[1])
        loss = _check_loss(self, ce)
        self.y, self.t, self.loss, self._x_shape = xp.exp(logp), labels, loss, x_shape
        return loss

    def backward(self, dout: Any = 1.0) -> Any:
        if self.y is None:
            raise RuntimeError("SoftmaxWithLoss.backward called before SoftmaxWithLoss.forward")
        n = self.y.shape[0]
        dx = self.y.copy()
        if self.label_smoothing:  # minus the smoothed target q
            dx[backend.xp.arange(n), self.t] -= 1.0 - self.label_smoothing
            dx -= self.label_smoothing / dx.shape[1]
        else:
            dx[backend.xp.arange(n), self.t] -= 1
        dx *= dout / n
        return dx.reshape(self._x_shape)


class MeanSquaredLoss(LossLayer):
    """Identity output + mean squared error (ch. 4.2.1): L = 1/2 sum (y - t)^2 / N; dx = (y - t) / N.

    ``t`` has the scores' shape; integer labels (N,) for scores (N, C) are one-hot encoded.
    N is the batch size (1 for a single 1-D sample), as in functions.mean_squared_error.
    """

    _diff: Any = None
    _n = 1

    def forward(self, x: Any, t: Any, train: bool = True) -> float:  # type: ignore[override]
        xp = backend.xp
        x = float_input(x)
        t = xp.asarray(t)
        if t.shape != x.shape:
            if not (x.ndim == 2 and t.ndim == 1):
                raise ValueError(f"MeanSquaredLoss: scores have shape {x.shape} but targets have shape {t.shape}")
            labels = functions._as_label_indices(t, x.shape[0], x.shape[1])
            t = xp.zeros_like(x)
            t[xp.arange(x.shape[0]), labels] = 1
        _check_finite(self, x)
        t = t.astype(x.dtype, copy=False)
        self._n = x.shape[0] if x.ndim > 1 else 1
        if self._n == 0:
            raise ValueError(f"MeanSquaredLoss got an empty batch of shape {x.shape}")
        self._diff = x - t
        loss = _check_loss(self, 0.5 * float(xp.sum(self._diff * self._diff)) / self._n)
        self.y, self.t, self.loss = x, t, loss
        return loss

    def backward(self, dout: Any = 1.0) -> Any:
        if self._diff is None:
            raise RuntimeError("MeanSquaredLoss.backward called before MeanSquaredLoss.forward")
        return self._diff * (dout / self._n)
