"""The book's own small networks and its parameter names: simpleNet (ch. 4.4.2), the sigmoid
TwoLayerNet of ch. 4.5, the ch. 3 network, and ``BookParams``, the book's ``params['W1']`` view.

The book numbers its parameters per network: the k-th weight layer (Affine or Convolution) holds
``W{k}``/``b{k}``, the k-th BatchNormalization ``gamma{k}``/``beta{k}``. :class:`BookKeyed` gives a
Sequential those keys on ``params`` and ``grads`` (the very arrays the layers hold; assigning
``params[key] = value`` copies into that array, so the layer sees it), while ``state_dict`` and
model files keep nnscratch's flat names ("affine1.W").
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Iterator

from .. import backend, functions
from ..gradient import numerical_gradient as _numerical_gradient
from ..initializers import init_weight
from ..layers import Affine, Sigmoid, SoftmaxWithLoss
from .sequential import Sequential
from .zoo import MultiLayerNet

#: the ch. 3.6 network of sample_weight.pkl (and of the shipped ``pretrained/ch3.npz``)
CH3_ARCHITECTURE: dict[str, Any] = {"input_size": 784, "hidden_size_list": [50, 100], "output_size": 10,
                                    "activation": "sigmoid"}


def book_names(model: Sequential) -> dict[str, str]:
    """Book key -> flat name: the k-th weight layer's W/b -> W{k}/b{k}, the k-th batch norm's gamma/beta."""
    names: dict[str, str] = {}
    weights = norms = 0
    for name, layer in model.layers.items():
        if "W" in layer.params:
            weights += 1
            names.update({f"{k}{weights}": f"{name}.{k}" for k in layer.params})
        elif "gamma" in layer.params:
            norms += 1
            names.update({f"{k}{norms}": f"{name}.{k}" for k in layer.params})
        elif layer.params:
            raise ValueError(f"no book name for the parameters of {name} ({type(layer).__name__})")
    return names


class BookParams(MutableMapping):
    """``params['W1']`` over a model's arrays; ``params[k] = v`` copies v into the layer's array in place.

    One key per array, so an optimizer updates each once. A new key, a deletion or a value of
    another shape raises (the book's code never does these to a network).
    """

    def __init__(self, model: Sequential, names: dict[str, str], which: str = "params") -> None:
        self._model, self._names, self._which = model, names, which

    def _slot(self, key: str) -> tuple[dict[str, Any], str]:
        try:
            layer, k = self._names[key].split(".", 1)
        except KeyError:
            raise KeyError(f"{key!r}: this network's parameters are {', '.join(self._names)}") from None
        return getattr(self._model.layers[layer], self._which), k

    def __getitem__(self, key: str) -> Any:
        store, k = self._slot(key)
        return store[k]

    def __setitem__(self, key: str, value: Any) -> None:
        store, k = self._slot(key)
        dst = store[k]
        if value is dst:
            return  # params[key] -= ... already changed the array in place
        value = backend.xp.asarray(value)
        if value.shape != dst.shape:
            raise ValueError(f"params[{key!r}] has shape {dst.shape}; cannot assign an array of shape {value.shape}")
        dst[...] = value

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"cannot delete {key!r}: a network's parameters are fixed by its layers")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: array{tuple(self[k].shape)}" for k in self) + "}"


class BookKeyed:
    """Mixin for a Sequential: ``params``/``grads`` under the book's keys; ``state_dict`` keeps flat names."""

    def _book_init(self) -> None:
        self.book_names = book_names(self)  # type: ignore[arg-type]

    @property
    def params(self) -> BookParams:
        return BookParams(self, self.book_names)  # type: ignore[arg-type]

    @property
    def grads(self) -> dict[str, Any]:
        return dict(BookParams(self, self.book_names, "grads"))  # type: ignore[arg-type]

    @property
    def flat_params(self) -> dict[str, Any]:
        """nnscratch's names ("affine1.W") over the same arrays."""
        return Sequential.params.fget(self)  # type: ignore[attr-defined]

    def state_dict(self) -> dict[str, Any]:
        return {**self.flat_params, **self.buffers}  # type: ignore[attr-defined]

    def _weight_decay(self) -> float:
        lam = self.weight_decay_lambda  # type: ignore[attr-defined]
        if not lam:
            return 0.0
        return 0.5 * lam * sum(float((l.params["W"].astype("float64") ** 2).sum())
                               for l in self.layers.values() if "W" in l.params)  # type: ignore[attr-defined]

    def astype(self, dtype: Any) -> Any:
        plain = Sequential.astype(self, dtype)  # type: ignore[arg-type]
        copy = object.__new__(type(self))
        copy.__dict__.update(plain.__dict__)
        copy._book_init()
        return copy


class SigmoidTwoLayerNet(BookKeyed, Sequential):
    """The ch. 4.5 TwoLayerNet: Affine - Sigmoid - Affine - SoftmaxWithLoss, W ~ N(0, 0.01^2), b = 0.

    ``params`` W1 b1 W2 b2; ``numerical_gradient(x, t)`` by central differences (ch. 4.4) and
    ``gradient(x, t)`` by backprop (ch. 5), so the two can be compared as the book does.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, weight_init_std: Any = 0.01,
                 seed: Any = None, dtype: Any = None) -> None:
        rng, dt = backend.rng(seed), backend.as_dtype(dtype or backend.default_dtype())
        xp = backend.xp
        dense = [Affine(W=init_weight((i, o), weight_init_std, rng=rng, dtype=dt), b=xp.zeros(o, dtype=dt))
                 for i, o in ((input_size, hidden_size), (hidden_size, output_size))]
        Sequential.__init__(self, [dense[0], Sigmoid(), dense[1]], SoftmaxWithLoss())
        self._book_init()


class SimpleNet:
    """The book's simpleNet (ch. 4.4.2): one 2x3 weight W, no bias; loss = cross_entropy(softmax(x W), t)."""

    def __init__(self, W: Any = None, seed: Any = None, dtype: Any = None) -> None:
        dt = backend.as_dtype(dtype or backend.default_dtype())
        if W is None:
            W = backend.rng(seed).standard_normal((2, 3))
        self.W = backend.xp.array(W, dtype=dt, order="C")
        if self.W.ndim != 2:
            raise ValueError(f"SimpleNet needs a 2-D weight W, got shape {self.W.shape}")
        self.params = {"W": self.W}

    def predict(self, x: Any) -> Any:
        """z = x W (ch. 4.4.2)."""
        return backend.xp.asarray(x, dtype=self.W.dtype) @ self.W

    def loss(self, x: Any, t: Any) -> float:
        """Cross-entropy of softmax(x W) against t (one-hot or labels)."""
        return float(functions.cross_entropy_error(functions.softmax(self.predict(x)), t))

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> dict[str, Any]:
        """dL/dW by central differences, the book's f = lambda w: net.loss(x, t)."""
        return {"W": _numerical_gradient(lambda _: self.loss(x, t), self.W, h)}

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """dL/dW by backprop (ch. 5.6.3): x^T (softmax(x W) - t) / N."""
        xp = backend.xp
        x2 = xp.atleast_2d(xp.asarray(x, dtype=self.W.dtype))
        y = functions.softmax(x2 @ self.W)
        t2 = xp.asarray(t)
        onehot = t2.reshape(y.shape) if t2.size == y.size else functions.one_hot(t2.reshape(-1), y.shape[1], y.dtype)
        return {"W": x2.T @ ((y - onehot) / x2.shape[0])}


def ch3_network(seed: Any = None, dtype: Any = None, weight_init_std: Any = "sigmoid") -> MultiLayerNet:
    """The ch. 3.6 network 784-50-100-10 with sigmoid and softmax (``CH3_ARCHITECTURE``)."""
    return MultiLayerNet(**CH3_ARCHITECTURE, weight_init_std=weight_init_std, seed=seed, dtype=dtype)


__all__ = ["BookKeyed", "BookParams", "CH3_ARCHITECTURE", "SigmoidTwoLayerNet", "SimpleNet", "book_names",
           "ch3_network"]
