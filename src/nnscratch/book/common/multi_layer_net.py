"""The book's common/multi_layer_net.py: nnscratch's MultiLayerNet (ch. 6) with the book's API."""
from __future__ import annotations

from typing import Any, Sequence

from ...models import zoo
from ..network import BookNet, adopt


class MultiLayerNet(BookNet, zoo.MultiLayerNet):
    """MultiLayerNet(input_size, hidden_size_list, output_size, activation='relu', weight_init_std='relu',
    weight_decay_lambda=0): 'Affine1', 'Activation_function1', ..., W1.. b1..; float64 like the book."""

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int, activation: str = "relu",
                 weight_init_std: Any = "relu", weight_decay_lambda: float = 0, *, seed: Any = None,
                 dtype: Any = "float64") -> None:
        zoo.MultiLayerNet.__init__(self, input_size, hidden_size_list, output_size, activation, weight_init_std,
                                   weight_decay_lambda, seed=seed, dtype=dtype)
        adopt(self, "Activation_function")


__all__ = ["MultiLayerNet"]
