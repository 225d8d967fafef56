"""The Optuna side of `nnscratch tune`: the study in an RDB storage, its workers and their heartbeats.

Each trial trains the book's network on a validation split (:func:`.search.run_trial`) and is scored
by its final validation accuracy. The study lives in an RDB storage (default ``sqlite:///<out>/study.db``),
so it can be stopped and resumed, and many workers share it: :func:`spawn_workers` starts processes
here, and the same command with a PostgreSQL URL on other machines joins the same study. Trial
numbers are handed out by the storage; a trial numbered >= the budget is never run, so the study ends
with exactly that many finished (complete, pruned or failed) trials. A killed worker's trial stops
sending heartbeats and is marked failed after the grace period.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .. import optional
from .search import Trial, model_builder, run_trial


def optuna_or_none() -> Any:
    """The optuna module, or None when it is not installed."""
    optuna = optional.load("optuna")
    if optuna is None:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    return optuna


def trial_seed(seed: int, number: int) -> int:
    """Seed of trial ``number``: the same in every worker, different for every trial."""
    return int(np.random.SeedSequence([int(seed), int(number)]).generate_state(1)[0])


# ------------------------------------------------------------------------------------------ Optuna side
def make_sampler(name: str, seed: int) -> Any:
    """RandomSampler or TPESampler, re-seeded per trial from (seed, trial number) so workers never repeat draws."""
    optuna = optuna_or_none()

    def make(s: int) -> Any:
        return optuna.samplers.TPESampler(seed=s) if name == "tpe" else optuna.samplers.RandomSampler(seed=s)

    class TrialSeeded(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self.inner = make(seed)

        def before_trial(self, study: Any, trial: Any) -> None:
            self.inner = make(trial_seed(seed, trial.number))
            self.inner.before_trial(study, trial)

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self.inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study: Any, trial: Any, space: Any) -> Any:
            return self.inner.sample_relative(study, trial, space)

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            return self.inner.sample_independent(study, trial, name, dist)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.inner.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.inner.reseed_rng()

    return TrialSeeded()


def open_study(args: argparse.Namespace, settings: dict[str, Any]) -> tuple[Any, Any]:
    """(study, storage): create or load ``--study`` in ``--storage`` with heartbeats; refuse other settings."""
    optuna = optuna_or_none()
    engine = {"connect_args": {"timeout": 120}} if args.storage.startswith("sqlite") else {}
    storage = optuna.storages.RDBStorage(args.storage, engine_kwargs=engine, heartbeat_interval=args.heartbeat,
                                         grace_period=args.grace_period)
    pruner = (optuna.pruners.NopPruner() if args.no_prune
              else optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(2, args.epochs // 5)))
    study = optuna.create_study(study_name=args.study, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=make_sampler(args.sampler, args.seed), pruner=pruner)
    old = study.user_attrs.get("settings")
    if old is None:
        study.set_user_attr("settings", settings)
    elif old != json.loads(json.dumps(settings)):
        diff = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in settings.items() if old.get(k) != v)
        raise ValueError(f"study {args.study!r} in {mask_url(args.storage)} was run with other settings ({diff}); "
                         "repeat its options to resume it, or pass a new --study name")
    return study, storage


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int, interval: float) -> Iterator[None]:
    """Record the trial's heartbeat now and every ``interval`` seconds until the block ends."""
    stop = threading.Event()
    storage.record_heartbeat(trial_id)

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a busy database: the next beat retries
                storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def fail_stale(study: Any, storage: Any, grace: float, total: int) -> None:
    """Mark dead workers' RUNNING trials FAIL: no heartbeat for ``grace`` s (or none at all after ``grace`` s)."""
    optuna = optuna_or_none()
    state_ = optuna.trial.TrialState
    optuna.storages.fail_stale_trials(study)
    now = datetime.now()
    for ft in study.get_trials(deepcopy=False, states=(state_.RUNNING,)):
        # a worker records the heartbeat before "pid": no pid means it died before its first beat,
        # and before the budget check when the number is >= total (then the trial was never to run)
        if "pid" not in ft.user_attrs and ft.datetime_start and (now - ft.datetime_start).total_seconds() > grace:
            with contextlib.suppress(Exception):
                storage.set_trial_state_values(ft._trial_id, state_.WAITING if ft.number >= total else state_.FAIL)


def objective(trial: Any, data: tuple[np.ndarray, ...], settings: Mapping[str, Any]) -> float:
    """Train one sampled setting, reporting validation accuracy per epoch to the pruner."""
    optuna = optuna_or_none()
    (lr_lo, lr_hi), (wd_lo, wd_hi) = settings["lr_range"], settings["wd_range"]
    params = {"lr": trial.suggest_float("lr", 10.0 ** lr_lo, 10.0 ** lr_hi, log=True),
              "weight_decay": trial.suggest_float("weight_decay", 10.0 ** wd_lo, 10.0 ** wd_hi, log=True)}

    def report(tr: Trial) -> None:
        epoch = len(tr.val_acc)
        trial.report(tr.val_acc[-1], epoch)
        if epoch < settings["epochs"] and trial.should_prune():  # a finished run is scored, not pruned
            trial.set_user_attr("train_acc", tr.train_acc)
            raise optuna.TrialPruned(f"validation accuracy {100 * tr.val_acc[-1]:.1f} % after epoch {epoch}")

    result = run_trial(params, *data, epochs=settings["epochs"], batch_size=settings["batch_size"],
                       optimizer=settings["optimizer"], seed=trial_seed(settings["seed"], trial.number),
                       number=trial.number, build_model=model_builder(settings["hidden"]), on_epoch=report)
    trial.set_user_attr("train_acc", result.train_acc)
    trial.set_user_attr("status", result.status)
    return result.final_val_acc


