"""The book's ch04/two_layer_net.py: the sigmoid TwoLayerNet of ch. 4.5 (nnscratch's SigmoidTwoLayerNet)."""
from __future__ import annotations

from typing import Any

from ...models.booknets import SigmoidTwoLayerNet
from ..network import BookNet


class TwoLayerNet(BookNet, SigmoidTwoLayerNet):
    """TwoLayerNet(input_size, hidden_size, output_size, weight_init_std=0.01): float64; ``predict`` gives
    the scores before softmax (the book returns softmax of them: the same arg-max; ``loss`` and ``accuracy``
    are the book's); ``numerical_gradient`` (ch. 4.4) and ``gradient`` (backprop, ch. 5) to compare."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, weight_init_std: Any = 0.01,
                 *, seed: Any = None, dtype: Any = "float64") -> None:
        SigmoidTwoLayerNet.__init__(self, input_size, hidden_size, output_size, weight_init_std, seed, dtype)


__all__ = ["TwoLayerNet"]
