"""Parameter update rules of ch. 6.1 (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam) plus AdamW and lr schedules.

``opt.update(params, grads)`` changes every ``params[name]`` in place (never rebinds it); per-parameter
state is keyed by the parameter's name and created lazily the first time that name is seen.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from . import backend
from .validation import check_int, check_number, check_positive


def _finite(name: str, value: Any) -> float:
    """A finite number >= 0 (weight decay, a scheduled rate)."""
    return check_number(name, value, 0.0, math.inf, hi_open=True)

Schedule = Callable[[int], float]


# ---------------------------------------------------------------- learning-rate schedules (beyond the book)

class StepDecay:
    """lr_k = lr * gamma ** (k // step_size): multiply lr by gamma every step_size updates (beyond the book)."""
    name = "step"

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = check_positive("lr", lr)
        self.step_size = check_int("step_size", step_size, 1)
        self.gamma = _finite("gamma", gamma)

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (int(step) // self.step_size)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


class CosineDecay:
    """lr_k = min_lr + (lr - min_lr) * (1 + cos(pi * k / total_steps)) / 2, then min_lr once k >= total_steps."""
    name = "cosine"

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0) -> None:
        self.lr = check_positive("lr", lr)
        self.total_steps = check_int("total_steps", total_steps, 1)
        self.min_lr = _finite("min_lr", min_lr)

    def __call__(self, step: int) -> float:
        k = min(int(step), self.total_steps)
        return self.min_lr + (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * k / self.total_steps)) / 2.0

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.lr, "total_steps": self.total_steps, "min_lr": self.min_lr}


_SCHEDULES: dict[str, type] = {"step": StepDecay, "cosine": CosineDecay}


