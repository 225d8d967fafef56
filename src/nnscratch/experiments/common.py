"""Helpers the chapter modules share: the figure style, rounding for JSON, the data, the training loops.

Quick runs (``ctx.quick``) use the MNIST sample shipped in the package, full runs the whole of MNIST.
``compare_training`` trains several networks on the same mini-batches (ch. 6.1.8, 6.2.4) with the
book's ``smooth_curve`` over the losses, and ``plot_loss_comparison`` draws them.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..datasets import get_dataset, load_dataset
from ..datasets.utils import smooth_curve
from ..datasets.mnist import Split
from ..plotting import pyplot
from ..step import train_step
from .base import Context

#: font sizes that stay readable when a figure is shown ~800 px wide
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 13}


def rounded(a: Any, nd: int = 6) -> list:
    """An array as a JSON-able nested list of floats rounded to ``nd`` significant digits."""
    a = np.asarray(a, dtype=np.float64)
    return np.vectorize(lambda v: float(f"{v:.{nd}g}"), otypes=[float])(a).tolist() if a.size else a.tolist()


def dataset_name(ctx: Context) -> str:
    """The data set an experiment uses: 'mnist-sample' for quick runs, else 'mnist'."""
    return "mnist-sample" if ctx.quick else "mnist"


def load_data(ctx: Context, flatten: bool = True) -> tuple[Split, Split]:
    """((x_train, t_train), (x_test, t_test)) of :func:`dataset_name`, normalised to [0, 1]."""
    return load_dataset(dataset_name(ctx), flatten=flatten)


def smoothing_window(steps: int) -> int:
    """The book smooths over 11 steps; runs longer than ~1000 steps get a wider (odd) window: 21 for 2000."""
    return max(11, (steps // 100) | 1)


def minibatch_indices(rng: np.random.Generator, n_train: int, steps: int, batch_size: int) -> np.ndarray:
    """(steps, batch_size) random training indices, drawn once so every run sees the same batches.

    Like the book's ``np.random.choice(train_size, batch_size)``: each batch is drawn independently.
    """
    return rng.integers(0, n_train, size=(steps, batch_size))


def train_losses(model: Any, optimizer: Any, x: np.ndarray, t: np.ndarray, batches: np.ndarray) -> np.ndarray:
    """The book's loop (ch. 6.1.8): one :func:`~nnscratch.step.train_step` per batch, recording the loss.

    A NaN/inf loss or gradient raises :class:`~nnscratch.step.Diverged` naming the step.
    """
    losses = np.empty(len(batches))
    for i, idx in enumerate(batches):
        losses[i] = train_step(model, optimizer, x[idx], t[idx], step=i + 1)
    return losses


def compare_training(ctx: Context, runs: dict[str, tuple[Callable[[], Any], Any]], steps: int, batch_size: int,
                     tail: int = 50) -> dict[str, Any]:
    """Train each ``label -> (make_model, optimizer)`` on the same batches; losses, smoothed curves, accuracy."""
    (x, t), (xt, tt) = load_data(ctx)
    data = f"{get_dataset(dataset_name(ctx)).title} ({len(x)} train / {len(xt)} test images)"
    batches = minibatch_indices(ctx.rng, len(x), steps, batch_size)
    window = smoothing_window(steps)
    out: dict[str, Any] = {"data": data, "steps": steps, "batch_size": batch_size,
                           "smoothing_window": window, "final_loss_over_last_steps": tail, "runs": {}}
    for label, (make_model, optimizer) in runs.items():
        model = make_model()
        losses = train_losses(model, optimizer, x, t, batches)
        out["runs"][label] = {
            "optimizer": optimizer.get_config() | {"name": type(optimizer).__name__},
            "loss": rounded(losses, 5),
            "loss_smoothed": rounded(smooth_curve(losses, window), 5),
            "final_loss": float(losses[-tail:].mean()),
            "test_accuracy": float(model.accuracy(xt, tt)),
        }
    return out


def plot_loss_comparison(result: dict[str, Any], title: str, colors: dict[str, str]) -> Any:
    """Smoothed loss per step for every run (left) and the mean loss of the last steps (right)."""
    plt = pyplot()
    runs = result["runs"]
    with plt.rc_context(STYLE):
        fig, (ax, axb) = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained",
                                      gridspec_kw={"width_ratios": [2.3, 1]})
        steps = np.arange(1, result["steps"] + 1)
        for label, run in runs.items():
            ax.plot(steps, run["loss_smoothed"], lw=1.6, color=colors[label], label=label)
        ax.set(xlabel="iteration (mini-batches of %d)" % result["batch_size"], ylabel="training loss (cross-entropy)",
               title=f"Loss, smoothed over {result['smoothing_window']} steps")
        ax.axhline(np.log(10), color="grey", ls=":", lw=1)
        ax.text(result["steps"] * 0.55, np.log(10) + 0.03, "ln 10 = 2.303 (uniform guess)", ha="center", va="bottom",
                fontsize=9, color="grey")
        ax.set_ylim(0, max(2.75, max(max(r["loss_smoothed"]) for r in runs.values()) * 1.05))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        labels = list(runs)
        finals = [runs[k]["final_loss"] for k in labels]
        accs = [runs[k]["test_accuracy"] for k in labels]
        y = np.arange(len(labels))[::-1]
        bars = axb.barh(y, finals, color=[colors[k] for k in labels])
        for b, f, a in zip(bars, finals, accs):
            axb.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {f:.3f} (test acc {100 * a:.1f}%)",
                     va="center", fontsize=9)
        axb.set_yticks(y, [k.split(" (")[0] for k in labels])
        axb.set_xlim(0, max(finals) * 1.9)
        axb.set(xlabel=f"mean loss over the last {result['final_loss_over_last_steps']} steps",
                title="Final loss (lower is better)")
        axb.grid(alpha=0.3, axis="x")
        fig.suptitle(f"{title}\n{result['data']}, same initial weights and mini-batches for every run")
    return fig
