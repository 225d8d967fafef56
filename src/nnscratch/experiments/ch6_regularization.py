"""Ch. 6.3-6.4 experiments: Batch Normalization across weight scales, and overfitting vs its cures.

``batchnorm`` is the book's ch6/batch_norm_test.py (fig. 6-18, 6-19); ``overfit`` is
ch6/overfit_weight_decay.py and ch6/overfit_dropout.py (fig. 6-20, 6-21, 6-23).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..datasets import iterate_minibatches
from ..models import MultiLayerNet
from ..optimizers import get_optimizer
from ..plotting import pyplot
from ..step import Diverged, train_step
from ..tuning import train_epochs
from .base import Context, experiment
from .common import dataset_name, load_data


def _pct(values: Any) -> np.ndarray:
    return 100.0 * np.asarray(values, dtype=float)


def _train_side_by_side(nets: dict[str, Any], x: np.ndarray, t: np.ndarray, epochs: int, batch: int, lr: float,
                        seed: int) -> dict[str, list[float]]:
    """Train every net on the same mini-batches (SGD); train accuracy before training and after each epoch.

    A net whose loss or gradient turns NaN (the plain net at large init std) stops and keeps its last accuracy.
    """
    opts = {k: get_optimizer("sgd", lr=lr) for k in nets}
    acc: dict[str, list[float]] = {k: [net.accuracy(x, t)] for k, net in nets.items()}
    alive = dict.fromkeys(nets, True)
    order = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below, not warned about
        for _ in range(epochs):
            for xb, tb in iterate_minibatches(x, t, batch, seed=order):
                for k, net in nets.items():
                    if alive[k]:
                        try:
                            train_step(net, opts[k], xb, tb)
                        except Diverged:
                            alive[k] = False
            for k, net in nets.items():
                acc[k].append(net.accuracy(x, t) if alive[k] else acc[k][-1])
    return acc


# ---------------------------------------------------------------- ch. 6.3.2 Batch Normalization

@experiment(
    "batchnorm", "6.3.2", "Batch Normalization vs weight-init scale",
    "With Batch Normalization a 5-hidden-layer net learns at almost every initial weight std from 1 to 1e-4, "
    "while the same net without it trains only in a narrow band of scales (about 0.1-0.3).",
)
def batchnorm(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Book ch. 6.3.2 (fig. 6-19): train accuracy with and without Batch Normalization for 16 weight
    scales logspace(0, -4): MultiLayerNet 784-100x5-10, 1000 training images, SGD lr 0.01, batch 100.
    """
    (x_train, t_train), _ = load_data(ctx)
    n_train, epochs, batch, lr = 1000, (10 if ctx.quick else 20), 100, 0.01
    x, t = x_train[:n_train], t_train[:n_train]
    scales = np.logspace(0, -4, num=16)
    rng = ctx.rng
    results = []
    for w in scales:
        seed = int(rng.integers(2**31))
        nets = {
            "batchnorm": MultiLayerNet(784, [100] * 5, 10, weight_init_std=float(w), use_batchnorm=True, seed=seed),
            "plain": MultiLayerNet(784, [100] * 5, 10, weight_init_std=float(w), use_batchnorm=False, seed=seed),
        }
        acc = _train_side_by_side(nets, x, t, epochs, batch, lr, seed + 1)
        results.append({"weight_std": float(w), "train_acc_batchnorm": acc["batchnorm"], "train_acc_plain": acc["plain"],
                        "final_batchnorm": acc["batchnorm"][-1], "final_plain": acc["plain"][-1]})

    plt = pyplot()
    fig, axes = plt.subplots(4, 4, figsize=(11, 10), sharex=True, sharey=True)
    ep = np.arange(epochs + 1)
    for ax, r in zip(axes.flat, results):
        ax.plot(ep, _pct(r["train_acc_batchnorm"]), color="tab:blue", lw=2, label="with Batch Normalization")
        ax.plot(ep, _pct(r["train_acc_plain"]), color="tab:orange", lw=2, ls="--", label="without (plain)")
        ax.set_title(f"init std = {r['weight_std']:.2g}", fontsize=11)
        ax.set_xlim(0, epochs)
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    for ax in axes[:, 0]:
        ax.set_ylabel("train accuracy (%)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, fontsize=11, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(f"Batch Normalization (ch. 6.3.2): MultiLayerNet 5x100, {n_train} MNIST training images, "
                 f"SGD lr={lr}, batch {batch}", fontsize=12)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    wins = sum(r["final_batchnorm"] > r["final_plain"] for r in results)
    numbers = {
        "weight_stds": [r["weight_std"] for r in results],
        "final_train_acc_batchnorm": [r["final_batchnorm"] for r in results],
        "final_train_acc_plain": [r["final_plain"] for r in results],
        "batchnorm_better_count": int(wins),
        "n_scales": len(results),
        "curves": results,
        "settings": {"n_train": n_train, "epochs": epochs, "batch_size": batch, "lr": lr, "optimizer": "sgd",
                     "hidden": [100] * 5, "dataset": dataset_name(ctx)},
    }
    return numbers, fig


