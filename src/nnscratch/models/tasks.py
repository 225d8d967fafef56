"""What a model is for: classification (accuracy) or regression (RMSE, R^2), and its preprocessing.

Regression (回帰 / 回归, ch. 3.5): the identity output function with the squared error (ch. 4.2.1),
i.e. a ``Sequential`` ending in :class:`~nnscratch.layers.MeanSquaredLoss` fitted to real-valued
targets. Its score is not an accuracy (the arg-max of one output is always 0) but the root mean
squared error ``RMSE = sqrt(mean((y - t)^2))`` and the coefficient of determination
``R^2 = 1 - sum((y - t)^2) / sum((t - mean(t))^2)`` (1 is a perfect fit, 0 is no better than the mean).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..layers import MeanSquaredLoss, Preprocess
from ..preprocessing import Preprocessor
from ..validation import check_choice, check_int

__all__ = ["TASKS", "model_task", "rmse", "r2_score", "regression_scores", "attach_preprocessing"]

TASKS = ("auto", "classification", "regression")


def model_task(model: Any, task: str = "auto") -> str:
    """'classification' or 'regression'; ``auto``: regression when the loss layer is MeanSquaredLoss.

    (A classifier trained with MSE on one-hot targets, as in ch. 4.2.1, says ``task="classification"``.)
    """
    task = check_choice("task", task, TASKS)
    if task != "auto":
        return task
    return "regression" if isinstance(getattr(model, "last_layer", None), MeanSquaredLoss) else "classification"


def _pair(y: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
    y = backend.to_numpy(y).astype(np.float64)
    t = backend.to_numpy(t).astype(np.float64).reshape(y.shape) if np.size(t) == np.size(y) else None
    if t is None or y.size == 0:
        raise ValueError(f"predictions {np.shape(y)} and targets must hold the same number of values, at least one")
    return y, t


def rmse(y: Any, t: Any) -> float:
    """Root mean squared error sqrt(mean((y - t)^2)) over every value."""
    y, t = _pair(y, t)
    return math.sqrt(float(np.mean((y - t) ** 2)))


def r2_score(y: Any, t: Any) -> float:
    """R^2 = 1 - SS_res / SS_tot (each output column against its own mean); nan if t is constant."""
    y, t = _pair(y, t)
    ss_tot = float(((t - t.mean(axis=0)) ** 2).sum())
    return 1.0 - float(((y - t) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")


def regression_scores(model: Any, x: Any, t: Any, batch_size: int = 1000) -> dict[str, float]:
    """{"rmse", "r2"} of ``model.predict`` (inference mode) on ``x`` against targets ``t``, in batches."""
    batch_size = check_int("batch_size", batch_size, 1)
    if len(x) != len(t):
        raise ValueError(f"regression_scores: {len(x)} inputs but {len(t)} targets")
    y = np.concatenate([backend.to_numpy(model.predict(x[i:i + batch_size], train=False))
                        for i in range(0, len(x), batch_size)])
    return {"rmse": rmse(y, t), "r2": r2_score(y, t)}


def attach_preprocessing(model: Any, pre: Preprocessor) -> Preprocess:
    """Put the fitted ``pre`` in front of ``model`` as layer "preprocess1" (replacing one already there).

    The model then takes raw inputs everywhere (training, ``predict``, a saved file's ``evaluate``).
    """
    layer = Preprocess.from_preprocessor(pre, dtype=model.dtype)
    rest = {k: v for k, v in model.layers.items() if not isinstance(v, Preprocess)}
    model.layers = {"preprocess1": layer, **rest}
    return layer
