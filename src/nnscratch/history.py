"""History: what a training run records (loss per step; accuracies, or RMSE and R^2 for regression, per epoch).

Kept apart from :mod:`nnscratch.training` (which re-exports it) so both stay a screenful.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .fileio import atomic_write

__all__ = ["History"]


@dataclass
class History:
    """Loss per step; loss mean, train/val/test accuracy, wall time and learning rate per epoch."""

    loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    final_test_acc: float | None = None
    # regression (task "regression"): RMSE and R^2 per epoch instead of accuracies
    train_rmse: list[float] = field(default_factory=list)
    val_rmse: list[float] = field(default_factory=list)
    test_rmse: list[float] = field(default_factory=list)
    train_r2: list[float] = field(default_factory=list)
    val_r2: list[float] = field(default_factory=list)
    test_r2: list[float] = field(default_factory=list)
    final_test_rmse: float | None = None
    final_test_r2: float | None = None

    @property
    def epochs(self) -> int:
        return len(self.epoch_time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (plain floats and lists)."""
        return {f.name: (list(map(float, v)) if isinstance(v := getattr(self, f.name), list) else v)
                for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of to_dict; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"History.from_dict: unknown keys {unknown}; expected some of {sorted(names)}")
        return cls(**{k: (list(map(float, v)) if isinstance(v, list) else v) for k, v in d.items()})

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write to_dict() as JSON, atomically."""
        text = json.dumps(self.to_dict())
        return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))

    @classmethod
    def load_json(cls, path: str | os.PathLike[str]) -> "History":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
