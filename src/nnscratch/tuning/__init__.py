"""Hyper-parameter search (ch. 6.5), shaped like :mod:`nnscratch.experiments`.

* :mod:`.search`: the book's recipe: validation split, log-uniform draws, random search, one trial.
* :mod:`.storage`: where a study lives (SQLite, PostgreSQL, journal file), its locks and retries.
* :mod:`.study`: the same trials on Optuna: a study in that storage, workers, heartbeats, resume.
* :mod:`.report`: tune.json and tune.png.
* :mod:`.command`: ``nnscratch tune``.
"""
from __future__ import annotations

from .report import figure, ranked, report, search_records
from .search import (BOOK_SPACE, SearchResult, Trial, book_model, log_uniform_bounds, model_builder, random_search,
                     run_trial, sample_log_uniform, sample_params, train_epochs)
from .storage import StorageUnavailable, claim_lock, mask_url, open_storage, retrying
from .study import (census, claim, fail_stale, heartbeat, load_study, make_sampler, max_failures, objective,
                    open_study, optuna_or_none, spawn_workers, study_records, trial_seed, wait_for_running, work)

__all__ = [
    "BOOK_SPACE", "SearchResult", "StorageUnavailable", "Trial", "book_model", "census", "claim", "claim_lock",
    "fail_stale", "load_study", "max_failures", "open_storage", "retrying", "figure", "heartbeat", "log_uniform_bounds",
    "make_sampler", "mask_url", "model_builder", "objective", "open_study", "optuna_or_none", "random_search",
    "ranked", "report", "run_trial", "sample_log_uniform", "sample_params", "search_records", "spawn_workers",
    "study_records", "train_epochs", "trial_seed", "wait_for_running", "work",
]
