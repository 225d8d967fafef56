"""Experiments of chapters 3-4: the activation functions and gradient descent on f = x0^2 + x1^2.

* ``activations`` (ch. 3.2, 3.5): step, sigmoid, ReLU and tanh over [-5, 5], and softmax of a small vector.
* ``gradient-descent`` (ch. 4.4): the field of -grad f, the descent path with lr = 0.1, and what
  a too large (lr = 10) and a too small (lr = 1e-10) learning rate do instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as F
from ..gradient import function_2, gradient_descent, numerical_gradient
from ..plotting import pyplot
from .base import Context, experiment
from .common import STYLE, rounded

# ------------------------------------------------------------------------------------------ ch. 3

SOFTMAX_INPUT = (0.3, 2.9, 4.0)  # the book's example vector a (ch. 3.5.1)


@experiment(
    "activations", "3",
    "Activation functions: step, sigmoid, ReLU, tanh, and softmax",
    "Sigmoid and tanh are smooth versions of the step (tanh is centred on 0), ReLU is 0 then "
    "the identity, and softmax turns the scores (0.3, 2.9, 4.0) into probabilities (0.018, 0.245, "
    "0.737) that sum to 1 while keeping their order.",
)
def activations(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Figures 3-6 (step), 3-7 (sigmoid), 3-8 (step vs sigmoid), 3-9 (ReLU) and the softmax of ch. 3.5."""
    x = np.linspace(-5.0, 5.0, 201)  # deterministic: no random choice in this experiment
    curves = {
        "step": F.step_function(x).astype(np.float64),
        "sigmoid": F.sigmoid(x),
        "ReLU": F.relu(x),
        "tanh": F.tanh(x),
    }
    formulas = {
        "step": "h(x) = 1 if x > 0 else 0   (3.2.2)",
        "sigmoid": "h(x) = 1 / (1 + exp(-x))   (3.2.4)",
        "ReLU": "h(x) = max(0, x)   (3.2.7)",
        "tanh": "h(x) = tanh(x)",
    }
    a = np.array(SOFTMAX_INPUT)
    y = F.softmax(a)

    plt = pyplot()
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(11, 6.2), layout="constrained")
        grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 0.9])
        for i, (name, h) in enumerate(curves.items()):
            ax = fig.add_subplot(grid[i // 2, i % 2])
            if name == "step":  # drawn as steps so the jump at 0 is vertical, not a slope
                ax.step(x, h, where="post", lw=2, color="C0")
            else:
                ax.plot(x, h, lw=2, color=f"C{i}")
            if name in ("sigmoid", "tanh"):  # the step for comparison (book fig. 3-8)
                ax.step(x, curves["step"], where="post", ls="--", lw=1, color="grey", label="step")
                ax.legend(loc="upper left")
            ax.axhline(0, color="black", lw=0.5)
            ax.axvline(0, color="black", lw=0.5)
            ax.set(title=f"{name}: {formulas[name]}", xlabel="input x", ylabel="output h(x)")
            ax.grid(alpha=0.3)
        ax = fig.add_subplot(grid[:, 2])
        idx = np.arange(len(a))
        w = 0.38
        ax.bar(idx - w / 2, a, w, label="input score a", color="C7")
        bars = ax.bar(idx + w / 2, y, w, label="softmax(a)", color="C3")
        for b, v in zip(bars, y):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.05, f"{v:.3f}", ha="center", fontsize=10)
        ax.set(xticks=idx, xticklabels=[f"a[{i}] = {v}" for i, v in enumerate(a)],
               xlabel="vector element", ylabel="value (probability for softmax)",
               title=f"softmax (3.5): exp(a_k) / sum exp(a_i)\noutputs sum to {float(y.sum()):.3f}")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3, axis="y")
        fig.suptitle("Activation functions (ch. 3.2) and softmax (ch. 3.5)")

    numbers = {
        "x": rounded(x),
        "curves": {k: rounded(v) for k, v in curves.items()},
        "softmax_input": rounded(a),
        "softmax_output": rounded(y),
        "softmax_sum": float(y.sum()),
    }
    return numbers, fig


# ------------------------------------------------------------------------------------------ ch. 4

START = (-3.0, 4.0)  # the book's init_x (ch. 4.4.1)


