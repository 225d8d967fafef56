"""The book's hyper-parameter search (ch. 6.5): validation data, log-uniform sampling and random search.

The book's recipe (ch. 6.5.3): hold out part of the training data for validation, sample each
hyper-parameter from a log-uniform range (lr = 10^U(-6, -2), weight decay = 10^U(-8, -4)),
train briefly, keep the ranges where validation accuracy is good, and narrow them.

``random_search`` runs that loop and returns a :class:`SearchResult` of :class:`Trial` records;
``run_trial`` trains and scores one setting and is the objective other searchers can reuse.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..datasets import iterate_minibatches
from ..models import MultiLayerNet
from ..optimizers import get_optimizer
from ..step import Diverged, train_step
from ..validation import check_int

#: name -> (low exponent, high exponent): value = 10 ** U(low, high). The book's ranges (ch. 6.5.3).
BOOK_SPACE: dict[str, tuple[float, float]] = {"lr": (-6.0, -2.0), "weight_decay": (-8.0, -4.0)}


def sample_log_uniform(rng: np.random.Generator, low_exp: float, high_exp: float) -> float:
    """10 ** U(low_exp, high_exp): uniform on a log scale (ch. 6.5.3), e.g. (-6, -2) -> [1e-6, 1e-2)."""
    low_exp, high_exp = float(low_exp), float(high_exp)
    if not (math.isfinite(low_exp) and math.isfinite(high_exp)) or low_exp > high_exp:
        raise ValueError(f"need finite exponents with low_exp <= high_exp, got ({low_exp}, {high_exp})")
    return float(10.0 ** rng.uniform(low_exp, high_exp))


def sample_params(rng: np.random.Generator, space: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """One draw of every hyper-parameter of ``space`` (name -> (low_exp, high_exp)), in key order."""
    return {name: sample_log_uniform(rng, lo, hi) for name, (lo, hi) in space.items()}


@dataclass
class Trial:
    """One trained setting: its hyper-parameters and per-epoch accuracies (fractions in [0, 1])."""

    number: int
    params: dict[str, float]
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0
    seed: int | None = None
    status: str = "complete"  # or "failed: <reason>" (e.g. the loss diverged)

    @property
    def final_val_acc(self) -> float:
        return self.val_acc[-1] if self.val_acc else 0.0

    @property
    def best_val_acc(self) -> float:
        return max(self.val_acc, default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "final_val_acc": self.final_val_acc, "best_val_acc": self.best_val_acc}


@dataclass
class SearchResult:
    """All trials of a search plus the space they came from; ``ranked()`` sorts by final val accuracy."""

    trials: list[Trial]
    space: dict[str, tuple[float, float]]
    settings: dict[str, Any] = field(default_factory=dict)

    def ranked(self) -> list[Trial]:
        return sorted(self.trials, key=lambda tr: tr.final_val_acc, reverse=True)

    @property
    def best(self) -> Trial:
        if not self.trials:
            raise ValueError("the search ran no trials")
        return self.ranked()[0]

    def to_dict(self) -> dict[str, Any]:
        return {"space": {k: list(v) for k, v in self.space.items()}, "settings": dict(self.settings),
                "trials": [tr.to_dict() for tr in self.trials]}


def train_epochs(model: Any, optimizer: Any, x: Any, t: Any, epochs: int, batch_size: int = 100,
                 seed: int | np.random.Generator | None = None,
                 on_epoch: Callable[[int], Any] | None = None) -> list[float]:
    """Plain mini-batch training (ch. 4.5): each epoch one fresh shuffle, one :func:`train_step` per batch.

    ``on_epoch(epoch)`` runs after every epoch (1-based), e.g. to record accuracies. Returns the
    mini-batch losses. Raises :class:`~nnscratch.step.Diverged` (before the update) when the loss
    or a gradient becomes NaN/inf.
    """
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    for epoch in range(1, int(epochs) + 1):
        for xb, tb in iterate_minibatches(x, t, batch_size, shuffle=True, seed=rng):
            losses.append(train_step(model, optimizer, xb, tb, step=len(losses) + 1, epoch=epoch))
        if on_epoch is not None:
            on_epoch(epoch)
    return losses


def book_model(params: Mapping[str, float], seed: int, hidden: Sequence[int] = (100,) * 6) -> Any:
    """The ch. 6.5.3 network: MultiLayerNet 784-100x6-10 (ReLU, He init) with L2 ``weight_decay``."""
    return MultiLayerNet(784, list(hidden), 10, weight_decay_lambda=params.get("weight_decay", 0.0), seed=seed)


def model_builder(hidden: Sequence[int]) -> Callable[[Mapping[str, float], int], Any]:
    """build(params, seed) -> :func:`book_model` with other hidden layer sizes."""
    return functools.partial(book_model, hidden=tuple(int(h) for h in hidden))


def run_trial(params: Mapping[str, float], x_train: Any, t_train: Any, x_val: Any, t_val: Any, *,
              epochs: int = 50, batch_size: int = 100, optimizer: str = "sgd", seed: int = 0, number: int = 0,
              build_model: Callable[[Mapping[str, float], int], Any] = book_model,
              on_epoch: Callable[[Trial], Any] | None = None) -> Trial:
    """Train one setting and record train/validation accuracy after every epoch.

    ``params['lr']`` goes to the optimizer, everything to ``build_model(params, seed)``. A diverging
    run is kept with status ``failed: ...`` and its accuracies so far (the book just scores it low).
    ``on_epoch(trial)`` runs after each epoch's accuracies are recorded; what it raises (e.g. a
    pruning signal) propagates.
    """
    t0 = time.perf_counter()
    model = build_model(params, seed)
    opt = get_optimizer(optimizer, lr=params.get("lr", 0.01))
    trial = Trial(number=number, params=dict(params), seed=seed)

    def record(_: int) -> None:
        trial.train_acc.append(model.accuracy(x_train, t_train))
        trial.val_acc.append(model.accuracy(x_val, t_val))
        if on_epoch is not None:
            on_epoch(trial)

    try:
        train_epochs(model, opt, x_train, t_train, epochs, batch_size, seed=seed + 1, on_epoch=record)
    except Diverged as exc:  # NaN/inf loss or gradient
        trial.status = f"failed: {exc}"
    trial.wall_time_s = time.perf_counter() - t0
    return trial


def random_search(x_train: Any, t_train: Any, x_val: Any, t_val: Any, *, n_trials: int = 100, epochs: int = 50,
                  batch_size: int = 100, space: Mapping[str, tuple[float, float]] | None = None,
                  optimizer: str = "sgd", seed: int = 0,
                  build_model: Callable[[Mapping[str, float], int], Any] = book_model,
                  callback: Callable[[Trial], Any] | None = None) -> SearchResult:
    """The book's random search (ch. 6.5.3): ``n_trials`` log-uniform draws from ``space``, each trained
    for ``epochs`` and scored on the validation data (never the test data).

    Defaults are the book's: 100 trials of 50 epochs, batch 100, SGD, lr 10^U(-6,-2) and weight decay
    10^U(-8,-4). ``callback(trial)`` is called after each trial (progress output).
    """
    space = dict(BOOK_SPACE if space is None else space)
    n_trials, epochs = check_int("n_trials", n_trials, 1), check_int("epochs", epochs, 1)
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    for i in range(int(n_trials)):
        params = sample_params(rng, space)
        trial_seed = int(rng.integers(2**31))
        trial = run_trial(params, x_train, t_train, x_val, t_val, epochs=epochs, batch_size=batch_size,
                          optimizer=optimizer, seed=trial_seed, number=i, build_model=build_model)
        trials.append(trial)
        if callback is not None:
            callback(trial)
    settings = {"n_trials": int(n_trials), "epochs": int(epochs), "batch_size": int(batch_size),
                "optimizer": optimizer, "seed": seed, "n_train": len(x_train), "n_val": len(x_val)}
    return SearchResult(trials, {k: (float(a), float(b)) for k, (a, b) in space.items()}, settings)


def log_uniform_bounds(space: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """(10**low, 10**high) per name: the value range a space can produce."""
    return {k: (10.0 ** lo, 10.0 ** hi) for k, (lo, hi) in space.items()}


__all__: Sequence[str] = [
    "BOOK_SPACE", "SearchResult", "Trial", "book_model", "log_uniform_bounds", "model_builder", "random_search",
    "run_trial", "sample_log_uniform", "sample_params", "train_epochs",
]
