"""One training step (ch. 4.5, 5.7.4): forward and backward, a divergence check, then the update.

``train_step(model, optimizer, x, t)`` is the only place that goes from a gradient to an update:
the Trainer, the tuner's trials and every experiment's training loop call it. A NaN/inf loss or
gradient raises :class:`Diverged` *before* the update, so the parameters stay as they were.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from . import backend

DIVERGED_HINT = "the network diverged; try a smaller learning rate"


class Diverged(ValueError):
    """The loss or a gradient became NaN/inf. ``reason`` says what, ``step`` and ``lr`` where (None: unknown).

    Raised by the loss layers on non-finite scores or loss and by :func:`train_step`; a ValueError,
    so code that catches bad values catches it too, without reading the message.
    """

    def __init__(self, reason: str, step: int | None = None, lr: float | None = None,
                 epoch: int | None = None) -> None:
        self.reason, self.step, self.lr, self.epoch = reason, step, lr, epoch
        super().__init__(self.describe())

    def describe(self) -> str:
        """The message: the reason alone, or where it happened and the usual fix."""
        if self.step is None:
            return f"{self.reason} — {DIVERGED_HINT}"
        where = f"step {self.step}" + (f" (epoch {self.epoch})" if self.epoch is not None else "")
        lr = self.lr
        lr_txt = f" (now lr={lr:g}; try lr={lr / 10:g})" if isinstance(lr, (int, float)) and lr > 0 else ""
        return (f"training diverged at {where}: {self.reason}. Use a smaller learning rate{lr_txt}; "
                "the parameters are left as they were before this step.")

    def at(self, step: int | None, lr: float | None, epoch: int | None = None) -> "Diverged":
        """The same divergence, told where it happened (an instance of the same class)."""
        return type(self)(self.reason, step=step, lr=lr, epoch=epoch)


def check_finite(loss: float, grads: Mapping[str, Any]) -> None:
    """Raise :class:`Diverged` unless the loss and every gradient are finite."""
    if not math.isfinite(loss):
        raise Diverged(f"the loss is {loss}")
    xp = backend.xp
    for name, g in grads.items():
        if not bool(xp.isfinite(g).all()):
            raise Diverged(f"the gradient of {name} contains NaN/inf")


def train_step(model: Any, optimizer: Any, x: Any, t: Any, *, step: int | None = None, epoch: int | None = None,
               check: bool = True, on_gradient: Callable[[float, dict[str, Any]], Any] | None = None) -> float:
    """grads = model.gradient(x, t); [check]; optimizer.update(model.params, grads); returns the loss.

    ``check`` (default): a non-finite loss or gradient raises :class:`Diverged` naming ``step``
    (and ``epoch``) and the optimizer's lr, before any parameter moves. ``on_gradient(loss, grads)``
    runs between backward and the check (the Trainer's callbacks). ``check=False`` skips the check
    and lets a loss layer's Diverged through untouched.
    """
    try:
        grads = model.gradient(x, t)
    except Diverged as exc:
        if not check:
            raise
        raise exc.at(step, getattr(optimizer, "lr", None), epoch) from None
    loss = float(model.last_loss)
    if on_gradient is not None:
        on_gradient(loss, grads)
    if check:
        try:
            check_finite(loss, grads)
        except Diverged as exc:
            raise exc.at(step, getattr(optimizer, "lr", None), epoch) from None
    optimizer.update(model.params, grads)
    return loss


__all__ = ["DIVERGED_HINT", "Diverged", "check_finite", "train_step"]