def get_schedule(config: Mapping[str, Any] | Schedule) -> Schedule:
    """Rebuild a schedule from its get_config() dict ({"name": "step", ...}); a callable passes through."""
    if callable(config):
        return config
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(f"a schedule config must be a dict with a 'name' key, got {config!r}")
    kwargs = dict(config)
    if (name := str(kwargs.pop("name")).lower()) not in _SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {sorted(_SCHEDULES)}")
    try:
        return _SCHEDULES[name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for schedule {name!r}: {exc}") from None


# ---------------------------------------------------------------- optimizers

class Optimizer:
    """Base of the ch. 6.1 update rules: ``update(params, grads)`` steps each array in place.

    Beyond the book: ``lr_schedule`` (step -> lr, applied as ``lr = schedule(iter)`` before each update)
    and decoupled weight decay ``p -= lr * weight_decay * p`` before the step (AdamW style; the book's
    L2 weight decay belongs in the model's loss instead).
    """

    name = "optimizer"
    slots: tuple[str, ...] = ()  # per-parameter state arrays, e.g. ("m", "v")
    counters: tuple[str, ...] = ()  # per-parameter integer counters, e.g. ("t",)
    hyper: tuple[str, ...] = ()  # constructor kwargs beyond lr / lr_schedule / weight_decay

    def __init__(self, lr: float = 0.01, *, lr_schedule: Schedule | Mapping[str, Any] | None = None,
                 weight_decay: float = 0.0) -> None:
        # a constant rate must move the weights (lr > 0); under a schedule the schedule sets it (0 allowed)
        self.lr = check_positive("lr", lr) if lr_schedule is None else _finite("lr", lr)
        self.weight_decay = _finite("weight_decay", weight_decay)
        self.lr_schedule = None if lr_schedule is None else get_schedule(lr_schedule)
        self.iter = 0
        self.state: dict[str, dict[str, Any]] = {s: {} for s in self.slots + self.counters}
        if self.lr_schedule is not None:
            self.lr = self._scheduled()  # the lr the next update will use

    def _scheduled(self) -> float:
        """The schedule's rate for the next update, checked: a finite number >= 0."""
        rate = self.lr_schedule(self.iter)
        try:
            return _finite("lr", rate)
        except ValueError:
            raise ValueError(f"lr_schedule returned {rate!r} at step {self.iter}; "
                             "a learning rate must be a finite number >= 0") from None

    def update(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> None:
        """One step on every parameter: params[name] is changed in place using grads[name]."""
        triples = self._checked(params, grads)  # validate everything before moving anything
        if self.lr_schedule is not None:
            self.lr = self._scheduled()
        self.iter += 1
        for name, p, g in triples:
            if self.weight_decay:
                p *= 1.0 - self.lr * self.weight_decay  # p -= lr*wd*p, in torch's multiplicative form
            self._step(name, p, g)

    def _step(self, name: str, p: Any, g: Any) -> None:
        raise NotImplementedError

    def _checked(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
        if missing := [k for k in params if k not in grads]:
            raise ValueError(f"grads has no entry for parameter(s) {missing}; expected the same keys as params")
        if extra := [k for k in grads if k not in params]:
            raise ValueError(f"grads has key(s) {extra} that are not in params; expected the same keys as params")
        triples = []
        for name, p in params.items():
            g = grads[name]
            if getattr(getattr(p, "dtype", None), "kind", None) != "f":
                raise ValueError(f"params[{name!r}] must be a float array, got {type(p).__name__} "
                                 f"of dtype {getattr(p, 'dtype', None)}")
            if getattr(g, "shape", None) != p.shape:
                raise ValueError(f"grads[{name!r}] has shape {getattr(g, 'shape', type(g).__name__)}, "
                                 f"expected {p.shape} (the shape of params[{name!r}])")
            for slot in self.slots:
                if (s := self.state[slot].get(name)) is not None and s.shape != p.shape:
                    raise ValueError(f"optimizer state {slot}/{name} has shape {s.shape}, expected {p.shape}")
            triples.append((name, p, g if g.dtype == p.dtype else g.astype(p.dtype)))
        return triples

    def _slot(self, slot: str, name: str, p: Any) -> Any:
        """The state array ``slot`` of parameter ``name``, zeros on first sight."""
        arrays = self.state[slot]
        if name not in arrays:
            arrays[name] = backend.xp.zeros_like(p)
        return arrays[name]

    def _tick(self, name: str, counter: str = "t") -> int:
        """Count one more update of parameter ``name`` and return the count (1 on first sight)."""
        self.state[counter][name] = t = self.state[counter].get(name, 0) + 1
        return t

    def state_dict(self) -> dict[str, Any]:
        """Flat copy: {"iter": int, "lr": float, "<slot>/<param name>": array or int}; np.savez-able."""
        out: dict[str, Any] = {"iter": self.iter, "lr": self.lr}
        for slot, per_name in self.state.items():
            for name, value in per_name.items():
                out[f"{slot}/{name}"] = value if slot in self.counters else backend.to_numpy(value).copy()
        return out

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Replace iter, lr and all state by a (copy of a) state_dict(), e.g. an np.load()-ed .npz."""
        keys = list(d.keys())
        if "iter" not in keys or "lr" not in keys:
            raise ValueError(f"state dict needs keys 'iter', 'lr' (and '<slot>/<name>'), got {sorted(keys)}")
        state: dict[str, dict[str, Any]] = {s: {} for s in self.slots + self.counters}
        for key in keys:
            if key in ("iter", "lr"):
                continue
            slot, sep, name = key.partition("/")
            if not sep or slot not in state:
                raise ValueError(f"unknown state key {key!r} for {type(self).__name__}; "
                                 f"expected '<slot>/<name>' with slot in {sorted(state)}")
            value = d[key]
            state[slot][name] = int(value) if slot in self.counters else backend.xp.array(value, copy=True)
        self.iter, self.lr, self.state = check_int("iter", int(d["iter"]), 0), _finite("lr", d["lr"]), state

    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor kwargs: ``type(opt)(**opt.get_config())`` rebuilds it (without state)."""
        sched = self.lr_schedule
        if sched is not None and not hasattr(sched, "get_config"):
            raise ValueError(f"lr_schedule {sched!r} has no get_config(); use StepDecay / CosineDecay "
                             "or give your schedule a get_config() returning {'name': ..., ...}")
        return {"lr": self.lr, **{k: getattr(self, k) for k in self.hyper},
                "weight_decay": self.weight_decay, "lr_schedule": None if sched is None else sched.get_config()}

    def __repr__(self) -> str:
        cfg = {"lr": self.lr, **{k: getattr(self, k) for k in self.hyper}, "weight_decay": self.weight_decay}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in cfg.items())})"


