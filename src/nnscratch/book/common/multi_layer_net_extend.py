"""The book's common/multi_layer_net_extend.py: MultiLayerNet with Dropout and Batch Normalization (ch. 6.3-6.4)."""
from __future__ import annotations

from typing import Any, Sequence

from ...models import zoo
from ..network import BookNet, adopt


class MultiLayerNetExtend(BookNet, zoo.MultiLayerNet):
    """MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation='relu', weight_init_std='relu',
    weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False): 'Affine1',
    'BatchNorm1', 'Activation_function1', 'Dropout1' ...; gamma1/beta1 keys; loss(x, t, train_flg=False)."""

    loss_train_flg = False  # the book's default for this network's loss

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int, activation: str = "relu",
                 weight_init_std: Any = "relu", weight_decay_lambda: float = 0, use_dropout: bool = False,
                 dropout_ration: float = 0.5, use_batchnorm: bool = False, *, seed: Any = None,
                 dtype: Any = "float64") -> None:
        zoo.MultiLayerNet.__init__(self, input_size, hidden_size_list, output_size, activation, weight_init_std,
                                   weight_decay_lambda, use_dropout, dropout_ration, use_batchnorm,
                                   seed=seed, dtype=dtype)
        adopt(self, "Activation_function")


__all__ = ["MultiLayerNetExtend"]
