"""The book's ch07/simple_convnet.py: nnscratch's SimpleConvNet with the book's API (ch. 7.5)."""
from __future__ import annotations

from typing import Any, Sequence

from ...models import zoo
from ..network import BookNet, adopt

_CONV = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}


class SimpleConvNet(BookNet, zoo.SimpleConvNet):
    """SimpleConvNet(input_dim=(1, 28, 28), conv_param=..., hidden_size=100, output_size=10,
    weight_init_std=0.01): 'Conv1', 'Relu1', 'Pool1', 'Affine1', 'Relu2', 'Affine2'; float64 like the book."""

    def __init__(self, input_dim: Sequence[int] = (1, 28, 28), conv_param: dict[str, int] | None = None,
                 hidden_size: int = 100, output_size: int = 10, weight_init_std: Any = 0.01,
                 *, seed: Any = None, dtype: Any = "float64") -> None:
        zoo.SimpleConvNet.__init__(self, input_dim, {**_CONV, **(conv_param or {})}, hidden_size, output_size,
                                   weight_init_std, seed=seed, dtype=dtype)
        adopt(self)


__all__ = ["SimpleConvNet"]