class SGD(Optimizer):
    """W <- W - lr * dL/dW (ch. 6.1.2). Same as torch.optim.SGD without momentum."""
    name = "sgd"

    def _step(self, name: str, p: Any, g: Any) -> None:
        p -= self.lr * g


class Momentum(Optimizer):
    """v <- momentum*v - lr*g; W <- W + v (ch. 6.1.4). torch keeps buf = mu*buf + g, p -= lr*buf:
    v = -lr*buf, so the two coincide while lr is constant (not under a schedule)."""
    name, slots, hyper = "momentum", ("v",), ("momentum",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, **kwargs: Any) -> None:
        super().__init__(lr, **kwargs)
        self.momentum = check_number("momentum", momentum, 0.0, 1.0, hi_open=True)

    def _step(self, name: str, p: Any, g: Any) -> None:
        v = self._slot("v", name, p)
        v *= self.momentum
        v -= self.lr * g
        p += v


class Nesterov(Momentum):
    """Book's Nesterov (ch. 6.1, book code): v <- mu*v - lr*g; W <- W + mu*mu*v - (1+mu)*lr*g.
    Differs from torch SGD(nesterov=True) (p -= lr*(g + mu*buf)): book step = mu * torch step - lr*g."""
    name = "nesterov"

    def _step(self, name: str, p: Any, g: Any) -> None:
        mu, v = self.momentum, self._slot("v", name, p)
        v *= mu
        v -= self.lr * g
        p += mu * mu * v
        p -= (1.0 + mu) * self.lr * g


