"""Numerical differentiation and gradient descent (ch. 4.3-4.4), and the gradient check of ch. 5.7.3.

Central differences: f'(x) ~ (f(x + h) - f(x - h)) / 2h, with h = 1e-4 as in the book
(gradient checks in float64 use a smaller h for tighter agreement).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import backend
from .validation import check_int, check_positive


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference (ch. 4.3.1): (f(x + h) - f(x - h)) / (2h)."""
    return (f(x + h) - f(x - h)) / (2 * h)


def tangent_line(f: Callable[[float], float], x: float, h: float = 1e-4) -> Callable[[Any], Any]:
    """The tangent of f at x (ch. 4.3.2): t -> d * t + (f(x) - d * x), with d = numerical_diff(f, x)."""
    d = numerical_diff(f, x, h)
    y = f(x) - d * x
    return lambda t: d * t + y


def numerical_gradient(f: Callable[[Any], float], x: Any, h: float = 1e-4) -> Any:
    """Gradient of f at x by central differences, for an array x of any shape (ch. 4.4).

    Each element is nudged in place and restored exactly afterwards, so ``f`` may read ``x``
    through a closure (as the book's networks do with their weights).
    """
    xp = backend.xp
    _check_nudgeable(x)
    grad = xp.zeros_like(x)
    flat_x = x.reshape(-1)  # a view: writing to it writes to x
    flat_g = grad.reshape(-1)
    for i in range(flat_x.size):
        original = flat_x[i].copy()
        try:
            flat_x[i] = original + h
            fxh1 = _scalar(f(x))
            flat_x[i] = original - h
            fxh2 = _scalar(f(x))
        finally:
            flat_x[i] = original  # bitwise restore, even if f raised
        flat_g[i] = (fxh1 - fxh2) / (2 * h)
    return grad


def _check_nudgeable(x: Any) -> None:
    """x must be a C-contiguous float array (an int array cannot hold x + h: every difference would be 0)."""
    xp = backend.xp
    if not hasattr(x, "dtype") or not hasattr(x, "flags"):
        raise ValueError(f"numerical_gradient needs a float array x, got {type(x).__name__}")
    if not xp.issubdtype(x.dtype, xp.floating):
        raise ValueError(f"numerical_gradient needs a float array x, got dtype {x.dtype}")
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient needs a C-contiguous array it can nudge in place")


def kink_safe_gradient(f: Callable[[Any], float], x: Any, h: float = 1e-6, min_h: float = 1e-9) -> Any:
    """Central differences that notice a kink inside the step (a ReLU input or a max-pool tie within h).

    Beside f(x + h) and f(x - h) it evaluates f(x) once; where the two one-sided slopes
    (f(x+h) - f(x)) / h and (f(x) - f(x-h)) / h disagree by more than 1e-3 of their size (and more than
    round-off, 100 eps |f| / h), the step is shrunk 10x for that element until they agree or h < min_h.
    On smooth f it is the plain central difference of :func:`numerical_gradient`, at one extra call.
    """
    xp = backend.xp
    _check_nudgeable(x)
    grad = xp.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    f0 = _scalar(f(x))
    eps = float(np.finfo(x.dtype).eps)
    for i in range(flat_x.size):
        original = flat_x[i].copy()
        step = h
        try:
            while True:
                flat_x[i] = original + step
                fp = _scalar(f(x))
                flat_x[i] = original - step
                fm = _scalar(f(x))
                up, down = (fp - f0) / step, (f0 - fm) / step
                noise = 100 * eps * max(abs(f0), 1.0) / step
                if abs(up - down) <= max(1e-3 * max(abs(up), abs(down)), noise) or step / 10 < min_h:
                    break
                step /= 10
        finally:
            flat_x[i] = original
        flat_g[i] = (fp - fm) / (2 * step)
    return xp.asarray(grad)


def _scalar(value: Any) -> float:
    """f's value as a Python float; a non-scalar result is an error, not a silent reduction."""
    size = getattr(value, "size", 1)
    if size != 1:
        raise ValueError(f"f must return a scalar, got an array of shape {value.shape}")
    return float(value)


