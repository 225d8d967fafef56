"""The book's ch05/two_layer_net.py: nnscratch's TwoLayerNet (Affine - ReLU - Affine) with the book's API."""
from __future__ import annotations

from typing import Any

from ...models import zoo
from ..network import BookNet, adopt


class TwoLayerNet(BookNet, zoo.TwoLayerNet):
    """TwoLayerNet(input_size, hidden_size, output_size, weight_init_std=0.01) (ch. 5.7.2); float64 like
    the book unless ``dtype`` says otherwise; layers 'Affine1', 'Relu1', 'Affine2', ``lastLayer``."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, weight_init_std: Any = 0.01,
                 *, seed: Any = None, dtype: Any = "float64") -> None:
        zoo.TwoLayerNet.__init__(self, input_size, hidden_size, output_size, weight_init_std, seed=seed, dtype=dtype)
        adopt(self)


__all__ = ["TwoLayerNet"]
