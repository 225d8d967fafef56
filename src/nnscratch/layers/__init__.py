"""Layers with forward/backward (ch. 5-7), all following the contract of :mod:`.base`."""
from __future__ import annotations

from .activations import Relu, Sigmoid, Tanh
from .base import LAYER_REGISTRY, Layer, layer_from_config
from .dense import Affine
from .dropout import Dropout
from .loss import MeanSquaredLoss, SoftmaxWithLoss
from .normalization import BatchNormalization
from .conv import Convolution
from .pooling import AveragePooling, MaxPooling, Pooling
from .flatten import Flatten
from .fold import fold_relus
from .im2col import col2im, im2col
from .preprocess import Preprocess
from .naive import AddLayer, MulLayer

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
    "Convolution",
    "Pooling",
    "MaxPooling",
    "AveragePooling",
    "Flatten",
    "fold_relus",
    "im2col",
    "col2im",
    "Preprocess",
    "MulLayer",
    "AddLayer",
]
