"""Pure functions of chapters 3-4: activations, softmax, losses. No state.

All are overflow-safe: sigmoid and softmax stay finite at |x| = 1000, cross-entropy at p = 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import backend
from .validation import check_int, check_labels


def step_function(x: Any) -> Any:
    """Step function (ch. 3.2.2): h(x) = 1 if x > 0 else 0, as an int array like the book."""
    return (backend.xp.asarray(x) > 0).astype(np.int64)


def sigmoid(x: Any) -> Any:
    """Sigmoid (ch. 3.2.4): 1 / (1 + exp(-x)), computed without overflow for any |x|.

    Uses exp(-|x|) so the exponent is never positive: x >= 0 -> 1/(1+e), x < 0 -> e/(1+e).
    """
    xp = backend.xp
    x = xp.asarray(x)
    if not xp.issubdtype(x.dtype, xp.floating):
        x = x.astype(backend.default_dtype())
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def sigmoid_grad(x: Any) -> Any:
    """Derivative of the sigmoid: s(x) (1 - s(x)) (ch. 5.5.2)."""
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x: Any) -> Any:
    """ReLU (ch. 3.2.7): max(0, x)."""
    return backend.xp.maximum(x, 0)


def relu_grad(x: Any) -> Any:
    """Derivative of ReLU: 1 where x > 0, else 0."""
    x = backend.xp.asarray(x)
    return (x > 0).astype(x.dtype if backend.xp.issubdtype(x.dtype, backend.xp.floating) else backend.default_dtype())


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return backend.xp.tanh(x)


def identity_function(x: Any) -> Any:
    """Identity (ch. 3.5): the output layer of regression, y = x."""
    return x


def softmax(x: Any) -> Any:
    """Softmax (ch. 3.5.2) over the last axis: exp(a - max a) / sum exp(a - max a).

    Subtracting the row maximum keeps exp() from overflowing; rows sum to 1.
    """
    xp = backend.xp
    x = xp.asarray(x)
    if not xp.issubdtype(x.dtype, xp.floating):
        x = x.astype(backend.default_dtype())
    shifted = x - x.max(axis=-1, keepdims=True)
    e = xp.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: Any) -> Any:
    """log(softmax(x)) computed as (x - max) - log(sum exp(x - max)): finite for any finite x."""
    xp = backend.xp
    x = xp.asarray(x)
    if not xp.issubdtype(x.dtype, xp.floating):
        x = x.astype(backend.default_dtype())
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def mean_squared_error(y: Any, t: Any) -> Any:
    """Mean squared error (ch. 4.2.1), the book's form: E = 1/2 * sum (y - t)^2.

    For a batch, the sum is divided by the batch size like cross_entropy_error.
    """
    xp = backend.xp
    y = xp.asarray(y)
    t = xp.asarray(t)
    if y.shape != t.shape:
        raise ValueError(f"mean_squared_error: y has shape {y.shape} but t has shape {t.shape}")
    batch = y.shape[0] if y.ndim > 1 else 1
    return 0.5 * xp.sum((y - t) ** 2) / batch


def _as_label_indices(t: Any, n_rows: int, n_classes: int) -> Any:
    """Labels as int indices: accepts integer labels (N,) or one-hot (N, C); validates both
    (:func:`~nnscratch.validation.check_labels`: rank, integer-ness, length, range, one-hot width)."""
    return backend.xp.asarray(check_labels("t", t, n_rows, n_classes))


def _batchify(y: Any, t: Any) -> tuple[Any, Any]:
    """A single sample (C,) with a label (scalar) or one-hot (C,) becomes a batch of one."""
    xp = backend.xp
    y, t = xp.asarray(y), xp.asarray(t)
    if y.ndim == 1:
        y = y.reshape(1, -1)
        if t.ndim == 1 and t.size == y.shape[1] and t.size > 1:
            t = t.reshape(1, -1)  # one-hot row
        elif t.size == 1 and t.ndim <= 1:
            t = t.reshape(1)  # a single label
        else:
            raise ValueError(
                f"for a single sample of {y.shape[1]} scores, t must be one label or a one-hot vector "
                f"of length {y.shape[1]}, got shape {t.shape}"
            )
    elif y.ndim != 2:
        raise ValueError(f"expected scores of shape (N, C) or (C,), got {y.shape}")
    return y, t


def cross_entropy_error(y: Any, t: Any) -> Any:
    """Cross-entropy (ch. 4.2.2-4.2.4): E = -1/N * sum_n log y[n, t_n].

    ``y`` holds probabilities (one sample or a batch); ``t`` is one-hot or integer labels.
    Probabilities are clipped at the smallest positive normal number so log(0) stays finite.
    """
    xp = backend.xp
    y, t = _batchify(y, t)
    n = y.shape[0]
    labels = _as_label_indices(t, n, y.shape[1])
    tiny = np.finfo(y.dtype).tiny if np.issubdtype(y.dtype, np.floating) else 1e-300
    picked = y[xp.arange(n), labels]
    return -xp.sum(xp.log(xp.maximum(picked, tiny))) / n


def softmax_cross_entropy(x: Any, t: Any) -> Any:
    """Cross-entropy of softmax(x) from the scores x, via log_softmax: exact and finite."""
    xp = backend.xp
    x, t = _batchify(x, t)
    labels = _as_label_indices(t, x.shape[0], x.shape[1])
    logp = log_softmax(x)
    return -logp[xp.arange(x.shape[0]), labels].sum() / x.shape[0]


def one_hot(labels: Any, num_classes: int = 10, dtype: Any = None) -> Any:
    """One-hot encoding (ch. 3.6.1): row n has a 1 at column labels[n]."""
    xp = backend.xp
    num_classes = check_int("num_classes", num_classes, 1)
    labels = xp.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"one_hot expects 1-D labels, got shape {labels.shape}")
    idx = _as_label_indices(labels, labels.shape[0], num_classes)
    out = xp.zeros((labels.shape[0], num_classes), dtype=dtype if dtype is not None else backend.default_dtype())
    out[xp.arange(labels.shape[0]), idx] = 1
    return out
