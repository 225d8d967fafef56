"""The book's dataset helpers (common/util.py): shuffle, validation split (ch. 6.5.1), mini-batches (ch. 4.2.3), one-hot, smooth_curve.

Host-side NumPy; every random choice takes a seed or a ``numpy.random.Generator``.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import backend
from ..validation import check_int, check_number


def _check_pair(x: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0:
        raise ValueError("x and t must be arrays with a sample axis first, got a scalar")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but t has {t.shape[0]}; they must match")
    return x, t


def shuffle_dataset(x: Any, t: Any,
                    seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle samples and labels with one permutation, keeping pairs aligned (book's common/util.py)."""
    x, t = _check_pair(x, t)
    perm = backend.rng(seed).permutation(x.shape[0])
    return x[perm], t[perm]


def train_val_split(x: Any, t: Any, val_ratio: float = 0.2, seed: int | np.random.Generator | None = None
                    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle, then hold out the first ``val_ratio`` of the samples (ch. 6.5.1).

    Returns ((x_train, t_train), (x_val, t_val)); the validation part has int(N * val_ratio) samples.
    """
    x, t = _check_pair(x, t)
    val_ratio = check_number("val_ratio", val_ratio, 0.0, 1.0, hi_open=True)
    x, t = shuffle_dataset(x, t, seed)
    n_val = int(x.shape[0] * val_ratio)
    return (x[n_val:], t[n_val:]), (x[:n_val], t[:n_val])


def iterate_minibatches(x: Any, t: Any, batch_size: int, shuffle: bool = True,
                        seed: int | np.random.Generator | None = None, drop_last: bool = False
                        ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of (x_batch, t_batch): a single permutation, every sample once (ch. 4.2.3).

    Pass one ``numpy.random.Generator`` across epochs to get a fresh order each epoch, reproducibly.
    """
    x, t = _check_pair(x, t)
    batch_size = check_int("batch_size", batch_size, 1)
    n = x.shape[0]
    order = backend.rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield x[start:start + batch_size], t[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            yield x[idx], t[idx]


def to_one_hot(labels: Any, num_classes: int = 10, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encoding (ch. 3.6.1) as a NumPy array: row n has a 1 at column labels[n]."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"to_one_hot expects 1-D labels, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"labels must be integers, got dtype {labels.dtype} with fractional values")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], got {labels.min()} to {labels.max()}")
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels.astype(np.intp, copy=False)] = 1
    return out


def smooth_curve(x: Any, window_len: int = 11, beta: float = 2.0) -> np.ndarray:
    """The book's ``smooth_curve`` (common/util.py): a Kaiser-window moving average, same length as x.

    The ends are padded by reflection so the curve keeps its length; ``window_len`` must be odd.
    """
    x = np.asarray(x, dtype=np.float64)
    if window_len % 2 == 0 or window_len < 1:
        raise ValueError(f"window_len must be a positive odd int, got {window_len}")
    if len(x) < window_len:
        return x.copy()
    half = window_len // 2
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, beta)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[half:len(y) - half]
