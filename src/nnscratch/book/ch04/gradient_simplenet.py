"""The book's ch04/gradient_simplenet.py: ``simpleNet`` (ch. 4.4.2), nnscratch's SimpleNet in float64."""
from __future__ import annotations

from typing import Any

from ...models.booknets import SimpleNet


class simpleNet(SimpleNet):  # noqa: N801 - the book's name
    """simpleNet(): W ~ N(0, 1) of shape 2x3, float64; predict(x), loss(x, t), ``net.W``."""

    def __init__(self, W: Any = None, *, seed: Any = None, dtype: Any = "float64") -> None:
        super().__init__(W, seed=seed, dtype=dtype)


__all__ = ["simpleNet"]