def work(study: Any, storage: Any, args: argparse.Namespace, settings: Mapping[str, Any],
         data: tuple[np.ndarray, ...]) -> int:
    """One worker: run trials until trial numbers reach ``--trials``; returns how many it ran."""
    optuna = optuna_or_none()
    state_ = optuna.trial.TrialState
    claimed = (state_.RUNNING, state_.COMPLETE, state_.PRUNED, state_.FAIL)
    pid, done = os.getpid(), 0
    while True:
        fail_stale(study, storage, args.grace_period, args.trials)
        if len(study.get_trials(deepcopy=False, states=claimed)) >= args.trials:
            return done
        trial = study.ask()
        if trial.number >= args.trials:  # another worker took the last number: hand this one back unused
            storage.set_trial_state_values(trial._trial_id, state_.WAITING)
            return done
        t0 = time.perf_counter()
        with heartbeat(storage, trial._trial_id, args.heartbeat):
            trial.set_user_attr("pid", pid)
            trial.set_user_attr("host", socket.gethostname())
            value, state, note = None, state_.COMPLETE, ""
            try:
                value = objective(trial, data, settings)
            except optuna.TrialPruned as exc:
                state, note = state_.PRUNED, f" ({exc})"
            except Exception as exc:  # noqa: BLE001 - a failing trial must not stop the study
                state, note = state_.FAIL, f": {type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    trial.set_user_attr("status", f"failed{note}")
            except KeyboardInterrupt:
                trial.set_user_attr("status", "failed: interrupted")
                study.tell(trial, state=state_.FAIL)
                raise
            try:
                study.tell(trial, value, state=state)
            except Exception as exc:  # noqa: BLE001 - e.g. marked stale meanwhile
                note += f" (not recorded: {exc})"
        done += 1
        acc = f"val {100 * value:.1f} %" if value is not None else state.name.lower()
        lr, wd = trial.params.get("lr", float("nan")), trial.params.get("weight_decay", float("nan"))
        print(f"[worker {pid}] trial {trial.number}: lr {lr:.2e}, weight decay {wd:.2e} -> {acc}{note} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)


def wait_for_running(study: Any, storage: Any, args: argparse.Namespace) -> None:
    """Wait until no trial is RUNNING (other machines' trials finish, dead workers' trials go stale)."""
    optuna = optuna_or_none()
    said = False
    while True:
        fail_stale(study, storage, args.grace_period, args.trials)
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if not running:
            return
        if not said:
            print(f"waiting for {len(running)} running trial(s): other machines' workers finish theirs, a dead "
                  f"worker's trial is marked failed {args.grace_period} s after its last heartbeat", flush=True)
            said = True
        time.sleep(min(1.0, args.heartbeat))


def spawn_workers(args: argparse.Namespace, n: int) -> list[int]:
    """Run ``n`` worker processes of this command (one BLAS thread each); returns their exit codes."""
    argv = [sys.executable, "-m", "nnscratch", "tune", "--sampler", args.sampler, "--trials", str(args.trials),
            "--storage", args.storage, "--study", args.study, "--epochs", str(args.epochs),
            "--train-size", str(args.train_size), "--dataset", args.dataset, "--val-ratio", str(args.val_ratio),
            "--hidden", ",".join(map(str, args.hidden)), "--lr-range", *map(str, args.lr_range),
            "--wd-range", *map(str, args.wd_range), "--seed", str(args.seed), "--out", str(args.out),
            "--batch-size", str(args.batch_size), "--heartbeat", str(args.heartbeat),
            "--grace-period", str(args.grace_period), "--workers", "1", "--worker-mode",
            *(["--no-prune"] if args.no_prune else [])]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    procs = [subprocess.Popen(argv, env=env) for _ in range(n)]
    print(f"started {n} workers: pids {', '.join(str(p.pid) for p in procs)}", flush=True)
    try:
        codes = [p.wait() for p in procs]
    except BaseException:  # Ctrl-C: workers mark their running trial FAIL on SIGINT
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        raise
    for p, code in zip(procs, codes):
        if code:
            print(f"warning: worker {p.pid} exited with code {code}; the other workers go on, and its "
                  f"running trial is marked failed after {args.grace_period} s", file=sys.stderr, flush=True)
    return codes


def study_records(study: Any) -> list[dict[str, Any]]:
    """One JSON-able record per trial of the study (WAITING trials, never run, left out)."""
    records = []
    for ft in study.get_trials(deepcopy=False):
        if ft.state.name == "WAITING":
            continue
        iv = ft.intermediate_values
        val = [float(iv[k]) for k in sorted(iv)]
        records.append({
            "number": ft.number, "state": ft.state.name, "params": dict(ft.params), "value": ft.value,
            "val_acc": val, "train_acc": ft.user_attrs.get("train_acc", []),
            "pid": ft.user_attrs.get("pid"), "host": ft.user_attrs.get("host"),
            "duration_s": ft.duration.total_seconds() if ft.duration else None,
            "status": ft.user_attrs.get("status") or ("failed: its worker stopped mid-trial" if ft.state.name == "FAIL"
                                                      else ft.state.name.lower()),
        })
    return records


def mask_url(url: str) -> str:
    """The storage URL with any password replaced by ***."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)
