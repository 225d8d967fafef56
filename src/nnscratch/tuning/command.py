"""`nnscratch tune`: the book's hyper-parameter search (ch. 6.5.3) as a tool, on Optuna when installed.

Each trial trains MultiLayerNet with SGD on a validation split and is scored by its final validation
accuracy; lr = 10^U(-6,-2) and weight decay = 10^U(-8,-4) by default. With Optuna the trials run in
:mod:`.study` (workers, storage, resume, pruning); without it, ``--sampler random`` runs the book's
random search (:func:`.search.random_search`) in this process. The report is :mod:`.report`.
"""
from __future__ import annotations

import argparse
import textwrap
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import tuning
from ..argtypes import (finite_float, int_list, nonnegative_int, open_probability, positive_int,
                        raw_description)
from ..datasets import DATASET_REGISTRY, load_dataset, train_val_split
from ..optional import install_hint
from ..validation import check_int

def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """What makes trials comparable; a resumed study must be run with the same settings."""
    return {"dataset": args.dataset, "train_size": int(args.train_size), "val_ratio": float(args.val_ratio),
            "hidden": [int(h) for h in args.hidden], "epochs": int(args.epochs), "batch_size": int(args.batch_size),
            "optimizer": "sgd", "lr_range": [float(v) for v in args.lr_range],
            "wd_range": [float(v) for v in args.wd_range], "seed": int(args.seed)}


