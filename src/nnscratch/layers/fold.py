"""Folding a ReLU into the layer beside it (issue 13): one pass less over the activations.

Conv - ReLU - max Pool: max(0, pool(x)) = pool(max(0, x)) (max and ReLU are both monotone), with
the same gradient, so the pool applies the ReLU to its 4x smaller output. Conv - ReLU otherwise:
the convolution applies max(0, .) to each chunk of its output while it is in cache, and gates
dout by out > 0. The ReLU layer stays in the model (names, configs, model files and ONNX export
are unchanged) and passes through. Both the fast and the reference paths honour the flags.
"""
from __future__ import annotations

from typing import Sequence

from .activations import Relu
from .base import Layer
from .conv import Convolution
from .pooling import Pooling

__all__ = ["fold_relus"]


def fold_relus(layers: Sequence[Layer]) -> int:
    """Fold each ReLU that follows a Convolution into the max Pooling after it, else into the
    Convolution; returns how many were folded. Only layers on the fast path are folded."""
    folded = 0
    for i in range(1, len(layers)):
        relu, conv = layers[i], layers[i - 1]
        if type(relu) is not Relu or not isinstance(conv, Convolution) or not conv.fast or relu.folded:
            continue
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(nxt, Pooling) and nxt.mode == "max" and nxt.fast:
            nxt.relu = True
        else:
            conv.relu = True
        relu.folded = True
        folded += 1
    return folded
