"""The computational-graph nodes of ch. 5.4: a multiply node and an add node with two inputs.

They work on scalars or arrays alike and do not follow the one-input Layer contract (their
``forward`` takes two operands, as in the book), so they are not registered as model layers.
"""
from __future__ import annotations

from typing import Any


class MulLayer:
    """Multiply node (ch. 5.4.1): out = x * y; backward gives (dout * y, dout * x), the swapped inputs."""

    def __init__(self) -> None:
        self.x: Any = None
        self.y: Any = None

    def forward(self, x: Any, y: Any) -> Any:
        self.x, self.y = x, y
        return x * y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        if self.x is None:
            raise RuntimeError("MulLayer.backward called before MulLayer.forward")
        return dout * self.y, dout * self.x


class AddLayer:
    """Add node (ch. 5.4.2): out = x + y; backward passes dout unchanged to both inputs."""

    def __init__(self) -> None:
        self.called = False

    def forward(self, x: Any, y: Any) -> Any:
        self.called = True
        return x + y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        if not self.called:
            raise RuntimeError("AddLayer.backward called before AddLayer.forward")
        return dout * 1, dout * 1


__all__ = ["AddLayer", "MulLayer"]
