"""Layers with forward/backward (ch. 5-7), all following the contract of :mod:`.base`."""
from __future__ import annotations

from .activations import Relu, Sigmoid, Tanh
from .base import LAYER_REGISTRY, Layer, layer_from_config
from .dense import Affine
from .dropout import Dropout
from .loss import MeanSquaredLoss, SoftmaxWithLoss
from .normalization import BatchNormalization

try:  # layers/conv.py is written in parallel; this guard goes once it lands
    from .conv import AveragePooling, Convolution, Flatten, MaxPooling, Pooling, col2im, im2col
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "LAYER_REGISTRY",
    "Layer",
    "layer_from_config",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Affine",
    "SoftmaxWithLoss",
    "MeanSquaredLoss",
    "Dropout",
    "BatchNormalization",
]
if "Convolution" in globals():
    __all__ += ["Convolution", "Pooling", "MaxPooling", "AveragePooling", "Flatten", "im2col", "col2im"]
