"""Experiments of ch. 6.1: the update rules on a 2-D function and on MNIST.

* ``optimizers-2d`` (ch. 6.1.7, fig. 6-8): 30 steps of each optimizer on f(x, y) = x^2/20 + y^2 from (-7, 2).
* ``optimizers-mnist`` (ch. 6.1.8, fig. 6-9): a 5-layer ReLU net trained by each optimizer on the same
  mini-batches from the same initial weights.

The small training loop and the book's ``smooth_curve`` live here and are shared with ``ch6_init``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..optimizers import get_optimizer
from ..plotting import pyplot
from .base import Context, experiment
from .ch3_4 import STYLE, _r

# ------------------------------------------------------------------------------------ helpers


def smooth_curve(x: Any, window_len: int = 11, beta: float = 2.0) -> np.ndarray:
    """The book's ``smooth_curve`` (common/util.py): a Kaiser-window moving average, same length as x.

    The ends are padded by reflection so the curve keeps its length; ``window_len`` must be odd.
    """
    x = np.asarray(x, dtype=np.float64)
    if window_len % 2 == 0 or window_len < 1:
        raise ValueError(f"window_len must be a positive odd int, got {window_len}")
    if len(x) < window_len:
        return x.copy()
    half = window_len // 2
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, beta)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[half:len(y) - half]


def smoothing_window(steps: int) -> int:
    """The book smooths over 11 steps; runs longer than ~1000 steps get a wider (odd) window: 21 for 2000."""
    return max(11, (steps // 100) | 1)


def load_data(ctx: Context) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """Quick runs use the MNIST sample shipped in the package, full runs the whole of MNIST."""
    if ctx.quick:
        from ..datasets import load_mnist_sample  # noqa: PLC0415

        (x, t), (xt, tt) = load_mnist_sample(normalize=True, flatten=True, one_hot_label=False)
        source = "MNIST sample shipped with nnscratch"
    else:
        from ..datasets import load_mnist  # noqa: PLC0415

        (x, t), (xt, tt) = load_mnist(normalize=True, flatten=True, one_hot_label=False)
        source = "MNIST"
    return (x, t), (xt, tt), f"{source} ({len(x)} train / {len(xt)} test images)"


def minibatch_indices(rng: np.random.Generator, n_train: int, steps: int, batch_size: int) -> np.ndarray:
    """(steps, batch_size) random training indices, drawn once so every run sees the same batches.

    Like the book's ``np.random.choice(train_size, batch_size)``: each batch is drawn independently.
    """
    return rng.integers(0, n_train, size=(steps, batch_size))


def train_losses(model: Any, optimizer: Any, x: np.ndarray, t: np.ndarray, batches: np.ndarray) -> np.ndarray:
    """The book's loop (ch. 6.1.8): for each batch, grads = model.gradient; optimizer.update; record the loss."""
    losses = np.empty(len(batches))
    for i, idx in enumerate(batches):
        grads = model.gradient(x[idx], t[idx])
        optimizer.update(model.params, grads)
        losses[i] = model.last_loss
        if not np.isfinite(losses[i]):
            raise FloatingPointError(f"the loss became {losses[i]} at step {i + 1}; the learning rate is too large")
    return losses


