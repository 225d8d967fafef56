"""Dropout (ch. 6.4.3): randomly silence units while training, seeded for reproducibility."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..validation import check_number
from .base import Layer, check_dout, float_input


class Dropout(Layer):
    """Dropout (ch. 6.4.3): train y = x * mask (mask ~ Bernoulli(1 - p)); dx = dout * mask.

    inverted=True (default): kept units are scaled by 1/(1-p) at train, identity at test.
    inverted=False (the book): no scaling at train, y = x * (1 - p) at test.
    ``fixed_mask = True`` reuses the last mask when the shape matches (for gradient checks).
    """

    prefix = "dropout"

    def __init__(self, dropout_ratio: float = 0.5, inverted: bool = True,
                 seed: int | np.random.Generator | None = None) -> None:
        super().__init__()
        self.dropout_ratio = check_number("dropout_ratio", dropout_ratio, 0.0, 1.0, hi_open=True)
        self.inverted = bool(inverted)
        self.seed = seed
        self.fixed_mask: bool = False
        self.mask: Any = None  # True where the unit is kept
        self.reseed(seed)
        self._scale = 1.0  # what backward multiplies dout * mask by (train) or dout by (test)
        self._shape: tuple[int, ...] | None = None
        self._train = True

    def reseed(self, seed: int | list[int] | np.random.Generator | None) -> None:
        """Draw the masks from now on from ``seed`` (a Generator, or what np.random.default_rng takes)."""
        self._rng = backend.rng(seed)

    def forward(self, x: Any, train: bool = True) -> Any:
        x = float_input(x)
        self._shape, self._train = x.shape, train
        p = self.dropout_ratio
        if not train:
            self._scale = 1.0 if self.inverted else 1.0 - p
            return x if self.inverted else x * self._scale
        if not (self.fixed_mask and self.mask is not None and self.mask.shape == x.shape):
            self.mask = backend.xp.asarray(self._rng.random(x.shape, dtype=np.float32) >= p)
        self._scale = 1.0 / (1.0 - p) if self.inverted else 1.0
        out = x * self.mask
        if self._scale != 1.0:
            out *= x.dtype.type(self._scale)
        return out

    def backward(self, dout: Any) -> Any:
        dout = check_dout(self, dout, self._shape)
        if not self._train:
            return dout if self._scale == 1.0 else dout * self._scale
        dx = dout * self.mask
        if self._scale != 1.0:
            dx *= dx.dtype.type(self._scale)
        return dx

    def get_config(self) -> dict[str, Any]:
        seed = self.seed if isinstance(self.seed, (int, np.integer)) else None
        return {"dropout_ratio": self.dropout_ratio, "inverted": self.inverted,
                "seed": None if seed is None else int(seed)}
