"""The book's ch08/deep_convnet.py: nnscratch's DeepConvNet with the book's API and Dropout (ch. 8.1)."""
from __future__ import annotations

from typing import Any, Sequence

from ...models import zoo
from ..network import BookNet, adopt

_P = zoo.DEEP_CONV_PARAMS


class DeepConvNet(BookNet, zoo.DeepConvNet):
    """DeepConvNet(input_dim=(1, 28, 28), conv_param_1..6=..., hidden_size=50, output_size=10): He init,
    the book's non-inverted Dropout, ``load_params('deep_convnet_params.pkl')`` read safely; float64."""

    loss_train_flg = True  # the book's DeepConvNet.loss predicts with train_flg=True

    def __init__(self, input_dim: Sequence[int] = (1, 28, 28), conv_param_1: dict = _P[0], conv_param_2: dict = _P[1],
                 conv_param_3: dict = _P[2], conv_param_4: dict = _P[3], conv_param_5: dict = _P[4],
                 conv_param_6: dict = _P[5], hidden_size: int = 50, output_size: int = 10,
                 *, seed: Any = None, dtype: Any = "float64") -> None:
        params = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        zoo.DeepConvNet.__init__(self, input_dim, params, hidden_size, output_size, seed=seed, dtype=dtype)
        adopt(self)


__all__ = ["DeepConvNet"]