def compare_training(ctx: Context, runs: dict[str, tuple[Callable[[], Any], Any]], steps: int, batch_size: int,
                     tail: int = 50) -> dict[str, Any]:
    """Train each ``label -> (make_model, optimizer)`` on the same batches; losses, smoothed curves, accuracy."""
    (x, t), (xt, tt), data = load_data(ctx)
    batches = minibatch_indices(ctx.rng, len(x), steps, batch_size)
    window = smoothing_window(steps)
    out: dict[str, Any] = {"data": data, "steps": steps, "batch_size": batch_size,
                           "smoothing_window": window, "final_loss_over_last_steps": tail, "runs": {}}
    for label, (make_model, optimizer) in runs.items():
        model = make_model()
        losses = train_losses(model, optimizer, x, t, batches)
        out["runs"][label] = {
            "optimizer": optimizer.get_config() | {"name": type(optimizer).__name__},
            "loss": _r(losses, 5),
            "loss_smoothed": _r(smooth_curve(losses, window), 5),
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


# ------------------------------------------------------------------------------------ ch. 6.1.7


def f2d(x: float, y: float) -> float:
    """The book's test function (ch. 6.1.3): f(x, y) = x^2 / 20 + y^2, minimum 0 at (0, 0)."""
    return x**2 / 20.0 + y**2


def df2d(x: Any, y: Any) -> tuple[Any, Any]:
    """Its gradient: (x / 10, 2y)."""
    return x / 10.0, 2.0 * y


#: the book's learning rates for fig. 6-8; RMSprop and Nesterov (not in the figure) chosen to converge
OPTIMIZERS_2D = {
    "SGD": ("sgd", 0.95),
    "Momentum": ("momentum", 0.1),
    "Nesterov": ("nesterov", 0.1),
    "AdaGrad": ("adagrad", 1.5),
    "RMSprop": ("rmsprop", 0.1),
    "Adam": ("adam", 0.3),
}
COLORS = {"SGD": "C0", "Momentum": "C1", "Nesterov": "C4", "AdaGrad": "C2", "RMSprop": "C5", "Adam": "C3"}


@experiment(
    "optimizers-2d", "6.1.7",
    "Update paths of SGD, Momentum, Nesterov, AdaGrad, RMSprop and Adam on f(x, y) = x^2/20 + y^2",
    "On the elongated bowl x^2/20 + y^2, SGD zig-zags in y because the gradient points across the "
    "valley rather than to the minimum; Momentum and Nesterov roll like a ball, AdaGrad and RMSprop "
    "damp the steep y direction at once, Adam combines both; all six end much nearer the minimum.",
)
def optimizers_2d(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Fig. 6-8 of ch. 6.1.7: 30 updates from (-7, 2) with the book's learning rates (deterministic)."""
    steps = 30
    start = (-7.0, 2.0)
    paths: dict[str, np.ndarray] = {}
    for label, (name, lr) in OPTIMIZERS_2D.items():
        opt = get_optimizer(name, lr=lr)
        params = {"x": np.array(start[0]), "y": np.array(start[1])}
        path = [start]
        for _ in range(steps):
            gx, gy = df2d(params["x"], params["y"])
            opt.update(params, {"x": np.asarray(gx), "y": np.asarray(gy)})
            path.append((float(params["x"]), float(params["y"])))
        paths[label] = np.array(path)

    plt = pyplot()
    gx = np.arange(-10, 10, 0.01)
    gy = np.arange(-5, 5, 0.01)
    X, Y = np.meshgrid(gx, gy)
    Z = f2d(X, Y)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(12, 7), layout="constrained", sharex=True, sharey=True)
        for ax, (label, path) in zip(axes.ravel(), paths.items()):
            name, lr = OPTIMIZERS_2D[label]
            ax.contour(X, Y, Z, levels=[0.25, 1, 2.5, 5, 10, 20], colors="lightgrey", linewidths=0.8)
            ax.plot(path[:, 0], path[:, 1], "o-", color=COLORS[label], ms=3.5, lw=1.3, label=f"{label} path")
            ax.plot(*start, "k*", ms=11, label="start (-7, 2)")
            ax.plot(0, 0, "+", color="black", ms=12, mew=2, label="minimum (0, 0)")
            ax.set(xlim=(-10, 10), ylim=(-5, 5), xticks=[-10, -5, 0, 5, 10],
                   title=f"{label} (lr={lr}): f = {f2d(*path[-1]):.2g} after {steps} steps")
            ax.grid(alpha=0.2)
            ax.legend(loc="lower right", fontsize=8.5, framealpha=0.9)
        for ax in axes[1]:
            ax.set_xlabel("x")
        for ax in axes[:, 0]:
            ax.set_ylabel("y")
        fig.suptitle(f"Optimizer paths on f(x, y) = x^2/20 + y^2 (ch. 6.1.7, fig. 6-8)\n"
                     f"{steps} updates from (-7, 2) towards the minimum at (0, 0); grey lines: contours of f")

    numbers: dict[str, Any] = {"function": "f(x, y) = x^2/20 + y^2", "start": list(start), "steps": steps,
                               "start_f": f2d(*start), "runs": {}}
    for label, path in paths.items():
        name, lr = OPTIMIZERS_2D[label]
        y = path[:, 1]
        numbers["runs"][label] = {
            "optimizer": name,
            "lr": lr,
            "path": _r(path),
            "final_point": _r(path[-1], 8),
            "final_f": float(f2d(*path[-1])),
            "start_distance": float(np.hypot(*start)),
            "final_distance": float(np.hypot(*path[-1])),
            "y_sign_changes": int(np.count_nonzero(np.diff(np.sign(y[y != 0])))),
        }
    return numbers, fig


# ------------------------------------------------------------------------------------ ch. 6.1.8

#: the book's learning rates (ch6/optimizer_compare_mnist.py); RMSprop and Nesterov added with common rates
OPTIMIZERS_MNIST = {
    "SGD": ("sgd", 0.01),
    "Momentum": ("momentum", 0.01),
    "Nesterov": ("nesterov", 0.01),
    "AdaGrad": ("adagrad", 0.01),
    "RMSprop": ("rmsprop", 0.001),
    "Adam": ("adam", 0.001),
}


@experiment(
    "optimizers-mnist", "6.1.8",
    "SGD, Momentum, Nesterov, AdaGrad, RMSprop and Adam training a 5-layer net on MNIST",
    "On the same mini-batches from the same initial weights, every adaptive or momentum method "
    "drives the training loss of the 5-layer ReLU net down faster than plain SGD (fig. 6-9).",
)
def optimizers_mnist(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Fig. 6-9 of ch. 6.1.8: MultiLayerNet(784, [100]*4, 10), He init, batch 128, the book's lrs.

    Full size: 2000 iterations on MNIST as in the book; quick: 300 on the shipped sample.
    """
    from ..models import MultiLayerNet  # noqa: PLC0415

    steps = int(ctx.options.get("steps", 300 if ctx.quick else 2000))
    batch_size = 128

    def make_model() -> Any:
        return MultiLayerNet(784, [100, 100, 100, 100], 10, activation="relu", weight_init_std="relu",
                             seed=ctx.seed)

    runs = {f"{label} (lr={lr})": (make_model, get_optimizer(name, lr=lr))
            for label, (name, lr) in OPTIMIZERS_MNIST.items()}
    result = compare_training(ctx, runs, steps, batch_size)
    result["model"] = "MultiLayerNet(784, [100]*4, 10), ReLU, He init"
    colors = {f"{label} (lr={lr})": COLORS[label] for label, (_, lr) in OPTIMIZERS_MNIST.items()}
    fig = plot_loss_comparison(result, "Optimizers on MNIST (ch. 6.1.8): 5-layer ReLU net", colors)
    return result, fig
