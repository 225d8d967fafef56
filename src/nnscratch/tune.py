"""`nnscratch tune`: the book's hyper-parameter search (ch. 6.5.3) as a tool, on Optuna when installed.

Each trial trains MultiLayerNet with SGD on a validation split and is scored by its final validation
accuracy; lr = 10^U(-6,-2) and weight decay = 10^U(-8,-4) by default. With Optuna the study lives in
an RDB storage (default ``sqlite:///<out>/study.db``), so it can be stopped and resumed, and many
workers share it: ``--workers N`` starts N processes here, and the same command with a PostgreSQL
``--storage postgresql://user:password@host/db`` on other machines joins the same study. Trial
numbers are handed out by the storage; a trial numbered >= --trials is never run, so the study ends
with exactly --trials finished (complete, pruned or failed) trials. A killed worker's trial stops
sending heartbeats and is marked failed after --grace-period seconds. Without Optuna, ``--sampler
random`` runs the book's random search in this process.
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
import textwrap
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from .tuning import Trial, random_search, run_trial

INSTALL_HINT = "pip install 'nnscratch[tune]'"


def optuna_or_none() -> Any:
    """The optuna module, or None when it is not installed."""
    try:
        import optuna  # noqa: PLC0415
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    return optuna


def trial_seed(seed: int, number: int) -> int:
    """Seed of trial ``number``: the same in every worker, different for every trial."""
    return int(np.random.SeedSequence([int(seed), int(number)]).generate_state(1)[0])


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """What makes trials comparable; a resumed study must be run with the same settings."""
    return {"dataset": args.dataset, "train_size": int(args.train_size), "val_ratio": float(args.val_ratio),
            "hidden": [int(h) for h in args.hidden], "epochs": int(args.epochs), "batch_size": int(args.batch_size),
            "optimizer": "sgd", "lr_range": [float(v) for v in args.lr_range],
            "wd_range": [float(v) for v in args.wd_range], "seed": int(args.seed)}


def load_split(settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, t_train, x_val, t_val): the first ``train_size`` images, split once with ``seed``."""
    from .cli import load_dataset  # noqa: PLC0415
    from .datasets import train_val_split  # noqa: PLC0415

    (x, t), _ = load_dataset(settings["dataset"], flatten=True)
    n = settings["train_size"]
    if not 2 <= n <= len(x):
        raise ValueError(f"--train-size must lie in [2, {len(x)}] for {settings['dataset']}, got {n}")
    (x_tr, t_tr), (x_val, t_val) = train_val_split(x[:n], t[:n], val_ratio=settings["val_ratio"],
                                                   seed=settings["seed"])
    if len(x_val) == 0:
        raise ValueError(f"--val-ratio {settings['val_ratio']} of {n} images leaves no validation data")
    return x_tr, t_tr, x_val, t_val


def model_builder(hidden: Sequence[int]) -> Callable[[Mapping[str, float], int], Any]:
    """build(params, seed) -> MultiLayerNet 784-hidden-10 (ReLU, He init) with L2 ``weight_decay``."""
    from .models import MultiLayerNet  # noqa: PLC0415

    def build(params: Mapping[str, float], seed: int) -> Any:
        return MultiLayerNet(784, list(hidden), 10, weight_decay_lambda=params.get("weight_decay", 0.0), seed=seed)

    return build


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
    src = str(Path(__file__).resolve().parents[1])
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


