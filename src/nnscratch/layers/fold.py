"""Folding a ReLU into the layer beside it (issue 13): one pass less over the activations.

Conv - ReLU - max Pool: max(0, pool(x)) = pool(max(0, x)) (max and ReLU are both monotone), with
the same gradient, so the pool applies the ReLU to its 4x smaller output. Conv - ReLU otherwise:
the convolution applies max(0, .) to each chunk of its output while it is in cache, and gates
dout by out > 0. The ReLU layer stays in the model (names, configs, model files and ONNX export
are unchanged) and passes through. Both the fast and the reference paths honour the flags.

A network's first Conv - ReLU - max Pool (SimpleConvNet's conv1-relu1-pool1) goes one step
further: :class:`ConvReluPool` runs the three as one pass of nnscratch.kernels.fused, so the
convolution's output never exists whole. ``Sequential`` runs it in its forward and backward; the
three layers stay in the model, and run one by one wherever the fused pass does not apply.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..kernels.fused import conv_pool_backward, conv_pool_forward, fusable
from .activations import Relu
from .base import Layer, check_dout, float_input
from .conv import Convolution
from .pooling import Pooling

__all__ = ["ConvReluPool", "fold_relus"]


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


class ConvReluPool:
    """pool(relu(conv(x))) and back as one pass (kernels.fused) where it applies, else layer by layer.

    It applies to a first layer (no input gradient) on the fast path with few input channels whose
    ReLU is folded into a max pool of windows that tile its output. Backward fills ``conv.grads``.
    """

    def __init__(self, conv: Convolution, relu: Relu, pool: Pooling) -> None:
        self.conv, self.relu, self.pool = conv, relu, pool
        self.layers = (conv, relu, pool)
        self._saved: Any = None
        self._out_shape: tuple[int, ...] | None = None
        self._fused = False

    @staticmethod
    def at_front(layers: Sequence[Layer]) -> "ConvReluPool | None":
        """The group of the first three layers when they are Convolution, ReLU and Pooling, else None."""
        if len(layers) >= 3 and isinstance(layers[0], Convolution) and type(layers[1]) is Relu \
                and isinstance(layers[2], Pooling):
            return ConvReluPool(layers[0], layers[1], layers[2])  # type: ignore[arg-type]
        return None

    def _applies(self, x: Any) -> bool:
        c, p = self.conv, self.pool
        return (c.fast and p.fast and not c.input_grad and not c.relu and self.relu.folded and p.relu
                and p.mode == "max" and p.pad == 0 and p.stride == p.pool_h == p.pool_w
                and fusable(tuple(x.shape), tuple(c.W.shape), c.stride, c.pad, p.pool_h))

    def forward(self, x: Any, train: bool = True) -> Any:
        c = self.conv
        x = float_input(x, c.W.dtype)
        self._fused = self._applies(x)
        if not self._fused:
            return self.pool.forward(self.relu.forward(c.forward(x, train), train), train)
        c._out_hw(x.shape)  # the layer's own checks and messages
        out, saved = conv_pool_forward(x, c.W, c.b, c.stride, c.pad, self.pool.pool_h, relu=True,
                                       workspace=c._fast.workspace, keep=train)
        self._saved, self._out_shape = (saved, tuple(out.shape)) if train else (None, None)
        return out

    def backward(self, dout: Any) -> Any:
        if not self._fused:
            return self.conv.backward(self.relu.backward(self.pool.backward(dout)))
        c = self.conv
        dout = check_dout(self.pool, dout, self._out_shape)
        c.grads["W"], c.grads["b"] = conv_pool_backward(dout, self._saved, c.W, workspace=c._fast.workspace)
        return None
