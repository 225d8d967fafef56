"""Preprocess: a fitted preprocessing step (ch. 3.6.2-3.6.3) as the first layer of a model.

Carrying the training data's statistics inside the network means a saved model applies them
itself: ``evaluate`` and ``predict`` feed it raw images, exactly as they were fed in training.
The arrays are buffers (saved, never trained); see :mod:`nnscratch.preprocessing`.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from ..preprocessing import Preprocessor, apply_affine
from .base import Layer, check_dout, float_input

__all__ = ["Preprocess"]


class Preprocess(Layer):
    """``y = (x - mean) * scale`` or ``y = (x - mean) @ matrix`` over flattened samples; no parameters.

    ``dx = dout * scale`` or ``dout @ matrix^T`` (reshaped like x); a following layer that skips its
    input gradient (the first Convolution does) hands back None, and so does this one.
    ``config`` records how the arrays were fitted (e.g. ``{"method": "whiten", "kind": "zca", "epsilon": 1e-05}``).
    """

    prefix = "preprocess"

    def __init__(self, mean: Any, scale: Any = None, matrix: Any = None, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        if (scale is None) == (matrix is None):
            raise ValueError("Preprocess needs exactly one of scale (element-wise) or matrix (whitening)")
        xp = backend.xp
        mean = float_input(mean)
        arrays = {"mean": mean, "scale": scale, "matrix": matrix}
        self.buffers = {k: xp.asarray(v).astype(mean.dtype) for k, v in arrays.items() if v is not None}
        d = mean.shape[0] if mean.ndim == 1 else -1
        if mean.ndim != 1 or (scale is not None and self.buffers["scale"].shape != (d,)) or (
                matrix is not None and (self.buffers["matrix"].ndim != 2 or self.buffers["matrix"].shape[0] != d)):
            raise ValueError(f"Preprocess: mean must be (D,), scale (D,) or matrix (D, k); got mean {mean.shape}, "
                             f"scale {None if scale is None else xp.asarray(scale).shape}, "
                             f"matrix {None if matrix is None else xp.asarray(matrix).shape}")
        self.config = dict(config or {})
        self._x_shape: tuple[int, ...] | None = None
        self._y_shape: tuple[int, ...] | None = None

    @classmethod
    def from_preprocessor(cls, pre: Preprocessor, dtype: Any = None) -> "Preprocess":
        """The layer of a fitted preprocessor, its arrays cast to ``dtype`` (default float32)."""
        if not pre.fitted:
            raise ValueError(f"{type(pre).__name__} must be fitted on the training data before it becomes a layer")
        dt = backend.as_dtype(dtype) if dtype is not None else backend.default_dtype()
        return cls(**{k: v.astype(dt) for k, v in pre.arrays().items()}, config=pre.get_config())

    def get_config(self) -> dict[str, Any]:
        return {"config": self.config}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        matrix = self.buffers.get("matrix")
        if matrix is not None and matrix.shape[1] != matrix.shape[0]:
            return (int(matrix.shape[1]),)
        return tuple(input_shape)

    def forward(self, x: Any, train: bool = True) -> Any:
        x = float_input(x, self.buffers["mean"].dtype)
        y = apply_affine(x, self.buffers["mean"], self.buffers.get("scale"), self.buffers.get("matrix"))
        self._x_shape, self._y_shape = x.shape, y.shape
        return y

    def backward(self, dout: Any) -> Any:
        if dout is None:
            return None
        dout = check_dout(self, dout, self._y_shape)
        flat = dout.reshape(dout.shape[0], -1)
        if "scale" in self.buffers:
            return (flat * self.buffers["scale"]).reshape(self._x_shape)
        return (flat @ self.buffers["matrix"].T).reshape(self._x_shape)