def load_split(settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, t_train, x_val, t_val): the first ``train_size`` images, split once with ``seed``."""
    (x, t), _ = load_dataset(settings["dataset"], flatten=True)
    n = settings["train_size"]
    if not 2 <= n <= len(x):
        raise ValueError(f"--train-size must lie in [2, {len(x)}] for {settings['dataset']}, got {n}")
    (x_tr, t_tr), (x_val, t_val) = train_val_split(x[:n], t[:n], val_ratio=settings["val_ratio"],
                                                   seed=settings["seed"])
    if len(x_val) == 0:
        raise ValueError(f"--val-ratio {settings['val_ratio']} of {n} images leaves no validation data")
    return x_tr, t_tr, x_val, t_val


def run(args: argparse.Namespace) -> int:
    """Run (or join, or resume) a search and report it."""
    t0 = time.perf_counter()
    out = Path(args.out)
    optuna = tuning.optuna_or_none()
    if args.sampler is None:
        args.sampler = "tpe" if optuna is not None else "random"
    if args.storage is None:
        args.storage = f"sqlite:///{(out / 'study.db').resolve()}"
    if args.report:
        return show(args)
    settings = settings_of(args)
    for option in ("trials", "epochs", "workers", "batch_size", "heartbeat", "retry_for"):
        check_int(f"--{option.replace('_', '-')}", getattr(args, option), 1)
    if args.grace_period <= args.heartbeat:
        raise ValueError(f"--grace-period ({args.grace_period} s) must exceed --heartbeat ({args.heartbeat} s)")
    for flag, (lo, hi) in (("--lr-range", args.lr_range), ("--wd-range", args.wd_range)):
        if not lo < hi:
            raise ValueError(f"{flag} needs LO < HI (exponents of 10), got {lo} {hi}")
    out.mkdir(parents=True, exist_ok=True)
    meta = {"tool": "nnscratch tune", "sampler": args.sampler, "n_trials": args.trials, "settings": settings}
    if optuna is None:
        if args.sampler == "tpe" or args.worker_mode:
            raise ImportError(f"the TPE sampler, storages and workers need optuna: {install_hint('tune')}")
        print(f"optuna is not installed: the book's random search runs in this process ({install_hint('tune')} "
              "for workers, storage, resume and pruning)" + ("; --workers ignored" if args.workers > 1 else ""))
        data = load_split(settings)
        space = {"lr": tuple(settings["lr_range"]), "weight_decay": tuple(settings["wd_range"])}

        def progress(tr: tuning.Trial) -> None:
            print(f"trial {tr.number}: lr {tr.params['lr']:.2e}, weight decay {tr.params['weight_decay']:.2e} "
                  f"-> val {100 * tr.final_val_acc:.1f} % ({tr.wall_time_s:.1f} s)", flush=True)

        result = tuning.random_search(*data, n_trials=args.trials, epochs=args.epochs, batch_size=args.batch_size,
                                      space=space, seed=args.seed, callback=progress,
                                      build_model=tuning.model_builder(settings["hidden"]))
        meta.update(backend="book random search (tuning.random_search)", wall_time_s=time.perf_counter() - t0)
        tuning.report(tuning.search_records(result.trials), meta, out)
        return 0

    study, storage = tuning.open_study(args, settings)
    if args.worker_mode:
        tuning.work(study, storage, args, settings, load_split(settings))
        return 0
    print(f"study {args.study!r} in {tuning.mask_url(args.storage)}: {args.sampler} sampler, "
          f"{'no pruning' if args.no_prune else 'median pruning'}, {args.trials} trials in total", flush=True)
    data = load_split(settings) if args.workers == 1 else ()
    for _ in range(3):  # a round ends when no trial runs; trials failed meanwhile (dead workers) want another
        if args.workers == 1:
            tuning.work(study, storage, args, settings, data)
            codes = [0]
        else:
            codes = tuning.spawn_workers(args, args.workers)
        tuning.wait_for_running(study, storage, args)
        good = done_trials(study, args)
        if good >= args.trials or any(codes):
            break
        print(f"{args.trials - good} trial(s) failed meanwhile (a dead worker's): running replacements", flush=True)
    meta.update(backend=f"optuna {optuna.__version__}", study=args.study, storage=tuning.mask_url(args.storage),
                pruning=not args.no_prune, workers=args.workers, wall_time_s=time.perf_counter() - t0)
    doc = tuning.report(tuning.study_records(study), meta, out, draw=not args.no_figure)
    print(f"wall time: {time.perf_counter() - t0:.1f} s")
    good = doc["counts"]["COMPLETE"] + doc["counts"]["PRUNED"]
    if good < args.trials:
        raise RuntimeError(f"the study has {good} of {args.trials} complete or pruned trials (workers failed); "
                           "run the same command to resume it")
    return 0


def done_trials(study: Any, args: argparse.Namespace) -> int:
    """Complete plus pruned trials: what ``--trials`` counts."""
    n = tuning.retrying(lambda: tuning.census(study), args.storage, args.retry_for, "counting trials")
    return n["COMPLETE"] + n["PRUNED"]


def show(args: argparse.Namespace) -> int:
    """``--report``: tune.json and tune.png of an existing study in any storage; no trial is run."""
    optuna = tuning.optuna_or_none()
    if optuna is None:
        raise ImportError(f"reading a study needs optuna: {install_hint('tune')}")
    study, settings = tuning.load_study(args.storage, args.study)
    print(f"study {args.study!r} in {tuning.mask_url(args.storage)} (report only, no trial is run)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"tool": "nnscratch tune --report", "settings": settings, "backend": f"optuna {optuna.__version__}",
            "study": args.study, "storage": tuning.mask_url(args.storage)}
    tuning.report(tuning.study_records(study), meta, out, draw=not args.no_figure)
    return 0


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch tune`` with the main parser's subparsers."""
    p = subparsers.add_parser(
        "tune", help="hyper-parameter search (ch. 6.5): random or TPE, parallel workers, resumable",
        formatter_class=raw_description(formatter_class),
        description=textwrap.fill(
            "The book's search for learning rate and weight decay (ch. 6.5.3): each trial trains MultiLayerNet "
            "with SGD on the first --train-size images, a --val-ratio part held out for validation, and is scored "
            "by its final validation accuracy. Writes tune.json (every trial) and tune.png into --out.", 78)
        + "\n\n" + textwrap.fill(
            "Resume: the study lives in --storage (default sqlite:///OUT/study.db); run the same command again "
            "to continue it. A killed worker's trial is marked failed after --grace-period s and another trial "
            "replaces it. --report redraws tune.json and tune.png from the storage without running trials.", 78)
        + "\n\n" + textwrap.fill(
            "Several machines: give every machine the same command with a shared PostgreSQL storage, e.g. "
            "--storage postgresql://user:password@host/db --study NAME (the driver is psycopg 3, installed by "
            "nnscratch[tune]; the password may come from PGPASSWORD instead of the URL), or, without a "
            "database server, --storage journal:/shared/dir/study.log on a shared filesystem. Trial numbers "
            "come from the storage, so no two workers run the same trial, and the study stops at --trials "
            "complete or pruned trials in total.", 78),
    )
    p.add_argument("--sampler", choices=("random", "tpe"), default=None,
                   help="random: the book's log-uniform draws; tpe: Optuna's TPE (default: tpe if optuna is "
                        "installed, else random)")
    p.add_argument("--trials", type=positive_int, default=100,
                   help="complete or pruned trials the study ends with, over all workers (failed ones are replaced)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes on this machine")
    p.add_argument("--storage", default=None,
                   help="sqlite:///PATH, postgresql://user:password@host/db or journal:PATH (a file on a shared "
                        "filesystem) (default: sqlite:///OUT/study.db)")
    p.add_argument("--study", default="nnscratch-tune", help="study name inside the storage")
    p.add_argument("--epochs", type=positive_int, default=50, help="epochs per trial")
    p.add_argument("--train-size", type=positive_int, default=500, help="images used (book: 500), split into train/validation")
    p.add_argument("--dataset", choices=list(DATASET_REGISTRY), default="mnist", help="mnist-sample is shipped in the package")
    p.add_argument("--val-ratio", type=open_probability, default=0.2, help="fraction of --train-size held out for validation")
    p.add_argument("--hidden", type=int_list, default=[100] * 6, metavar="N,N,...",
                   help="hidden layer sizes of MultiLayerNet (book: six layers of 100)")
    p.add_argument("--lr-range", type=finite_float, nargs=2, default=[-6.0, -2.0], metavar=("LO", "HI"),
                   help="learning rate = 10^U(LO, HI), log-uniform")
    p.add_argument("--wd-range", type=finite_float, nargs=2, default=[-8.0, -4.0], metavar=("LO", "HI"),
                   help="weight decay = 10^U(LO, HI), log-uniform")
    p.add_argument("--batch-size", type=positive_int, default=100, help="mini-batch size")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the split, the draws and every trial")
    p.add_argument("--out", default="runs/tune", help="directory receiving study.db, tune.json and tune.png")
    p.add_argument("--no-prune", action="store_true",
                   help="train every trial to the end (default: median pruning on per-epoch validation accuracy)")
    p.add_argument("--heartbeat", type=positive_int, default=5, help="seconds between a running trial's heartbeats")
    p.add_argument("--grace-period", type=positive_int, default=30,
                   help="seconds without heartbeat after which a running trial counts as dead and is failed")
    p.add_argument("--retry-for", type=nonnegative_int, default=60,
                   help="seconds a worker retries while the database is unreachable before it stops")
    p.add_argument("--no-figure", action="store_true",
                   help="write tune.json but not tune.png (workers on other machines; --report draws it later)")
    p.add_argument("--report", action="store_true",
                   help="only read the study from --storage and write tune.json and tune.png into --out")
    p.add_argument("--worker-mode", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p
