"""The book's common/util.py: smooth_curve, shuffle_dataset, conv_output_size, im2col, col2im (nnscratch's)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...datasets.utils import shuffle_dataset as _shuffle_dataset
from ...datasets.utils import smooth_curve
from ...layers.im2col import col2im, im2col


def shuffle_dataset(x: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle x and t together (ch. 6.5), drawing from NumPy's global generator like the book."""
    return _shuffle_dataset(x, t, seed=np.random.randint(2**31))


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> float:
    """(input_size + 2 pad - filter_size) / stride + 1 (ch. 7.2.4), a float as in the book."""
    return (input_size + 2 * pad - filter_size) / stride + 1


__all__ = ["col2im", "conv_output_size", "im2col", "shuffle_dataset", "smooth_curve"]