# ---------------------------------------------------------------- ch. 6.4 overfitting

OVERFIT_SETTINGS = (
    ("none", "no regularisation", {}),
    ("weight_decay", "weight decay (L2), lambda = 0.1", {"weight_decay_lambda": 0.1}),
    ("dropout", "Dropout, ratio 0.2", {"use_dropout": True, "dropout_ration": 0.2}),
)


@experiment(
    "overfit", "6.4", "Overfitting, weight decay and Dropout",
    "Trained on only 300 images a 7-layer net reaches ~100 % train accuracy but much lower test "
    "accuracy; weight decay (lambda = 0.1) and Dropout (0.2) each shrink that train-test gap.",
)
def overfit(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Book ch. 6.4.1-6.4.3 (fig. 6-20, 6-21, 6-23): 300 training images, MultiLayerNet 784-100x6-10,
    SGD lr 0.01, batch 100; no regularisation vs weight decay lambda=0.1 vs Dropout 0.2.
    """
    (x_train, t_train), (x_test, t_test) = load_data(ctx)
    n_train, epochs, batch, lr = 300, (150 if ctx.quick else 201), 100, 0.01
    x, t = x_train[:n_train], t_train[:n_train]
    rng = ctx.rng
    init_seed, order_seed = int(rng.integers(2**31)), int(rng.integers(2**31))
    runs: dict[str, dict[str, Any]] = {}
    for key, label, kwargs in OVERFIT_SETTINGS:
        net = MultiLayerNet(784, [100] * 6, 10, seed=init_seed, **kwargs)  # same initial weights for all three
        train_acc = [net.accuracy(x, t)]
        test_acc = [net.accuracy(x_test, t_test)]

        def record(_: int, net: Any = net, train_acc: list = train_acc, test_acc: list = test_acc) -> None:
            train_acc.append(net.accuracy(x, t))
            test_acc.append(net.accuracy(x_test, t_test))

        train_epochs(net, get_optimizer("sgd", lr=lr), x, t, epochs, batch, seed=order_seed, on_epoch=record)
        runs[key] = {"label": label, "train_acc": train_acc, "test_acc": test_acc, "final_train_acc": train_acc[-1],
                     "final_test_acc": test_acc[-1], "gap": train_acc[-1] - test_acc[-1]}

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6), sharey=True)
    ep = np.arange(epochs + 1)
    for ax, (key, r) in zip(axes, runs.items()):
        ax.plot(ep, _pct(r["train_acc"]), color="tab:blue", lw=1.8, label=f"train ({n_train} images)")
        ax.plot(ep, _pct(r["test_acc"]), color="tab:red", lw=1.8, ls="--", label=f"test ({len(x_test)} unseen images)")
        ax.set_title(r["label"], fontsize=11)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
        ax.annotate(f"final gap: {100 * r['gap']:.1f} points", xy=(0.97, 0.05), xycoords="axes fraction",
                    ha="right", va="bottom", fontsize=10, bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})
    axes[0].set_ylabel("accuracy (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, fontsize=11, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"Overfitting (ch. 6.4): MultiLayerNet 6x100 trained on {n_train} MNIST images, "
                 f"SGD lr={lr}, batch {batch}", fontsize=12)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    numbers = {
        **{f"{k}_{m}": r[m] for k, r in runs.items() for m in ("final_train_acc", "final_test_acc", "gap")},
        "curves": runs,
        "settings": {"n_train": n_train, "n_test": int(len(x_test)), "epochs": epochs, "batch_size": batch, "lr": lr,
                     "optimizer": "sgd", "hidden": [100] * 6, "weight_decay_lambda": 0.1, "dropout_ratio": 0.2,
                     "dataset": dataset_name(ctx)},
    }
    return numbers, fig