class AdaGrad(Optimizer):
    """h <- h + g*g; W <- W - lr * g / (sqrt(h) + eps) (ch. 6.1.5). Same as torch.optim.Adagrad
    (initial_accumulator_value=0, lr_decay=0) with the same eps; book eps = 1e-7 (torch: 1e-10)."""
    name, slots, hyper = "adagrad", ("h",), ("eps",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(lr, **kwargs)
        self.eps = _finite("eps", eps)

    def _step(self, name: str, p: Any, g: Any) -> None:
        h = self._slot("h", name, p)
        h += g * g
        p -= self.lr * g / (backend.xp.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """h <- rho*h + (1-rho)*g*g; W <- W - lr * g / (sqrt(h) + eps) (ch. 6.1.5, rho = decay_rate).
    Same as torch.optim.RMSprop with alpha = decay_rate and the same eps (book 1e-7, torch 1e-8)."""
    name, slots, hyper = "rmsprop", ("h",), ("decay_rate", "eps")

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(lr, **kwargs)
        self.decay_rate = check_number("decay_rate", decay_rate, 0.0, 1.0, hi_open=True)
        self.eps = _finite("eps", eps)

    def _step(self, name: str, p: Any, g: Any) -> None:
        h = self._slot("h", name, p)
        h *= self.decay_rate
        h += (1.0 - self.decay_rate) * g * g
        p -= self.lr * g / (backend.xp.sqrt(h) + self.eps)


RMSProp = RMSprop  # the spelling of the book's text


class Adam(Optimizer):
    """Book's Adam (ch. 6.1.6): lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m += (1-b1)(g-m); v += (1-b2)(g*g-v);
    W -= lr_t * m / (sqrt(v) + eps). torch divides by sqrt(v_hat) + eps, i.e. it equals this with
    eps_book = eps_torch*sqrt(1-b2^t): identical when eps = 0. t counts each parameter's own updates."""

    name, slots, counters, hyper = "adam", ("m", "v"), ("t",), ("beta1", "beta2", "eps")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7,
                 **kwargs: Any) -> None:
        super().__init__(lr, **kwargs)
        self.beta1 = check_number("beta1", beta1, 0.0, 1.0, hi_open=True)
        self.beta2 = check_number("beta2", beta2, 0.0, 1.0, hi_open=True)
        self.eps = _finite("eps", eps)

    def _step(self, name: str, p: Any, g: Any) -> None:
        xp, b1, b2, t = backend.xp, self.beta1, self.beta2, self._tick(name)
        m, v = self._slot("m", name, p), self._slot("v", name, p)
        lr_t = self.lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        # m += (1-b1)(g-m); v += (1-b2)(g*g-v); p -= lr_t*m / (sqrt(v)+eps): the same operations in
        # the same order (bit for bit), through two scratch arrays instead of eight temporaries
        for p, g, m, v in in_blocks(p, g, m, v):
            a, b = self._scratch(p)
            xp.subtract(g, m, out=a)
            a *= 1.0 - b1
            m += a
            xp.multiply(g, g, out=a)
            a -= v
            a *= 1.0 - b2
            v += a
            xp.sqrt(v, out=a)
            a += self.eps
            xp.multiply(m, lr_t, out=b)
            b /= a
            p -= b

    def _scratch(self, p: Any) -> tuple[Any, Any]:
        """Two arrays shaped like ``p`` (a block), reused between updates (not part of the state)."""
        cache = self.__dict__.setdefault("_scratch_arrays", {})
        key = (p.shape, p.dtype.str)
        if key not in cache:
            cache[key] = (backend.xp.empty_like(p), backend.xp.empty_like(p))
        return cache[key]


#: elements per block of an update's passes: six float32 arrays of this length (768 KiB) stay in
#: a core's L2 cache through Adam's ten passes, instead of ten trips to memory (bench: adam.update
#: in bench/profile_layers.py)
UPDATE_BLOCK = 32768


def in_blocks(*arrays: Any) -> list[tuple[Any, ...]]:
    """Equal-sized pieces of same-shape arrays: flat blocks of UPDATE_BLOCK elements when all are
    C-contiguous NumPy arrays (views: updates write through), else the arrays whole (CuPy: one launch)."""
    first = arrays[0]
    if (backend.xp is not np or first.size <= UPDATE_BLOCK
            or not all(a.flags.c_contiguous and a.shape == first.shape for a in arrays)):
        return [arrays]
    flat = [a.reshape(-1) for a in arrays]
    return [tuple(f[i:i + UPDATE_BLOCK] for f in flat) for i in range(0, first.size, UPDATE_BLOCK)]


class AdamW(Adam):
    """torch.optim.AdamW (beyond the book): W -= lr*wd*W; m, v as Adam; W -= lr/(1-b1^t) * m /
    (sqrt(v)/sqrt(1-b2^t) + eps). Defaults match torch: weight_decay=0.01, eps=1e-8."""
    name = "adamw"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01, **kwargs: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay=weight_decay, **kwargs)

    def _step(self, name: str, p: Any, g: Any) -> None:
        b1, b2, t = self.beta1, self.beta2, self._tick(name)
        m, v = self._slot("m", name, p), self._slot("v", name, p)
        m += (1.0 - b1) * (g - m)
        v *= b2
        v += (1.0 - b2) * g * g
        denom = backend.xp.sqrt(v) / math.sqrt(1.0 - b2**t) + self.eps
        p -= (self.lr / (1.0 - b1**t)) * m / denom


_OPTIMIZERS: dict[str, type[Optimizer]] = {c.name: c for c in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW)}
#: the names get_optimizer accepts, in the book's order
OPTIMIZER_NAMES: tuple[str, ...] = tuple(_OPTIMIZERS)


def get_optimizer(name: str | Optimizer, **kwargs: Any) -> Optimizer:
    """An optimizer by case-insensitive name ('sgd', 'momentum', ..., 'adamw'); an instance passes through."""
    if isinstance(name, Optimizer):
        if kwargs:
            raise ValueError(f"got an Optimizer instance and kwargs {sorted(kwargs)}; pass one or the other")
        return name
    key = str(name).lower() if isinstance(name, str) else None
    if key not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {list(_OPTIMIZERS)}")
    cls = _OPTIMIZERS[key]
    allowed = {"lr", "lr_schedule", "weight_decay", *cls.hyper}
    if unknown := sorted(set(kwargs) - allowed):
        raise ValueError(f"{key} does not take {unknown}; expected some of {sorted(allowed)}")
    return cls(**kwargs)
