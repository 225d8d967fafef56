"""Ch. 6.5 experiment: random hyper-parameter search on a validation split (book's
ch6/hyperparameter_optimization.py, fig. 6-24). The search itself lives in :mod:`nnscratch.tuning`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..datasets import train_val_split
from ..plotting import pyplot
from ..tuning import BOOK_SPACE, random_search
from .base import Context, experiment
from .common import dataset_name, load_data


@experiment(
    "hyperparams", "6.5", "Random search of learning rate and weight decay",
    "Sampling lr = 10^U(-6,-2) and weight decay = 10^U(-8,-4) on a validation split shows that the "
    "learning rate decides almost everything: the best runs all have lr near 1e-3 to 1e-2, "
    "while weight decay in this range barely matters.",
)
def hyperparams(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Book ch. 6.5.3 (fig. 6-24): 500 training images, 20 % of them held out for validation;
    MultiLayerNet 784-100x6-10, SGD, batch 100; 100 trials of 50 epochs (quick: 16 of 25).
    """
    (x_train, t_train), _ = load_data(ctx)
    n_data, val_ratio = 500, 0.2
    n_trials, epochs = (16, 25) if ctx.quick else (100, 50)
    rng = ctx.rng
    split_seed, search_seed = int(rng.integers(2**31)), int(rng.integers(2**31))
    (x_tr, t_tr), (x_val, t_val) = train_val_split(x_train[:n_data], t_train[:n_data], val_ratio=val_ratio,
                                                   seed=split_seed)
    result = random_search(x_tr, t_tr, x_val, t_val, n_trials=n_trials, epochs=epochs, batch_size=100,
                           space=BOOK_SPACE, optimizer="sgd", seed=search_seed)
    ranked = result.ranked()
    best = ranked[0]
    top5 = ranked[:5]
    numbers = {
        "best_val_acc": best.final_val_acc,
        "best_params": best.params,
        "chance_acc": 0.1,
        "space_exponents": {k: list(v) for k, v in result.space.items()},
        "top5_range": {k: [min(tr.params[k] for tr in top5), max(tr.params[k] for tr in top5)] for k in result.space},
        "n_trials": n_trials,
        "epochs": epochs,
        "n_train": int(len(x_tr)),
        "n_val": int(len(x_val)),
        "failed_trials": sum(tr.status != "complete" for tr in result.trials),
        "trials": [tr.to_dict() for tr in result.trials],
        "ranking": [tr.number for tr in ranked],
        "settings": {**result.settings, "dataset": dataset_name(ctx), "val_ratio": val_ratio,
                     "hidden": [100] * 6},
    }
    return numbers, _figure(ranked, result.space, epochs, len(x_tr), len(x_val))


def _figure(ranked: list[Any], space: dict[str, tuple[float, float]], epochs: int, n_tr: int, n_val: int) -> Any:
    plt = pyplot()
    n_show = min(20, len(ranked))
    cols = 5
    rows = math.ceil(n_show / cols)
    fig = plt.figure(figsize=(11, 1.75 * rows + 4.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.75 * rows, 4.4])
    axes = np.atleast_1d(top.subplots(rows, cols, sharex=True, sharey=True)).reshape(rows, cols)
    ep = np.arange(1, epochs + 1)
    for i, ax in enumerate(axes.flat):
        if i >= n_show:
            ax.axis("off")
            continue
        tr = ranked[i]
        ax.plot(ep[: len(tr.val_acc)], 100 * np.asarray(tr.val_acc), color="tab:blue", lw=1.6, label="validation")
        ax.plot(ep[: len(tr.train_acc)], 100 * np.asarray(tr.train_acc), color="tab:gray", lw=1.2, ls="--",
                label="train")
        ax.set_title(f"#{i + 1}: val {100 * tr.final_val_acc:.0f} %\nlr {tr.params['lr']:.1e}, "
                     f"wd {tr.params['weight_decay']:.0e}", fontsize=8.5)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (%)", fontsize=9)
    axes.flat[0].legend(fontsize=7.5, loc="upper left")
    top.suptitle(f"Best {n_show} of {len(ranked)} random trials by final validation accuracy "
                 f"({n_tr} train / {n_val} validation images)", fontsize=11)

    ax1, ax2 = bottom.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1], "wspace": 0.12})
    lr = np.array([tr.params["lr"] for tr in ranked])
    wd = np.array([tr.params["weight_decay"] for tr in ranked])
    acc = 100 * np.array([tr.final_val_acc for tr in ranked])
    sc = ax1.scatter(lr, wd, c=acc, cmap="viridis", vmin=0, vmax=max(100 * 0.5, acc.max()), s=45,
                     edgecolors="k", linewidths=0.4)
    ax1.set(xscale="log", yscale="log", xlabel="learning rate (log scale)", ylabel="weight decay lambda (log scale)",
            xlim=(10 ** (space["lr"][0] - 0.1), 10 ** (space["lr"][1] + 0.1)),
            ylim=(10 ** (space["weight_decay"][0] - 0.1), 10 ** (space["weight_decay"][1] + 0.1)),
            title="Where the good runs are")
    bottom.colorbar(sc, ax=ax1, label="validation accuracy (%)", pad=0.02)
    ax2.scatter(lr, acc, color="tab:blue", s=30)
    ax2.axhline(10, color="tab:red", ls=":", lw=1.2, label="chance (10 %)")
    ax2.set(xscale="log", xlabel="learning rate (log scale)", ylabel="final validation accuracy (%)",
            xlim=(10 ** (space["lr"][0] - 0.1), 10 ** (space["lr"][1] + 0.1)), ylim=(0, 100), title="Accuracy vs learning rate")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=9, loc="upper left")
    bottom.suptitle("Search space: lr = 10^U(-6,-2), weight decay = 10^U(-8,-4) (ch. 6.5.3)", fontsize=11)
    return fig
