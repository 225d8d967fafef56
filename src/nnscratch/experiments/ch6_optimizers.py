"""Experiments of ch. 6.1: the update rules on a 2-D function and on MNIST.

* ``optimizers-2d`` (ch. 6.1.7, fig. 6-8): 30 steps of each optimizer on f(x, y) = x^2/20 + y^2 from (-7, 2).
* ``optimizers-mnist`` (ch. 6.1.8, fig. 6-9): a 5-layer ReLU net trained by each optimizer on the same
  mini-batches from the same initial weights.

The training loop they share with ``ch6_init`` is :func:`.common.compare_training`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..models import MultiLayerNet
from ..optimizers import get_optimizer
from ..plotting import pyplot
from .base import Context, experiment
from .common import STYLE, compare_training, plot_loss_comparison, rounded

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
            "path": rounded(path),
            "final_point": rounded(path[-1], 8),
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