def relative_error(a: Any, b: Any, floor: float = 1e-9) -> float:
    """max |a - b| / max(max|a|, max|b|, floor): the largest disagreement relative to the gradient's scale.

    Element-wise |a-b|/(|a|+|b|) explodes where both gradients are ~0 (dead ReLUs, max-pool
    routes), so the error is scaled by the larger of the two arrays' magnitudes instead. A
    gradient that is zero in exact arithmetic (a bias feeding batch norm) has a scale of
    round-off only; ``floor`` keeps that case an absolute comparison.
    """
    a = backend.to_numpy(a).astype(np.float64)
    b = backend.to_numpy(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare gradients of shapes {a.shape} and {b.shape}")
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
    diff = float(np.abs(a - b).max(initial=0.0))
    return diff / max(scale, floor)


def gradient_check(model: Any, x: Any, t: Any, h: float = 1e-5) -> dict[str, float]:
    """Compare backprop against finite differences (ch. 5.7.3): parameter name -> relative error.

    The check runs in float64: in float32 the central difference itself is only good to ~1e-3, which
    would hide a wrong gradient. A float32 (or float16) model with ``astype`` (every Sequential) is
    checked through a float64 copy of itself, the same weights widened, and the model is not changed;
    another model must come in float64 (``with backend.precision('float64')`` when building it).
    """
    low = [(name, p.dtype) for name, p in model.params.items() if p.dtype != np.float64]
    if low:
        if not hasattr(model, "astype"):
            name, dtype = low[0]
            raise ValueError(f"gradient_check runs in float64 (in float32 the central difference is only good "
                             f"to ~1e-3); {name} is {dtype}: build the model in float64 or give it astype()")
        model = model.astype(np.float64)
    grad_backprop = {k: v.copy() for k, v in model.gradient(x, t).items()}
    grad_numerical = model.numerical_gradient(x, t, h=h)
    return {k: relative_error(grad_backprop[k], grad_numerical[k]) for k in grad_backprop}


def layer_gradient_check(layer: Any, x: Any, t: Any = None, *, train: bool = True, h: float = 1e-5,
                         seed: int | np.random.Generator = 0) -> dict[str, float]:
    """One layer's gradient check (ch. 5.7.3): relative error, backprop vs central differences, for
    dx (key "x", unless backward returns None) and every parameter of ``layer``.

    Plain layers are checked on f = sum(forward(x) * w) with a fixed random w (so dout = w); loss
    layers (``t`` given) on f = forward(x, t). Use float64 arrays; ``x`` and the params are nudged in place.
    """
    xp = backend.xp
    if t is None:
        w = xp.asarray(backend.rng(seed).standard_normal(tuple(layer.forward(x, train).shape)))

        def f(_: Any = None) -> float:
            return float(xp.sum(layer.forward(x, train) * w))

        layer.forward(x, train)
        dx = layer.backward(w.copy())
    else:
        def f(_: Any = None) -> float:
            return float(layer.forward(x, t))

        layer.forward(x, t)
        dx = layer.backward(1.0)
    analytic = {k: xp.array(g, copy=True) for k, g in layer.grads.items()}
    numeric = {name: numerical_gradient(f, p, h) for name, p in layer.params.items()}
    if dx is not None:
        analytic["x"], numeric["x"] = xp.array(dx, copy=True), numerical_gradient(f, x, h)
    return {k: relative_error(analytic[k], numeric[k]) for k in analytic}


def function_1(x: Any) -> Any:
    """The book's 1-D example (ch. 4.3.2): y = 0.01 x^2 + 0.1 x, so dy/dx = 0.02 x + 0.1."""
    return 0.01 * x**2 + 0.1 * x


def function_2(x: Any) -> Any:
    """The book's f(x0, x1) = x0^2 + x1^2 (ch. 4.3.3), i.e. the sum of squares of any array x."""
    return backend.xp.sum(x**2)


sum_of_squares = function_2


def gradient_descent(
    f: Callable[[Any], float], init_x: Any, lr: float = 0.01, step_num: int = 100
) -> tuple[Any, Any]:
    """Gradient descent (ch. 4.4.1): x <- x - lr * grad f(x), repeated step_num times.

    Returns (x, path): path has shape (step_num + 1, *x.shape), start included; init_x is not touched.
    """
    xp = backend.xp
    lr = check_positive("lr", lr)
    step_num = check_int("step_num", step_num, 0)
    if hasattr(init_x, "dtype") and xp.issubdtype(init_x.dtype, xp.floating):
        x = xp.array(init_x, copy=True, order="C")  # keep the caller's float dtype
    else:
        x = backend.asarray(init_x).copy()
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError("init_x must be finite, got NaN or inf")
    path = xp.empty((step_num + 1, *x.shape), dtype=x.dtype)
    path[0] = x
    for i in range(step_num):
        grad = numerical_gradient(f, x)
        x -= lr * grad
        path[i + 1] = x
    return x, path
