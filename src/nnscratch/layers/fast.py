"""The one helper between the ch. 7 layers and :mod:`nnscratch.kernels` (issue 13).

:class:`Convolution` and :class:`Pooling` read like the book (im2col, one matrix product,
col2im); with ``fast = True`` (the default) they hand the same arithmetic to the kernels, which
never build a column matrix on stride 1 and keep activations channels-last (NCHW-shaped views of
(H, W, N, C) memory, channels innermost: the shapes at every layer interface stay the book's). This module holds what the
layers keep for that: the kernel's scratch buffers and its saved state from forward to backward.
"""
from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Iterable

from .. import kernels
from ..kernels import threads


class FastConvolution:
    """Scratch buffers and saved state of one Convolution layer on the kernels."""

    def __init__(self) -> None:
        self.workspace = kernels.Workspace()
        self.saved: Any = None
        self.out_shape: tuple[int, ...] | None = None

    def forward(self, x: Any, W: Any, b: Any, stride: int, pad: int, relu: bool, train: bool) -> Any:
        out, saved = kernels.conv2d_forward(x, W, b, stride, pad, relu=relu, workspace=self.workspace, keep=train)
        self.saved, self.out_shape = (saved, tuple(out.shape)) if train else (None, None)
        return out

    def backward(self, dout: Any, W: Any, input_grad: bool) -> tuple[Any, Any, Any]:
        return kernels.conv2d_backward(dout, self.saved, W, input_grad=input_grad, workspace=self.workspace)


class FastPooling:
    """Saved state of one Pooling layer on the kernels."""

    def __init__(self) -> None:
        self.saved: Any = None
        self.out_shape: tuple[int, ...] | None = None

    def forward(self, x: Any, pool_h: int, pool_w: int, stride: int, pad: int, mode: str, relu: bool,
                train: bool) -> Any:
        out, saved = kernels.pool2d_forward(x, pool_h, pool_w, stride, pad, mode, relu=relu, keep=train)
        self.saved, self.out_shape = (saved, tuple(out.shape)) if train else (None, None)
        return out

    def backward(self, dout: Any) -> Any:
        return kernels.pool2d_backward(dout, self.saved)


def network_pass(layers: Iterable[Any]) -> ContextManager[None]:
    """What a network's forward or backward runs inside: if any layer is on the kernels, BLAS's
    threads are handed to them for the whole pass (:func:`nnscratch.kernels.threads.handed_over`)."""
    if any(getattr(layer, "fast", False) for layer in layers):
        return threads.handed_over()
    return contextlib.nullcontext()
