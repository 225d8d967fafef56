"""The Layer contract (ch. 5): forward(x, train=True) computes and caches, backward(dout) returns dx.

A layer owns ``params`` (trainable arrays) and ``grads`` (same keys, filled by backward), and
``buffers`` (non-trainable state that must be saved, e.g. batch norm's running mean).
Optimizers update ``params`` in place, so a layer must never rebind a parameter array.

Every layer can be rebuilt as ``cls(**layer.get_config(), **layer.params, **layer.buffers)``:
constructors take their parameters and buffers as keyword arrays named like the dict keys,
which is what serialization relies on (no pickle). Also here: the input checks every layer
uses (:func:`float_input`, :func:`check_dout`) and :class:`WeightLayer`, the weight-and-bias
base of Affine and Convolution.
"""
from __future__ import annotations

from typing import Any, ClassVar

from .. import backend

LAYER_REGISTRY: dict[str, type["Layer"]] = {}


class Layer:
    """Base class: subclasses set ``params``/``buffers`` in ``__init__`` and implement forward/backward."""

    #: short lowercase prefix used for names inside a model ("affine" -> "affine1.W")
    prefix: ClassVar[str] = "layer"
    #: False for an adapter (nnscratch.book's layers): it keeps its base's registry entry and model-file name
    registered: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.registered:
            LAYER_REGISTRY[cls.__name__] = cls

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}

    def forward(self, x: Any, train: bool = True) -> Any:
        raise NotImplementedError

    def backward(self, dout: Any) -> Any:
        raise NotImplementedError

    def __call__(self, x: Any, train: bool = True) -> Any:
        return self.forward(x, train)

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments other than the arrays in params/buffers."""
        return {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output given one sample's input shape (no batch axis)."""
        return tuple(input_shape)

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        inner = ", ".join(s for s in (shapes, cfg) if s)
        return f"{type(self).__name__}({inner})"


def float_input(x: Any, dtype: Any = None) -> Any:
    """``x`` as a float backend array: cast to ``dtype`` if given, else kept if already float."""
    xp = backend.xp
    x = xp.asarray(x)
    if dtype is not None:
        return x.astype(dtype, copy=False)
    if not xp.issubdtype(x.dtype, xp.floating):
        return x.astype(backend.default_dtype())
    return x


def check_dout(layer: Layer, dout: Any, shape: tuple[int, ...] | None) -> Any:
    """Validate ``dout`` against the shape forward produced (no silent broadcasting)."""
    name = type(layer).__name__
    if shape is None:
        raise RuntimeError(f"{name}.backward called before {name}.forward")
    dout = backend.xp.asarray(dout)
    if dout.shape != shape:
        raise ValueError(f"{name}.backward expects dout of shape {shape} (the forward output), got {dout.shape}")
    return dout


def weight_and_bias(layer: str, W: Any, b: Any, ndim: int, w_shape: str) -> tuple[Any, Any]:
    """Validate W (ndim-D, float) and b (one entry per output); b takes W's dtype."""
    xp = backend.xp
    W = xp.asarray(W)
    if not xp.issubdtype(W.dtype, xp.floating):
        W = W.astype(backend.default_dtype())
    if W.ndim != ndim:
        raise ValueError(f"{layer} needs a {ndim}-D weight W of shape {w_shape}, got shape {W.shape}")
    outputs = W.shape[1] if ndim == 2 else W.shape[0]
    b = xp.asarray(b)
    if b.shape != (outputs,):
        raise ValueError(f"{layer} bias b must have shape ({outputs},) to match W {W.shape}, got {b.shape}")
    return W, b.astype(W.dtype, copy=False)


class WeightLayer(Layer):
    """A layer with a weight ``W`` and a bias ``b`` (Affine, Convolution): checks them, holds their grads.

    Subclasses give ``W_SHAPE``, the weight's axes as text: its length is the required rank.
    """

    W_SHAPE: ClassVar[str] = "(in_features, out_features)"

    def __init__(self, W: Any, b: Any) -> None:
        super().__init__()
        ndim = self.W_SHAPE.count(",") + 1
        W, b = weight_and_bias(type(self).__name__, W, b, ndim, self.W_SHAPE)
        self.params = {"W": W, "b": b}
        self.grads = {"W": backend.xp.zeros_like(W), "b": backend.xp.zeros_like(b)}

    @property
    def W(self) -> Any:
        return self.params["W"]

    @property
    def b(self) -> Any:
        return self.params["b"]


def layer_from_config(class_name: str, config: dict[str, Any], arrays: dict[str, Any]) -> Layer:
    """Rebuild a layer by class name from its config and its param/buffer arrays."""
    try:
        cls = LAYER_REGISTRY[class_name]
    except KeyError:
        known = ", ".join(sorted(LAYER_REGISTRY))
        raise ValueError(f"unknown layer type {class_name!r}; known layers: {known}") from None
    return cls(**config, **arrays)
