"""The Optuna side of `nnscratch tune`: the study in an RDB storage, its workers and their heartbeats.

Each trial trains the book's network on a validation split (:func:`.search.run_trial`) and is scored
by its final validation accuracy. The study lives in an RDB storage (default ``sqlite:///<out>/study.db``),
so it can be stopped and resumed, and many workers share it: :func:`spawn_workers` starts processes
here, and the same command with a PostgreSQL URL on other machines joins the same study. Trial
numbers are handed out by the storage. A worker claims a trial under :func:`.storage.claim_lock` only
while fewer than ``--trials`` are complete, pruned or running, so the study ends with exactly that many
complete or pruned trials, counted over every process and machine. A killed worker's trial stops
sending heartbeats, is marked failed after the grace period, and another trial replaces it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .. import optional
from .search import Trial, model_builder, run_trial
from .storage import StorageUnavailable, beat, claim_lock, mask_url, open_storage, retrying

#: trial states that count against the budget: done (complete, pruned) or being run
CLAIMED = ("COMPLETE", "PRUNED", "RUNNING")


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
    storage = open_storage(args.storage, args.heartbeat, args.grace_period)
    pruner = (optuna.pruners.NopPruner() if args.no_prune
              else optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(2, args.epochs // 5)))

    def create() -> tuple[Any, Any]:
        with claim_lock(args.storage, args.study):  # the first of several invocations creates it, alone
            study = optuna.create_study(study_name=args.study, storage=storage, direction="maximize",
                                        load_if_exists=True, sampler=make_sampler(args.sampler, args.seed),
                                        pruner=pruner)
            old = study.user_attrs.get("settings")
            if old is None:
                study.set_user_attr("settings", settings)
            return study, old

    study, old = retrying(create, args.storage, args.retry_for, "opening the study")
    if old is not None and old != json.loads(json.dumps(settings)):
        diff = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in settings.items() if old.get(k) != v)
        raise ValueError(f"study {args.study!r} in {mask_url(args.storage)} was run with other settings ({diff}); "
                         "repeat its options to resume it, or pass a new --study name")
    return study, storage


def load_study(url: str, name: str) -> tuple[Any, dict[str, Any]]:
    """(study, its settings) of an existing study made by `nnscratch tune`, from any storage; nothing is created."""
    optuna = optuna_or_none()
    for prefix in ("sqlite:///", "journal:"):
        path = url[len(prefix):]
        if url.startswith(prefix) and path and path != ":memory:" and not Path(path).expanduser().is_file():
            raise FileNotFoundError(f"--storage {url}: no such file (nothing to report)")
    storage = open_storage(url, heartbeat=60, grace=120)
    names = optuna.get_all_study_names(storage)
    if name not in names:
        raise ValueError(f"no study {name!r} in {mask_url(url)}; --study must be one of: "
                         + (", ".join(sorted(names)) or "(the storage holds no study)"))
    study = optuna.load_study(study_name=name, storage=storage)
    settings = study.user_attrs.get("settings")
    if not isinstance(settings, dict):
        raise ValueError(f"study {name!r} in {mask_url(url)} was not made by nnscratch tune (no settings recorded)")
    return study, settings


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int, interval: float,
              retry: Callable[[Callable[[], Any], str], Any] | None = None) -> Iterator[None]:
    """Record the trial's heartbeat now and every ``interval`` seconds until the block ends.

    ``retry(call, what)`` runs the first beat (the worker's :func:`.storage.retrying`), so a database
    restarting just as a trial starts is waited for rather than fatal; a later beat that fails is
    simply retried by the next one.
    """
    stop = threading.Event()
    first = lambda: beat(storage, trial_id)  # noqa: E731
    if retry is None:
        first()
    else:
        retry(first, "recording a heartbeat")

    def beats() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a busy or restarting database: the next beat retries
                beat(storage, trial_id)

    thread = threading.Thread(target=beats, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def fail_stale(study: Any, storage: Any, grace: float) -> int:
    """Mark dead workers' RUNNING trials FAIL; returns how many.

    On an RDB storage Optuna compares each trial's heartbeat with the database's clock. On a journal
    (no heartbeat table) a trial's ``heartbeat`` user attr (the worker's wall clock, so machines keep
    NTP time) older than ``grace`` s marks it dead. A trial without ``pid`` died while being claimed,
    before its first beat: it is dead ``grace`` s after its start.
    """
    optuna = optuna_or_none()
    state_ = optuna.trial.TrialState
    before = {t.number for t in study.get_trials(deepcopy=False, states=(state_.FAIL,))}
    optuna.storages.fail_stale_trials(study)
    now_dt, now = datetime.now(), time.time()
    for ft in study.get_trials(deepcopy=False, states=(state_.RUNNING,)):
        hb = ft.user_attrs.get("heartbeat")
        if hb is not None:
            stale = now - float(hb) > grace
        else:
            stale = ("pid" not in ft.user_attrs and ft.datetime_start is not None
                     and (now_dt - ft.datetime_start).total_seconds() > grace)
        if stale:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another process was first
                storage.set_trial_state_values(ft._trial_id, state_.FAIL)
    after = {t.number for t in study.get_trials(deepcopy=False, states=(state_.FAIL,))}
    return len(after - before)


def census(study: Any) -> dict[str, int]:
    """How many trials of the study are in each state (by name: COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    counts = dict.fromkeys(("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"), 0)
    for ft in study.get_trials(deepcopy=False):
        counts[ft.state.name] = counts.get(ft.state.name, 0) + 1
    return counts


def max_failures(trials: int) -> int:
    """Failed trials after which workers stop instead of replacing them (a broken setup, not bad luck)."""
    return max(5, int(trials))


def claim(study: Any, storage: Any, args: argparse.Namespace, orphans: list[int] | None = None) -> Any:
    """Under the claim lock: fail stale trials, then the next trial to run (pid, host set) or None when done.

    ``orphans`` carries, from one retried attempt to the next, the id of a trial that was created
    but not fully claimed when the storage went away: it is failed first, so it need not go stale.
    """
    optuna = optuna_or_none()
    orphans = [] if orphans is None else orphans
    with claim_lock(args.storage, args.study):
        while orphans:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                storage.set_trial_state_values(orphans[-1], optuna.trial.TrialState.FAIL)
            orphans.pop()
        fail_stale(study, storage, args.grace_period)
        n = census(study)
        if sum(n[s] for s in CLAIMED) >= args.trials:
            return None
        if n["FAIL"] >= max_failures(args.trials):
            raise RuntimeError(f"study {args.study!r} has {n['FAIL']} failed trials; workers stop replacing them "
                               "(see the trials' status in tune.json, fix the cause, then rerun or use a new --study)")
        trial = study.ask()
        orphans.append(trial._trial_id)
        beat(storage, trial._trial_id)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        orphans.pop()
        return trial


def objective(trial: Any, data: tuple[np.ndarray, ...], settings: Mapping[str, Any],
              call: Callable[[Callable[[], Any], str], Any] = lambda f, what: f()) -> float:
    """Train one sampled setting, reporting validation accuracy per epoch to the pruner.

    ``call(f, what)`` runs each storage call ``f`` (:func:`work` passes :func:`.storage.retrying`).
    """
    optuna = optuna_or_none()
    (lr_lo, lr_hi), (wd_lo, wd_hi) = settings["lr_range"], settings["wd_range"]
    params = call(lambda: {"lr": trial.suggest_float("lr", 10.0 ** lr_lo, 10.0 ** lr_hi, log=True),
                           "weight_decay": trial.suggest_float("weight_decay", 10.0 ** wd_lo, 10.0 ** wd_hi,
                                                               log=True)}, f"sampling trial {trial.number}")

    def report(tr: Trial) -> None:
        epoch = len(tr.val_acc)
        call(lambda: trial.report(tr.val_acc[-1], epoch), f"reporting trial {trial.number}")
        # a finished run is scored, not pruned
        if epoch < settings["epochs"] and call(trial.should_prune, f"asking the pruner for trial {trial.number}"):
            call(lambda: trial.set_user_attr("train_acc", tr.train_acc), f"recording trial {trial.number}")
            raise optuna.TrialPruned(f"validation accuracy {100 * tr.val_acc[-1]:.1f} % after epoch {epoch}")

    result = run_trial(params, *data, epochs=settings["epochs"], batch_size=settings["batch_size"],
                       optimizer=settings["optimizer"], seed=trial_seed(settings["seed"], trial.number),
                       number=trial.number, build_model=model_builder(settings["hidden"]), on_epoch=report)
    call(lambda: (trial.set_user_attr("train_acc", result.train_acc), trial.set_user_attr("status", result.status)),
         f"recording trial {trial.number}")
    return result.final_val_acc


def work(study: Any, storage: Any, args: argparse.Namespace, settings: Mapping[str, Any],
         data: tuple[np.ndarray, ...]) -> int:
    """One worker: claim and run trials until ``--trials`` are complete, pruned or running; returns how many it ran.

    Storage calls are retried for ``--retry-for`` s while the server is away; after that the worker
    stops with :class:`.storage.StorageUnavailable` and its running trial goes stale (failed, replaced).
    """
    optuna = optuna_or_none()
    state_ = optuna.trial.TrialState
    pid, done, orphans = os.getpid(), 0, []

    def call(f: Callable[[], Any], what: str) -> Any:
        return retrying(f, args.storage, args.retry_for, what)

    while True:
        trial = call(lambda: claim(study, storage, args, orphans), "claiming a trial")
        if trial is None:
            return done
        t0 = time.perf_counter()
        with heartbeat(storage, trial._trial_id, args.heartbeat, retry=call):
            value, state, note = None, state_.COMPLETE, ""
            try:
                value = objective(trial, data, settings, call)
            except optuna.TrialPruned as exc:
                state, note = state_.PRUNED, f" ({exc})"
            except StorageUnavailable:
                raise  # the trial stays RUNNING; it is failed and replaced once its heartbeat is stale
            except Exception as exc:  # noqa: BLE001 - a failing trial must not stop the study
                state, note = state_.FAIL, f": {type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    trial.set_user_attr("status", f"failed{note}")
            except KeyboardInterrupt:
                with contextlib.suppress(Exception):
                    trial.set_user_attr("status", "failed: interrupted")
                    study.tell(trial, state=state_.FAIL)
                raise
            try:
                call(lambda: study.tell(trial, value, state=state), f"recording trial {trial.number}")
            except StorageUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. marked stale meanwhile
                now = storage.get_trial(trial._trial_id).state
                if now != state:  # (the same state: a retried tell whose first try was committed)
                    note += f" (not recorded: the trial is {now.name}: {exc})"
        done += 1
        acc = f"val {100 * value:.1f} %" if value is not None else state.name.lower()
        lr, wd = trial.params.get("lr", float("nan")), trial.params.get("weight_decay", float("nan"))
        print(f"[worker {pid}] trial {trial.number}: lr {lr:.2e}, weight decay {wd:.2e} -> {acc}{note} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)


def wait_for_running(study: Any, storage: Any, args: argparse.Namespace) -> None:
    """Wait until no trial is RUNNING (other machines' trials finish, dead workers' trials go stale)."""
    said = False

    def running() -> int:
        fail_stale(study, storage, args.grace_period)
        return census(study)["RUNNING"]

    while True:
        n = retrying(running, args.storage, args.retry_for, "waiting for running trials")
        if not n:
            return
        if not said:
            print(f"waiting for {n} running trial(s): other machines' workers finish theirs, a dead "
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
            "--grace-period", str(args.grace_period), "--retry-for", str(args.retry_for), "--workers", "1",
            "--worker-mode",
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

