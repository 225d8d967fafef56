"""Every model of the zoo by name, as the command line offers them (``nnscratch train --model NAME``).

An entry names the class, says in one line what it is, and builds it from the train command's
options (``hidden``, ``init``, ``activation``, ``weight_decay``, ``dropout`` (None: the model's
default), ``batchnorm``, ``seed``: an ``argparse.Namespace`` or anything with those attributes). Adding a model is one entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .booknets import ch3_network
from .sequential import Sequential
from .zoo import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet


@dataclass(frozen=True)
class ModelInfo:
    """A model by name: its class, a one-line description and ``build(options) -> model``."""

    name: str
    cls: type[Sequential]
    description: str
    build: Callable[[Any], Sequential]


def _init(options: Any, default: Any) -> Any:
    return default if options.init == "auto" else options.init


def _twolayer(o: Any) -> Sequential:
    return TwoLayerNet(784, o.hidden[0] if o.hidden else 50, 10, weight_init_std=_init(o, 0.01), seed=o.seed)


def _mlp(o: Any) -> Sequential:
    return MultiLayerNet(784, o.hidden or [512, 256], 10, activation=o.activation,
                         weight_init_std=_init(o, o.activation), weight_decay_lambda=o.weight_decay,
                         use_dropout=bool(o.dropout), dropout_ration=o.dropout or 0.5,
                         use_batchnorm=o.batchnorm, seed=o.seed)


def _simplecnn(o: Any) -> Sequential:
    return SimpleConvNet(weight_init_std=_init(o, 0.01), seed=o.seed)


def _ch3(o: Any) -> Sequential:
    return ch3_network(seed=o.seed, weight_init_std=_init(o, "sigmoid"))


def _deepcnn(o: Any) -> Sequential:
    ratio = {} if o.dropout is None else {"dropout_ratio": o.dropout}  # None: the book's 0.5
    return DeepConvNet(seed=o.seed, **ratio, **({} if o.init == "auto" else {"weight_init_std": o.init}))


MODEL_REGISTRY: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo("mlp", MultiLayerNet, "MultiLayerNet (ch. 6)", _mlp),
    ModelInfo("ch3", MultiLayerNet, "the ch. 3 network 784-50-100-10, sigmoid (MultiLayerNet)", _ch3),
    ModelInfo("twolayer", TwoLayerNet, "TwoLayerNet (ch. 5)", _twolayer),
    ModelInfo("simplecnn", SimpleConvNet, "SimpleConvNet (ch. 7)", _simplecnn),
    ModelInfo("deepcnn", DeepConvNet, "DeepConvNet (ch. 8)", _deepcnn),
)}

#: name -> class, a view of :data:`MODEL_REGISTRY`
MODELS: dict[str, type[Sequential]] = {name: m.cls for name, m in MODEL_REGISTRY.items()}


def get_model(name: str) -> ModelInfo:
    """The registry entry of ``name``; ValueError listing the known names otherwise."""
    try:
        return MODEL_REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODEL_REGISTRY)}") from None


__all__ = ["MODELS", "MODEL_REGISTRY", "ModelInfo", "get_model"]
