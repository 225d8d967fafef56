"""The book's common/functions.py: nnscratch's functions (ch. 3-4) under the book's names."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...functions import (identity_function, mean_squared_error, relu, relu_grad, sigmoid, sigmoid_grad,  # noqa: F401
                          softmax, step_function)
from ...functions import cross_entropy_error as _cross_entropy_error


def column_labels(t: Any, n_classes: int | None = None) -> Any:
    """Labels given as a column (N, 1) (as in ch07/gradient_check.py) become (N,); anything else is kept."""
    t = np.asarray(t)
    if t.ndim == 2 and t.shape[1] == 1 and n_classes != 1:
        return t.reshape(-1)
    return t


def cross_entropy_error(y: Any, t: Any) -> Any:
    """Cross-entropy (ch. 4.2.4) of probabilities y against one-hot or label t (labels may be (N, 1))."""
    y = np.asarray(y)
    return _cross_entropy_error(y, column_labels(t, y.shape[-1]))


def softmax_loss(X: Any, t: Any) -> Any:
    """cross_entropy_error(softmax(X), t)."""
    return cross_entropy_error(softmax(X), t)

# no __all__: `from common.functions import *` gives the book's readers np as well, as the book's module does