def search_records(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Records like :func:`study_records` from the book's random search."""
    return [{"number": tr.number, "state": "COMPLETE", "params": dict(tr.params), "value": tr.final_val_acc,
             "val_acc": list(tr.val_acc), "train_acc": list(tr.train_acc), "pid": os.getpid(),
             "host": socket.gethostname(), "duration_s": tr.wall_time_s, "status": tr.status} for tr in trials]


def ranked(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """COMPLETE trials by final validation accuracy, best first (ties: lower number first)."""
    done = [r for r in records if r["state"] == "COMPLETE" and r["value"] is not None]
    return sorted(done, key=lambda r: (-r["value"], r["number"]))


# ------------------------------------------------------------------------------------------ report
def mask_url(url: str) -> str:
    """The storage URL with any password replaced by ***."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)


def figure(records: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], path: Path) -> Path:
    """tune.png: accuracy over (lr, weight decay) on log axes, and the best 20 trials' validation curves."""
    from .plotting import pyplot, save_figure  # noqa: PLC0415

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    last = {r["number"]: (r["val_acc"][-1] if r["val_acc"] else 0.0) for r in records}
    styles = {"COMPLETE": ("o", "complete (final)"), "PRUNED": ("v", "pruned (last reported)")}
    sc = None
    for state, (marker, label) in styles.items():
        rs = [r for r in records if r["state"] == state and r["params"]]
        if rs:
            sc = ax1.scatter([r["params"]["lr"] for r in rs], [r["params"]["weight_decay"] for r in rs],
                             c=[100 * last[r["number"]] for r in rs], cmap="viridis", vmin=0, vmax=100,
                             marker=marker, s=55 if state == "COMPLETE" else 35, edgecolors="k", linewidths=0.4,
                             label=label)
    failed = [r for r in records if r["state"] == "FAIL" and r["params"]]
    if failed:
        ax1.scatter([r["params"]["lr"] for r in failed], [r["params"]["weight_decay"] for r in failed],
                    marker="x", color="tab:red", s=40, label="failed")
    if sc is not None:
        fig.colorbar(sc, ax=ax1, label="validation accuracy (%)")
    (lo, hi), (wlo, whi) = settings["lr_range"], settings["wd_range"]
    ax1.set(xscale="log", yscale="log", xlim=(10 ** (lo - 0.1), 10 ** (hi + 0.1)),
            ylim=(10 ** (wlo - 0.1), 10 ** (whi + 0.1)), xlabel="learning rate (log scale)",
            ylabel="weight decay lambda (log scale)", title="Validation accuracy over the search space")
    ax1.legend(loc="lower left", fontsize=8)

    curves = sorted((r for r in records if r["state"] in styles and r["val_acc"]),
                    key=lambda r: (-last[r["number"]], r["number"]))[:20]
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(curves):
        ep = np.arange(1, len(r["val_acc"]) + 1)
        label = f"#{r['number']}: lr {r['params']['lr']:.1e}, wd {r['params']['weight_decay']:.0e}"
        if r["state"] == "PRUNED":
            ax2.plot(ep, 100 * np.asarray(r["val_acc"]), ls="--", marker=".", color="0.6", lw=1.0,
                     label="pruned" if not any(c["state"] == "PRUNED" for c in curves[:i]) else None)
        else:
            ax2.plot(ep, 100 * np.asarray(r["val_acc"]), color=cmap(last[r["number"]]), lw=1.6,
                     marker="." if len(ep) < 10 else None, label=label if i < 8 else None)
    ax2.axhline(10, color="tab:red", ls=":", lw=1.0, label="chance (10 %)")
    ax2.set(xlabel="epoch", ylabel="validation accuracy (%)", ylim=(0, 100), xlim=(1, max(settings["epochs"], 2)),
            title=f"Best {len(curves)} of {len(records)} trials (colour: final accuracy; pruned: grey dashed)")
    ax2.xaxis.get_major_locator().set_params(integer=True)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"nnscratch tune: {settings['dataset']}, {settings['train_size']} images "
                 f"({100 * settings['val_ratio']:.0f} % validation), hidden {settings['hidden']}, "
                 f"{settings['epochs']} epochs of SGD", fontsize=11)
    return save_figure(fig, path)


def report(records: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> dict[str, Any]:
    """Print the best settings and a top-5 table; write tune.json and tune.png into ``out``."""
    from .fileio import write_json_atomic  # noqa: PLC0415

    top = ranked(records)
    counts = {s: sum(r["state"] == s for r in records) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    print(f"{len(records)} trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed"
          + (f", {counts['RUNNING']} still running" if counts["RUNNING"] else ""))
    best = top[0] if top else None
    if best is not None:
        print(f"best: trial {best['number']}: lr {best['params']['lr']:.3e}, weight decay "
              f"{best['params']['weight_decay']:.3e}, validation accuracy {100 * best['value']:.2f} %")
        print(f"{'rank':>4} {'trial':>6} {'lr':>10} {'weight decay':>13} {'val acc':>8} {'pid':>8}")
        for i, r in enumerate(top[:5], 1):
            print(f"{i:>4} {r['number']:>6} {r['params']['lr']:>10.2e} {r['params']['weight_decay']:>13.2e} "
                  f"{100 * r['value']:>7.2f}% {r['pid'] or '':>8}")
    else:
        print("no trial completed")
    doc = {**meta, "counts": counts, "best": best, "top5": [r["number"] for r in top[:5]], "trials": records}
    write_json_atomic(out / "tune.json", doc)
    fig = figure(records, meta["settings"], out / "tune.png")
    print(f"numbers: {out / 'tune.json'}\nfigure: {fig}")
    return doc


# ------------------------------------------------------------------------------------------ command
def cmd_tune(args: argparse.Namespace) -> int:
    """Run (or join, or resume) a search and report it."""
    t0 = time.perf_counter()
    out = Path(args.out)
    optuna = optuna_or_none()
    if args.sampler is None:
        args.sampler = "tpe" if optuna is not None else "random"
    if args.storage is None:
        args.storage = f"sqlite:///{(out / 'study.db').resolve()}"
    settings = settings_of(args)
    if min(args.trials, args.epochs, args.workers, args.batch_size, args.heartbeat) < 1:
        raise ValueError("--trials, --epochs, --workers, --batch-size and --heartbeat must be >= 1")
    if args.grace_period <= args.heartbeat:
        raise ValueError(f"--grace-period ({args.grace_period} s) must exceed --heartbeat ({args.heartbeat} s)")
    for flag, (lo, hi) in (("--lr-range", args.lr_range), ("--wd-range", args.wd_range)):
        if not lo < hi:
            raise ValueError(f"{flag} needs LO < HI (exponents of 10), got {lo} {hi}")
    out.mkdir(parents=True, exist_ok=True)
    meta = {"tool": "nnscratch tune", "sampler": args.sampler, "n_trials": args.trials, "settings": settings}
    if optuna is None:
        if args.sampler == "tpe" or args.worker_mode:
            raise ImportError(f"the TPE sampler, storages and workers need optuna: {INSTALL_HINT}")
        print(f"optuna is not installed: the book's random search runs in this process ({INSTALL_HINT} "
              "for workers, storage, resume and pruning)" + ("; --workers ignored" if args.workers > 1 else ""))
        data = load_split(settings)
        space = {"lr": tuple(settings["lr_range"]), "weight_decay": tuple(settings["wd_range"])}

        def progress(tr: Trial) -> None:
            print(f"trial {tr.number}: lr {tr.params['lr']:.2e}, weight decay {tr.params['weight_decay']:.2e} "
                  f"-> val {100 * tr.final_val_acc:.1f} % ({tr.wall_time_s:.1f} s)", flush=True)

        result = random_search(*data, n_trials=args.trials, epochs=args.epochs, batch_size=args.batch_size,
                               space=space, seed=args.seed, build_model=model_builder(settings["hidden"]),
                               callback=progress)
        meta.update(backend="book random search (tuning.random_search)", wall_time_s=time.perf_counter() - t0)
        report(search_records(result.trials), meta, out)
        return 0

    study, storage = open_study(args, settings)
    if args.worker_mode:
        work(study, storage, args, settings, load_split(settings))
        return 0
    print(f"study {args.study!r} in {mask_url(args.storage)}: {args.sampler} sampler, "
          f"{'no pruning' if args.no_prune else 'median pruning'}, {args.trials} trials in total", flush=True)
    if args.workers == 1:
        work(study, storage, args, settings, load_split(settings))
    else:
        spawn_workers(args, args.workers)
    wait_for_running(study, storage, args)
    meta.update(backend=f"optuna {optuna.__version__}", study=args.study, storage=mask_url(args.storage),
                pruning=not args.no_prune, workers=args.workers, wall_time_s=time.perf_counter() - t0)
    doc = report(study_records(study), meta, out)
    print(f"wall time: {time.perf_counter() - t0:.1f} s")
    finished = sum(doc["counts"][s] for s in ("COMPLETE", "PRUNED", "FAIL"))
    if finished < args.trials:
        raise RuntimeError(f"the study has {finished} of {args.trials} finished trials (workers failed); "
                           "run the same command to resume it")
    return 0


def add_tune_subcommand(subparsers: Any, formatter_class: Any = argparse.ArgumentDefaultsHelpFormatter) -> None:
    """Add ``nnscratch tune`` to the main parser's subparsers."""
    from .cli import DATASETS, _int_list  # noqa: PLC0415

    class Formatter(argparse.RawDescriptionHelpFormatter, formatter_class):
        pass

    p = subparsers.add_parser(
        "tune", help="hyper-parameter search (ch. 6.5): random or TPE, parallel workers, resumable",
        formatter_class=Formatter,
        description=textwrap.fill(
            "The book's search for learning rate and weight decay (ch. 6.5.3): each trial trains MultiLayerNet "
            "with SGD on the first --train-size images, a --val-ratio part held out for validation, and is scored "
            "by its final validation accuracy. Writes tune.json (every trial) and tune.png into --out.", 78)
        + "\n\n" + textwrap.fill(
            "Resume: the study lives in --storage (default sqlite:///OUT/study.db); run the same command again "
            "to continue it. A killed worker's trial is marked failed after --grace-period s.", 78)
        + "\n\n" + textwrap.fill(
            "Several machines: give every machine the same command with a shared PostgreSQL storage, e.g. "
            "--storage postgresql://user:password@host/db --study NAME (needs a PostgreSQL driver such as "
            "psycopg2). Trial numbers come from the database, so no two workers run the same trial and the "
            "study stops at --trials finished trials in total.", 78),
    )
    p.add_argument("--sampler", choices=("random", "tpe"), default=None,
                   help="random: the book's log-uniform draws; tpe: Optuna's TPE (default: tpe if optuna is "
                        "installed, else random)")
    p.add_argument("--trials", type=int, default=100, help="finished trials the study ends with, over all workers")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    p.add_argument("--storage", default=None, help="Optuna RDB URL, e.g. postgresql://user:password@host/db (default: sqlite:///OUT/study.db)")
    p.add_argument("--study", default="nnscratch-tune", help="study name inside the storage")
    p.add_argument("--epochs", type=int, default=50, help="epochs per trial")
    p.add_argument("--train-size", type=int, default=500, help="images used (book: 500), split into train/validation")
    p.add_argument("--dataset", choices=DATASETS, default="mnist", help="mnist-sample is shipped in the package")
    p.add_argument("--val-ratio", type=float, default=0.2, help="fraction of --train-size held out for validation")
    p.add_argument("--hidden", type=_int_list, default=[100] * 6, metavar="N,N,...",
                   help="hidden layer sizes of MultiLayerNet (book: six layers of 100)")
    p.add_argument("--lr-range", type=float, nargs=2, default=[-6.0, -2.0], metavar=("LO", "HI"),
                   help="learning rate = 10^U(LO, HI), log-uniform")
    p.add_argument("--wd-range", type=float, nargs=2, default=[-8.0, -4.0], metavar=("LO", "HI"),
                   help="weight decay = 10^U(LO, HI), log-uniform")
    p.add_argument("--batch-size", type=int, default=100, help="mini-batch size")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the draws and every trial")
    p.add_argument("--out", default="runs/tune", help="directory receiving study.db, tune.json and tune.png")
    p.add_argument("--no-prune", action="store_true",
                   help="train every trial to the end (default: median pruning on per-epoch validation accuracy)")
    p.add_argument("--heartbeat", type=int, default=5, help="seconds between a running trial's heartbeats")
    p.add_argument("--grace-period", type=int, default=30,
                   help="seconds without heartbeat after which a running trial counts as dead and is failed")
    p.add_argument("--worker-mode", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_tune)
