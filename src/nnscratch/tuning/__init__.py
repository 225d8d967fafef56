"""Hyper-parameter search (ch. 6.5), shaped like :mod:`nnscratch.experiments`.

* :mod:`.search`: the book's recipe: validation split, log-uniform draws, random search, one trial.
* :mod:`.study`: the same trials on Optuna: a study in an RDB storage, workers, heartbeats, resume.
* :mod:`.report`: tune.json and tune.png.
* :mod:`.command`: ``nnscratch tune``.
"""
from __future__ import annotations

from .report import figure, ranked, report, search_records
from .search import (BOOK_SPACE, SearchResult, Trial, book_model, log_uniform_bounds, model_builder, random_search,
                     run_trial, sample_log_uniform, sample_params, train_epochs)
from .study import (fail_stale, heartbeat, make_sampler, mask_url, objective, open_study, optuna_or_none,
                    spawn_workers, study_records, trial_seed, wait_for_running, work)

__all__ = [
    "BOOK_SPACE", "SearchResult", "Trial", "book_model", "fail_stale", "figure", "heartbeat", "log_uniform_bounds",
    "make_sampler", "mask_url", "model_builder", "objective", "open_study", "optuna_or_none", "random_search",
    "ranked", "report", "run_trial", "sample_log_uniform", "sample_params", "search_records", "spawn_workers",
    "study_records", "train_epochs", "trial_seed", "wait_for_running", "work",
]
