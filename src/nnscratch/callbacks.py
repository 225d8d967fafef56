"""Trainer callbacks: progress bar, checkpoints, early stopping, and the NaN/inf guard.

A callback overrides any of ``on_train_begin / on_epoch_begin / on_step_end / on_epoch_end /
on_train_end(trainer)``; ``on_backward_end(trainer, loss, grads)`` runs before the update.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from . import optional
from .step import Diverged
from .validation import check_choice, check_int, check_number


class TrainingDiverged(Diverged, RuntimeError):
    """The Trainer's :class:`~nnscratch.step.Diverged`: the loss or a gradient became NaN/inf, training
    stopped before the update that would spread it. Also a RuntimeError, as it was before Diverged."""


class Callback:
    """Base class: every hook receives the Trainer and does nothing by default."""

    def on_train_begin(self, trainer: Any) -> None: ...
    def on_epoch_begin(self, trainer: Any) -> None: ...
    def on_backward_end(self, trainer: Any, loss: float, grads: dict[str, Any]) -> None: ...
    def on_step_end(self, trainer: Any) -> None: ...
    def on_epoch_end(self, trainer: Any) -> None: ...
    def on_train_end(self, trainer: Any) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state a checkpoint keeps so that a resumed run behaves the same."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class NaNGuard(Callback):
    """Stop with TrainingDiverged when the loss or any gradient is NaN/inf (on by default in Trainer).

    While a NaNGuard is among a Trainer's callbacks, each step runs ``train_step(check=True)``: the
    check happens after every callback's ``on_backward_end`` and before the update.
    """


class EarlyStopping(Callback):
    """Stop when ``monitor`` ('val_acc', 'test_acc', 'train_acc' or 'loss') has not improved by
    more than ``min_delta`` for ``patience`` epochs; accuracies are maximised, the loss minimised."""

    MONITORS = {"val_acc": "val_acc", "test_acc": "test_acc", "train_acc": "train_acc", "loss": "epoch_loss"}

    def __init__(self, monitor: str = "val_acc", patience: int = 5, min_delta: float = 0.0) -> None:
        self.monitor = check_choice("monitor", monitor, sorted(self.MONITORS))
        self.patience = check_int("patience", patience, 1)
        self.min_delta = check_number("min_delta", min_delta, 0.0)
        self.mode = "min" if monitor == "loss" else "max"
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_train_begin(self, trainer: Any) -> None:
        if self.monitor == "val_acc" and trainer.x_val is None:
            raise ValueError("EarlyStopping(monitor='val_acc') needs x_val/t_val; pass them or monitor 'test_acc'")
        if self.monitor == "test_acc" and trainer.x_test is None:
            raise ValueError("EarlyStopping(monitor='test_acc') needs x_test/t_test")

    def on_epoch_end(self, trainer: Any) -> None:
        value = getattr(trainer.history, self.MONITORS[self.monitor])[-1]
        better = self.best is None or (
            value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        )
        if better:
            self.best, self.best_epoch, self.wait = float(value), trainer.current_epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = trainer.current_epoch
            trainer.stop_training = True
            if trainer.verbose:
                print(f"early stopping at epoch {trainer.current_epoch}: {self.monitor} has not improved "
                      f"for {self.patience} epochs (best {self.best:.4f} at epoch {self.best_epoch})")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]


class Checkpoint(Callback):
    """Save model + optimizer + history + epoch + RNG states every ``every`` epochs (and the last one).

    ``path`` ending in .npz is overwritten each time; otherwise it is a directory receiving
    ``epoch_001.npz``, ``epoch_002.npz``... Writes are atomic; ``last_path`` is the latest file.
    """

    def __init__(self, path: str | os.PathLike[str], every: int = 1) -> None:
        self.path, self.every = Path(path), check_int("every", every, 1)
        self.last_path: Path | None = None

    def file_for(self, epoch: int) -> Path:
        return self.path if self.path.suffix == ".npz" else self.path / f"epoch_{epoch:03d}.npz"

    def on_epoch_end(self, trainer: Any) -> None:
        e = trainer.current_epoch
        if e % self.every == 0 or e >= trainer.epochs or trainer.stop_training:
            self.last_path = trainer.save_checkpoint(self.file_for(e))


def latest_checkpoint(directory: str | os.PathLike[str]) -> Path:
    """The ``epoch_NNN.npz`` with the highest epoch in a Checkpoint directory."""
    directory = Path(directory)
    found = [(int(m.group(1)), p) for p in directory.glob("epoch_*.npz") if (m := re.fullmatch(r"epoch_(\d+)\.npz", p.name))]
    if not found:
        raise FileNotFoundError(f"no epoch_NNN.npz checkpoint in {directory}")
    return max(found)[1]


class ProgressBar(Callback):
    """A tqdm bar over each epoch's steps showing the loss and the last accuracy; a plain line without tqdm.

    ``explicit=True`` (the user asked for a bar) prints how to install tqdm when it is missing.
    """

    def __init__(self, explicit: bool = False, stream: Any = None) -> None:
        self.explicit, self.stream = explicit, stream
        self._tqdm: Any = None
        self._bar: Any = None
        self._every = 1
        self._warned = False

    def on_train_begin(self, trainer: Any) -> None:
        tqdm = optional.load("tqdm.auto")
        self._tqdm = None if tqdm is None else tqdm.tqdm
        if tqdm is None and self.explicit and not self._warned:
            print("progress bar needs tqdm: pip install nnscratch[progress] (showing plain progress)",
                  file=self._out())
            self._warned = True

    def _out(self) -> Any:
        return self.stream if self.stream is not None else sys.stderr

    def _postfix(self, trainer: Any) -> dict[str, str]:
        h = trainer.history
        post = {"loss": f"{trainer.last_loss:.4f}" if trainer.last_loss is not None else "-"}
        for key in ("val_acc", "test_acc", "train_acc"):
            if getattr(h, key):
                post[key.replace("_acc", " acc")] = f"{getattr(h, key)[-1]:.4f}"
                break
        return post

    def on_epoch_begin(self, trainer: Any) -> None:
        total = trainer.iter_per_epoch
        desc = f"epoch {trainer.current_epoch + 1}/{trainer.epochs}"
        if self._tqdm is not None:
            out = self._out()
            tty = bool(getattr(out, "isatty", lambda: False)())
            # in a log file (not a terminal) refresh rarely, so the log stays readable
            self._bar = self._tqdm(total=total, desc=desc, leave=True, file=out, dynamic_ncols=True,
                                   mininterval=0.1 if tty else 30.0)
        self._every = max(1, total // 10)

    def on_step_end(self, trainer: Any) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(self._postfix(trainer), refresh=False)
        elif trainer.steps_in_epoch % self._every == 0:
            post = "  ".join(f"{k} {v}" for k, v in self._postfix(trainer).items())
            print(f"\repoch {trainer.current_epoch + 1}/{trainer.epochs}  step {trainer.steps_in_epoch}/"
                  f"{trainer.iter_per_epoch}  {post}", end="", file=self._out(), flush=True)

    def on_epoch_end(self, trainer: Any) -> None:
        if self._bar is not None:
            self._bar.set_postfix(self._postfix(trainer))
            self._bar.close()
            self._bar = None
        else:
            print(file=self._out(), flush=True)

    def on_train_end(self, trainer: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
