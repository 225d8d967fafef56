"""The book's experiments, one command each: `nnscratch experiment NAME [--quick]`.

Each chapter module registers its experiments with :func:`base.experiment`; this package imports
them all (in book order), so :data:`EXPERIMENTS` is complete once ``nnscratch.experiments`` is
imported. Helpers they share live in :mod:`.common`; the command is :mod:`.command`.
"""
from __future__ import annotations

from . import ch3_4, ch3_data, ch6_optimizers, ch6_init, ch6_regularization, ch6_hyperparams, ch7_8, ch8_augment  # noqa: F401 - they register
from .base import EXPERIMENTS, Context, Experiment, experiment, run_experiment

MODULES = ("ch3_4", "ch3_data", "ch6_optimizers", "ch6_init", "ch6_regularization", "ch6_hyperparams", "ch7_8",
           "ch8_augment")


def load_all() -> dict[str, Experiment]:
    """The registry of every experiment, in book order (all registered on import of this package)."""
    return EXPERIMENTS


__all__ = ["EXPERIMENTS", "Context", "Experiment", "experiment", "run_experiment", "load_all", "MODULES"]
