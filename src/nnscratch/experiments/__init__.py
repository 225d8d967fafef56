"""The book's experiments, one command each: `nnscratch experiment NAME [--quick]`.

Each module registers its experiments with :func:`base.experiment`; ``load_all`` imports them.
"""
from __future__ import annotations

import importlib

from .base import EXPERIMENTS, Context, Experiment, experiment, run_experiment

MODULES = ("ch3_4", "ch6_optimizers", "ch6_init", "ch6_regularization", "ch6_hyperparams", "ch7_8")


def load_all() -> dict[str, Experiment]:
    """Import every experiment module (registering them) and return the registry in book order."""
    for mod in MODULES:
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{mod}":
                raise
    return EXPERIMENTS


__all__ = ["EXPERIMENTS", "Context", "Experiment", "experiment", "run_experiment", "load_all", "MODULES"]