@experiment(
    "gradient-descent", "4.4",
    "Gradient descent on f(x0, x1) = x0^2 + x1^2",
    "With lr = 0.1 gradient descent from (-3, 4) walks down the field of -grad f to the minimum at "
    "the origin (|x| ~ 1e-9 after 100 steps); lr = 10 overshoots further every step and diverges, "
    "lr = 1e-10 barely moves.",
)
def gradient_descent_experiment(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Figures 4-9 (gradient field) and 4-10 (descent path) of ch. 4.4, plus the lr examples of 4.4.1.

    Gradients are the numerical ones of ch. 4.4 (central differences, h = 1e-4) in float64, as in the
    book; that is also why the diverging run stalls near 1e13: there x + h == x - h in float64 and the
    numerical gradient is rounding noise (the book prints [-2.58e13, -1.29e12] for lr = 10).
    """
    start = np.array(START, dtype=np.float64)
    runs = {}
    for label, lr, steps in (("lr=0.1", 0.1, 100), ("lr=10", 10.0, 100), ("lr=1e-10", 1e-10, 100)):
        _, path = gradient_descent(function_2, start, lr=lr, step_num=steps)
        runs[label] = {"lr": lr, "steps": steps, "path": path}

    # the gradient field (book fig. 4-9): -grad f on a grid, numerically
    g = np.arange(-5.0, 5.01, 1.0)
    X0, X1 = np.meshgrid(g, g)
    pts = np.stack([X0.ravel(), X1.ravel()], axis=1)
    grads = np.array([numerical_gradient(function_2, p.copy()) for p in pts])

    path01 = runs["lr=0.1"]["path"]
    norms = {k: np.linalg.norm(v["path"], axis=1) for k, v in runs.items()}

    plt = pyplot()
    with plt.rc_context({**STYLE, "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11, "figure.titlesize": 14}):
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.9), layout="constrained",
                                 gridspec_kw={"width_ratios": [1, 1, 1.15]})
        ax = axes[0]
        r = np.linspace(-5, 5, 101)
        R0, R1 = np.meshgrid(r, r)
        ax.contour(R0, R1, R0**2 + R1**2, levels=[1, 4, 9, 16, 25], colors="lightgrey", linewidths=0.8)
        ax.quiver(pts[:, 0], pts[:, 1], -grads[:, 0], -grads[:, 1], angles="xy", scale_units="xy", scale=14,
                  color="#777777", width=0.005, label="-grad f (scaled)")
        ax.plot(path01[:21, 0], path01[:21, 1], "o-", color="C0", ms=4, label="lr=0.1, first 20 steps")
        ax.plot(*start, "k*", ms=12, label=f"start {START}")
        ax.plot(0, 0, "r+", ms=14, mew=2, label="minimum (0, 0)")
        ax.set(xlim=(-5.3, 5.3), ylim=(-5.3, 5.3), aspect="equal", xlabel="x0", ylabel="x1",
               title="Gradient field -grad f and the\ndescent path, lr = 0.1 (fig. 4-9, 4-10)")
        ax.legend(loc="lower right", fontsize=9, framealpha=0.9)

        ax = axes[1]  # lr = 10: each coordinate per step, on a symmetric-log axis (x <- -19x)
        p10 = runs["lr=10"]["path"]
        k = 10
        steps_k = np.arange(k)
        ax.plot(steps_k, p10[:k, 0], "o-", color="C3", label="x0")
        ax.plot(steps_k, p10[:k, 1], "s--", color="C4", label="x1")
        ax.set_yscale("symlog", linthresh=1)
        ticks = [-1e12, -1e8, -1e4, -1, 0, 1, 1e4, 1e8, 1e12]
        ax.set_yticks(ticks, ["-1e12", "-1e8", "-1e4", "-1", "0", "1", "1e4", "1e8", "1e12"])
        ax.set_ylim(-1e22, 1e14)  # room below for the box of first points
        ax.set(xlabel="step", ylabel="coordinate value (symmetric log)",
               title="Too large: lr = 10 overshoots\n(x <- x - 20x = -19x every step)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=10)
        ax.text(0.03, 0.03, "first points:\n" + "\n".join(f"step {i}: ({p10[i, 0]:.0f}, {p10[i, 1]:.0f})" for i in range(4))
                + f"\nafter 100 steps:\n|x| = {norms['lr=10'][-1]:.3g}",
                transform=ax.transAxes, fontsize=9.5, ha="left", va="bottom",
                bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": "lightgrey"})

        ax = axes[2]  # distance from the minimum per step, all three rates
        steps = np.arange(path01.shape[0])
        colors = {"lr=0.1": "C0", "lr=10": "C3", "lr=1e-10": "C1"}
        for label, n in norms.items():
            ax.semilogy(steps, n, color=colors[label], lw=2,
                        label=f"{label}: |x| = {n[0]:.3g} -> {n[-1]:.3g}")
        ax.set(xlabel="step", ylabel="distance from the minimum |x| (log scale)",
               title="Distance to the minimum per step")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="center right", fontsize=9)
        ax.annotate("stalls near 1e13: the numerical\ngradient is rounding noise there", (40, norms["lr=10"][40]),
                    xytext=(30, 1e6), fontsize=9, arrowprops={"arrowstyle": "->", "color": "C3"})
        fig.suptitle("Gradient descent (ch. 4.4) on f(x0, x1) = x0^2 + x1^2 from (-3, 4)")

    numbers: dict[str, Any] = {
        "function": "f(x0, x1) = x0^2 + x1^2",
        "start": list(START),
        "start_norm": float(np.linalg.norm(start)),
        "quiver": {"points": rounded(pts), "minus_grad": rounded(-grads)},
        "runs": {},
    }
    for label, run in runs.items():
        path = run["path"]
        numbers["runs"][label] = {
            "lr": run["lr"],
            "steps": run["steps"],
            "point_after_20": rounded(path[20], 8),
            "point_final": rounded(path[-1], 8),
            "norm_after_20": float(norms[label][20]),
            "norm_final": float(norms[label][-1]),
            "norms": rounded(norms[label]),
            "path": rounded(path) if label == "lr=0.1" else rounded(path[:k]),  # plotted: all, or steps 0-9
        }
    return numbers, fig
