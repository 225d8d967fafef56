"""Sequential: a network as an ordered list of layers plus a loss layer (ch. 5.7, 6.4).

The book's networks (TwoLayerNet, MultiLayerNet, SimpleConvNet, DeepConvNet) are all this
one class with different layers. Parameters are exposed under flat, stable names
("affine1.W", "batchnorm1.gamma") over the very arrays the layers hold, so an optimizer's
in-place update is seen by the layers.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .. import backend
from ..gradient import numerical_gradient as _numerical_gradient
from ..layers.base import Layer, layer_from_config
from ..layers.fast import network_pass
from ..layers.fold import ConvReluPool, fold_relus
from ..layers.loss import SoftmaxWithLoss
from ..validation import check_int, check_labels, check_number, check_real_array, key_mismatch


def labels_for_scores(t: Any, n: int, y: Any) -> Any:
    """``t`` checked as the class labels of ``n`` samples scored ``y``: indices, or one-hot as wide as y."""
    return check_labels("t", t, n, y.shape[-1] if y.ndim == 2 else None)


def count_correct(y: Any, labels: Any) -> int:
    """How many rows of scores ``y`` have their arg-max at the label (accuracy's numerator, ch. 3.6.3)."""
    return int((y.argmax(axis=1) == labels).sum())


class Sequential:
    """Layers applied in order, then ``loss_layer`` (SoftmaxWithLoss by default).

    L2 weight decay (ch. 6.4.1): the loss gains 0.5 * lambda * sum ||W||^2 over every weight
    named ``W`` (not biases, not batch-norm parameters) and each such gradient gains lambda * W.

    Train/eval mode (docs/CONTRACTS.md): ``train=`` given always wins; left out, each method
    defaults to what it is for: ``gradient`` and ``numerical_gradient`` train, ``predict`` and
    ``accuracy`` infer, and ``loss``, which serves both, follows ``train()`` / ``eval()``.
    """

    def __init__(
        self,
        layers: Iterable[Layer] | dict[str, Layer],
        loss_layer: Layer | None = None,
        weight_decay_lambda: float = 0.0,
    ) -> None:
        if loss_layer is None:
            loss_layer = SoftmaxWithLoss()
        weight_decay_lambda = check_number("weight_decay_lambda", weight_decay_lambda, 0.0, math.inf, hi_open=True)
        self.layers: dict[str, Layer] = {}
        items = layers.items() if isinstance(layers, dict) else ((None, l) for l in layers)
        counts: dict[str, int] = {}
        for name, layer in items:
            if not isinstance(layer, Layer):
                raise ValueError(f"Sequential expects Layer objects, got {type(layer).__name__}")
            if name is None:
                counts[layer.prefix] = counts.get(layer.prefix, 0) + 1
                name = f"{layer.prefix}{counts[layer.prefix]}"
            if name in self.layers or "." in name:
                raise ValueError(f"layer names must be unique and contain no '.', got {name!r}")
            self.layers[name] = layer
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")
        first = next(iter(self.layers.values()))
        if hasattr(first, "input_grad"):
            first.input_grad = False  # nobody reads the gradient w.r.t. the data: skip col2im there
        fold_relus(list(self.layers.values()))  # Conv-ReLU(-Pool): the ReLU done by its neighbour
        self._front = ConvReluPool.at_front(list(self.layers.values()))  # conv1-relu1-pool1 in one pass
        self.last_layer = loss_layer
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.training = True
        self.last_loss: float | None = None

    # ---- parameters -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """Flat name -> parameter array; the same objects the layers hold (not copies)."""
        return {f"{n}.{k}": v for n, layer in self.layers.items() for k, v in layer.params.items()}

    @property
    def grads(self) -> dict[str, Any]:
        return {f"{n}.{k}": v for n, layer in self.layers.items() for k, v in layer.grads.items()}

    @property
    def buffers(self) -> dict[str, Any]:
        return {f"{n}.{k}": v for n, layer in self.layers.items() for k, v in layer.buffers.items()}

    @property
    def dtype(self) -> np.dtype:
        for p in self.params.values():
            return p.dtype
        return backend.default_dtype()

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def state_dict(self) -> dict[str, Any]:
        """Parameters and buffers (e.g. running statistics) under their flat names."""
        return {**self.params, **self.buffers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays into the existing parameters/buffers in place; names and shapes must match."""
        own = self.state_dict()
        missing, unexpected = key_mismatch(own, state)
        if missing or unexpected:
            raise ValueError(f"state does not match the model: missing {missing}, unexpected {unexpected}")
        for k, dst in own.items():
            src = state[k]
            if tuple(src.shape) != tuple(dst.shape):
                raise ValueError(f"{k}: model has shape {tuple(dst.shape)}, state has {tuple(src.shape)}")
            dst[...] = src

    # ---- modes --------------------------------------------------------------------------
    def train(self) -> "Sequential":
        """Training mode: loss() uses batch statistics and dropout (like torch's .train())."""
        self.training = True
        return self

    def eval(self) -> "Sequential":
        """Inference mode: loss() uses running statistics and no dropout."""
        self.training = False
        return self

    # ---- forward / backward ------------------------------------------------------------
    def _prepare(self, x: Any) -> Any:
        xp = backend.xp
        x = xp.asarray(check_real_array("x", x))
        dtype = self.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"expected a non-empty batch of inputs, got shape {x.shape}")
        if not bool(xp.isfinite(x).all()):
            raise ValueError("input contains NaN or inf; clean the data before feeding the network")
        return x

    def _passes(self) -> list[Any]:
        """The layers in order, the first three as one :class:`ConvReluPool` when they are one."""
        layers = list(self.layers.values())
        front = self._front
        if front is not None and tuple(layers[:3]) == front.layers:
            return [front, *layers[3:]]
        return layers

    def predict(self, x: Any, train: bool = False) -> Any:
        """Scores before softmax (ch. 3.4); train=False uses inference behaviour like the book."""
        x = self._prepare(x)
        with network_pass(self.layers.values()):
            for layer in self._passes():
                x = layer.forward(x, train)
        return x

    def _weight_decay(self) -> float:
        if not self.weight_decay_lambda:
            return 0.0
        total = sum(float((p.astype(np.float64) ** 2).sum()) for k, p in self.params.items() if k.endswith(".W"))
        return 0.5 * self.weight_decay_lambda * total

    def loss(self, x: Any, t: Any, train: bool | None = None) -> float:
        """Loss of the batch (ch. 4.2) plus L2 weight decay; train=None follows the model's mode."""
        train = self.training if train is None else train
        y = self.predict(x, train)
        return float(self.last_layer.forward(y, t)) + self._weight_decay()

    def accuracy(self, x: Any, t: Any, batch_size: int = 1000) -> float:
        """Fraction of samples whose arg-max score equals the label (labels or one-hot)."""
        xp = backend.xp
        batch_size = check_int("batch_size", batch_size, 1)
        if not hasattr(x, "shape"):
            x = check_real_array("x", x)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"accuracy: x must be a non-empty batch of inputs, got shape {tuple(x.shape)}")
        correct, labels = 0, None
        for i in range(0, len(x), batch_size):
            y = self.predict(x[i : i + batch_size], train=False)
            if labels is None:  # after the first batch: the number of classes is the width of the scores
                labels = xp.asarray(labels_for_scores(t, len(x), y))
            correct += count_correct(y, labels[i : i + batch_size])
        return correct / len(x)

    def backward(self, dout: Any = 1.0) -> dict[str, Any]:
        """Backpropagate from the loss layer through every layer in reverse (ch. 5.7.2)."""
        dout = self.last_layer.backward(dout)
        with network_pass(self.layers.values()):
            for layer in reversed(self._passes()):
                dout = layer.backward(dout)
        if self.weight_decay_lambda:
            for layer in self.layers.values():
                if "W" in layer.params:
                    layer.grads["W"] = layer.grads["W"] + self.weight_decay_lambda * layer.params["W"]
        return self.grads

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """Gradients of the training loss by backprop; one forward pass, loss kept in last_loss."""
        self.last_loss = self.loss(x, t, train=True)
        return self.backward(1.0)

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> dict[str, Any]:
        """Gradients by central differences (ch. 4.4), for checking backprop; slow."""
        def f(_: Any) -> float:
            return self.loss(x, t, train=True)

        return {k: _numerical_gradient(f, p, h) for k, p in self.params.items()}

    # ---- structure ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """JSON-able architecture: layer classes, names and configs (arrays live in state_dict)."""
        return {
            "layers": [
                {"class": type(l).__name__, "name": n, "config": l.get_config()} for n, l in self.layers.items()
            ],
            "loss": {"class": type(self.last_layer).__name__, "config": self.last_layer.get_config()},
            "weight_decay_lambda": self.weight_decay_lambda,
        }

    @staticmethod
    def from_config(config: dict[str, Any], state: dict[str, Any]) -> "Sequential":
        """Rebuild a plain Sequential from get_config() and state_dict() arrays."""
        layers: dict[str, Layer] = {}
        for spec in config["layers"]:
            name = spec["name"]
            arrays = {k.split(".", 1)[1]: v for k, v in state.items() if k.split(".", 1)[0] == name}
            layers[name] = layer_from_config(spec["class"], spec["config"], arrays)
        loss = layer_from_config(config["loss"]["class"], config["loss"]["config"], {})
        model = Sequential(layers, loss_layer=loss, weight_decay_lambda=config.get("weight_decay_lambda", 0.0))
        unknown = set(state) - set(model.state_dict())
        if unknown:
            raise ValueError(f"state has arrays the architecture does not use: {sorted(unknown)}")
        return model

    def astype(self, dtype: Any) -> "Sequential":
        """A copy with every parameter and buffer cast to ``dtype`` (e.g. float16 inference, ch. 8.3.4)."""
        dt = backend.as_dtype(dtype)
        state = {k: v.astype(dt) for k, v in self.state_dict().items()}
        model = Sequential.from_config(self.get_config(), state)
        model.training = self.training
        return model

    def copy(self) -> "Sequential":
        return self.astype(self.dtype)

    def summary(self, input_shape: tuple[int, ...] | None = None) -> str:
        """One line per layer: name, output shape (when input_shape is given), parameter count."""
        lines = [f"{'layer':<14}{'output shape':<20}{'params':>10}"]
        shape = tuple(input_shape) if input_shape is not None else None
        for name, layer in self.layers.items():
            if shape is not None:
                shape = layer.output_shape(shape)
            n = sum(int(p.size) for p in layer.params.values())
            lines.append(f"{name:<14}{str(shape) if shape is not None else '':<20}{n:>10,}")
        lines.append(f"{'total':<34}{self.num_params():>10,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        inner = ",\n  ".join(f"{n}: {l!r}" for n, l in self.layers.items())
        return f"{type(self).__name__}(\n  {inner},\n  loss: {self.last_layer!r}\n)"
