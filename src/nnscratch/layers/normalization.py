"""Batch Normalization (ch. 6.3): normalise with batch statistics at train, running ones at test."""
from __future__ import annotations

from typing import Any

from .. import backend
from ..validation import check_number, check_positive
from .base import Layer, check_dout, float_input


class BatchNormalization(Layer):
    """Batch norm (ch. 6.3.1): y = gamma * (x - mu) / sqrt(var + eps) + beta, statistics per feature.

    Input (N, D): per feature. Input (N, C, H, W) (any rank >= 2): per channel over N*H*W, like
    torch's BatchNorm2d (the book flattens to (N, C*H*W) instead); gamma/beta have shape (C,).
    Train mode normalises with the batch mean and biased variance and updates the buffers as
    running = momentum * running + (1 - momentum) * batch (torch's momentum is 1 - this one).
    The book feeds the biased batch variance into running_var; torch the unbiased one
    (``unbiased_running_var=True``). eps defaults to the book's 1e-7 (torch: 1e-5).
    """

    prefix = "batchnorm"

    def __init__(self, gamma: Any, beta: Any, momentum: float = 0.9, eps: float = 1e-7,
                 running_mean: Any = None, running_var: Any = None,
                 unbiased_running_var: bool = False) -> None:
        super().__init__()
        xp = backend.xp
        gamma = xp.asarray(gamma)
        if not xp.issubdtype(gamma.dtype, xp.floating):
            gamma = gamma.astype(backend.default_dtype())
        if gamma.ndim != 1:
            raise ValueError(f"BatchNormalization gamma must be 1-D (features or channels,), got shape {gamma.shape}")
        shape, dtype = gamma.shape, gamma.dtype

        def _vec(name: str, value: Any, fill: float) -> Any:
            if value is None:
                return xp.full(shape, fill, dtype=dtype)
            value = xp.asarray(value)
            if value.shape != shape:
                raise ValueError(f"BatchNormalization {name} must have shape {shape} like gamma, got {value.shape}")
            return value if value.dtype == dtype else value.astype(dtype)

        self.momentum = check_number("momentum", momentum, 0.0, 1.0)
        self.eps = check_positive("eps", eps)
        self.unbiased_running_var = bool(unbiased_running_var)
        self.params = {"gamma": gamma, "beta": _vec("beta", beta, 0.0)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": _vec("running_mean", running_mean, 0.0),
                        "running_var": _vec("running_var", running_var, 1.0)}
        if gamma.size == 0:
            raise ValueError(f"BatchNormalization gamma must have at least one feature, got shape {gamma.shape}")
        for key, v in (*self.params.items(), *self.buffers.items()):
            if not bool(xp.isfinite(v).all()):
                raise ValueError(f"BatchNormalization {key} contains NaN or inf")
        if bool((self.buffers["running_var"] < 0).any()):
            raise ValueError("BatchNormalization running_var must be >= 0 (a variance), "
                             f"got minimum {float(self.buffers['running_var'].min())}")
        self.xn: Any = None  # normalised input, cached for backward
        self.inv_std: Any = None  # 1 / sqrt(var + eps), broadcastable against x
        self._axes: tuple[int, ...] = (0,)
        self._train = True

    @property
    def running_mean(self) -> Any:
        return self.buffers["running_mean"]

    @property
    def running_var(self) -> Any:
        return self.buffers["running_var"]

    def _bshape(self, ndim: int) -> tuple[int, ...]:
        """Shape that broadcasts a per-channel vector against an input of rank ndim."""
        return (1, -1) + (1,) * (ndim - 2)

    def forward(self, x: Any, train: bool = True) -> Any:
        xp = backend.xp
        gamma, beta = self.params["gamma"], self.params["beta"]
        x = float_input(x, gamma.dtype)
        if x.ndim < 2 or x.shape[1] != gamma.shape[0]:
            raise ValueError(
                f"BatchNormalization expects input (N, {gamma.shape[0]}) or (N, {gamma.shape[0]}, ...) "
                f"(gamma has shape {gamma.shape}), got input of shape {x.shape}"
            )
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = self._bshape(x.ndim)
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        if train:
            m = x.size // gamma.shape[0]
            if m == 0:
                raise ValueError(f"BatchNormalization cannot train on an empty batch of shape {x.shape}")
            mu = x.mean(axis=axes, keepdims=True)
            xc = x - mu
            var = xp.mean(xc * xc, axis=axes, keepdims=True)
            inv_std = 1.0 / xp.sqrt(var + self.eps)
            xn = xc * inv_std
            batch_var = var.reshape(-1) * (m / (m - 1)) if self.unbiased_running_var and m > 1 else var.reshape(-1)
            rm *= self.momentum  # in place: buffers are never rebound
            rm += (1.0 - self.momentum) * mu.reshape(-1)
            rv *= self.momentum
            rv += (1.0 - self.momentum) * batch_var
        else:
            inv_std = (1.0 / xp.sqrt(rv + self.eps)).reshape(bshape)
            xn = (x - rm.reshape(bshape)) * inv_std
        self.xn, self.inv_std, self._axes, self._train = xn, inv_std, axes, train
        return gamma.reshape(bshape) * xn + beta.reshape(bshape)

    def backward(self, dout: Any) -> Any:
        dout = check_dout(self, dout, None if self.xn is None else self.xn.shape)
        gamma = self.params["gamma"]
        dout = dout.astype(gamma.dtype, copy=False)
        axes, xn = self._axes, self.xn
        bshape = self._bshape(xn.ndim)
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * xn).sum(axis=axes)
        self.grads["beta"], self.grads["gamma"] = dbeta, dgamma
        scale = gamma.reshape(bshape) * self.inv_std
        if not self._train:  # running statistics are constants: y is affine in x
            return dout * scale
        # dx = gamma/sqrt(var+eps) * (dout - mean(dout) - xn * mean(dout * xn)), means over `axes`
        m = xn.size // gamma.shape[0]
        return (scale / m) * (m * dout - dbeta.reshape(bshape) - xn * dgamma.reshape(bshape))

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "eps": self.eps, "unbiased_running_var": self.unbiased_running_var}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        c = self.params["gamma"].shape[0]
        if len(input_shape) == 0 or input_shape[0] != c:
            raise ValueError(f"BatchNormalization expects {c} features/channels first, got per-sample shape {tuple(input_shape)}")
        return tuple(input_shape)
