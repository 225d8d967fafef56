"""Fast kernels behind the ch. 7 layers: pure functions over backend arrays (NumPy today, CuPy later).

A layer calls one function per direction and keeps what forward returns for backward::

    out, saved = conv2d_forward(x, W, b, stride, pad, workspace=ws)     # Convolution.forward
    dx, dW, db = conv2d_backward(dout, saved, W, input_grad=True, workspace=ws)
    out, saved = pool2d_forward(x, 2, 2, stride=2, mode="max")          # Pooling.forward
    dx = pool2d_backward(dout, saved)

Arrays are NCHW-shaped at the interface; results are views of channels-last memory, which the
next kernel reads without a transposition (:func:`channels_last` tells whether an array is so).
"""
from __future__ import annotations

from typing import Any

from .conv import ConvSaved, conv2d_backward, conv2d_forward
from .blas import gemm
from .pool import PoolSaved, pool2d_backward, pool2d_forward
from .workspace import Workspace


def channels_last(x: Any) -> bool:
    """True when the NCHW-shaped ``x`` keeps each pixel's C channels side by side in memory (channels
    innermost: NHWC, or the (H, W, N, C) order of a stride-1 convolution), as every kernel result does."""
    return x.ndim == 4 and (x.shape[1] == 1 or x.strides[1] == x.dtype.itemsize)


__all__ = ["ConvSaved", "PoolSaved", "Workspace", "channels_last", "conv2d_backward", "conv2d_forward",
           "gemm", "pool2d_backward", "pool2d_forward"]
