"""Experiments of ch. 6.2: initial weight values.

* ``init-histograms`` (ch. 6.2.2-6.2.3, fig. 6-10 to 6-14): activations of 5 layers of 100 units for
  several activation / weight-scale pairs.
* ``init-mnist`` (ch. 6.2.4, fig. 6-15): the 5-layer ReLU net on MNIST with std 0.01, Xavier and He.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as F
from ..initializers import init_weight, weight_std
from ..models import MultiLayerNet
from ..optimizers import get_optimizer
from ..plotting import pyplot
from .base import Context, experiment
from .common import STYLE, compare_training, plot_loss_comparison, rounded

# ------------------------------------------------------------------------------------ ch. 6.2.2

#: (label, activation, weight spec): the book's figures 6-10 (std 1), 6-11 (0.01), 6-13 (Xavier),
#: the tanh remark of 6.2.2, and 6-14 (ReLU with 0.01, Xavier, He)
INIT_SETTINGS = (
    ("sigmoid, std 1", "sigmoid", 1.0),
    ("sigmoid, std 0.01", "sigmoid", 0.01),
    ("sigmoid, Xavier", "sigmoid", "xavier"),
    ("tanh, Xavier", "tanh", "xavier"),
    ("ReLU, std 0.01", "relu", 0.01),
    ("ReLU, Xavier", "relu", "xavier"),
    ("ReLU, He", "relu", "he"),
)
ACT = {"sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu}
HIST_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 1.0)}


def layer_activations(x: np.ndarray, activation: str, spec: Any, layers: int, seed: int) -> list[np.ndarray]:
    """The book's weight_init_activation_histogram.py: a = x W (no bias), z = h(a), layer by layer."""
    rng = np.random.default_rng(seed)  # same seed for every setting: the same normals, scaled differently
    out = []
    z = x
    for _ in range(layers):
        w = init_weight((z.shape[1], 100), spec, rng=rng, dtype=np.float64)
        z = ACT[activation](z @ w)
        out.append(z)
    return out


def activation_stats(a: np.ndarray) -> dict[str, float]:
    """Share of activations near 0 (|a| < 0.05), near 1 (a > 0.95), exactly 0, above 1, mean and std."""
    return {
        "near_0": float(np.mean(np.abs(a) < 0.05)),
        "near_1": float(np.mean(a > 0.95)),
        "exactly_0": float(np.mean(a == 0)),
        "above_1": float(np.mean(a > 1)),
        "mean": float(a.mean()),
        "std": float(a.std()),
    }


@experiment(
    "init-histograms", "6.2.2",
    "Activation distributions of a 5-layer net for each weight initialisation",
    "With std 1, sigmoid activations pile up at 0 and 1 (vanishing gradients); with std 0.01 they all "
    "sit near 0.5 (no expressive power); Xavier spreads them for sigmoid and tanh, and He keeps ReLU "
    "activations alive and equally spread in every layer while std 0.01 shrinks them to 0.",
)
def init_histograms(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Figures 6-10, 6-11, 6-13 and 6-14 of ch. 6.2.2-6.2.3: 1000 random inputs of 100 dims through 5 layers.

    Histograms use the book's 30 bins over [0, 1] ([-1, 1] for tanh). Exact zeros of ReLU (about half
    of them) are counted apart and left out of its histogram so the rest stays visible; so are ReLU values
    above 1 (outside the book's range), whose share is printed in the panel.
    """
    n, dims, layers, bins = 1000, 100, 5, 30
    x = ctx.rng.standard_normal((n, dims))
    results: dict[str, Any] = {}
    hists: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for label, act, spec in INIT_SETTINGS:
        acts = layer_activations(x, act, spec, layers, ctx.seed + 1)
        lo, hi = HIST_RANGE[act]
        hs = []
        for a in acts:
            values = a[a > 0] if act == "relu" else a
            counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
            hs.append((counts, edges))
        hists[label] = hs
        results[label] = {
            "activation": act,
            "weight_init": spec,
            "weight_std": weight_std((dims, dims), spec),
            "layers": [activation_stats(a) | {"hist_counts": counts.tolist(), "hist_edges": rounded(edges)}
                       for a, (counts, edges) in zip(acts, hs)],
        }

    plt = pyplot()
    rows = len(INIT_SETTINGS)
    with plt.rc_context({**STYLE, "font.size": 11, "xtick.labelsize": 10, "ytick.labelsize": 10}):
        fig, axes = plt.subplots(rows, layers, figsize=(11, 2.05 * rows), layout="constrained")
        for r, (label, act, spec) in enumerate(INIT_SETTINGS):
            top = max(c.max() for c, _ in hists[label]) * 1.5  # headroom for the note
            for c in range(layers):
                ax = axes[r, c]
                counts, edges = hists[label][c]
                ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge",
                       color=f"C{r}", edgecolor="white", linewidth=0.3)
                st = results[label]["layers"][c]
                if act == "relu":
                    note = f"=0: {100 * st['exactly_0']:.0f}%, >1: {100 * st['above_1']:.0f}%\nstd {st['std']:.2g}"
                elif act == "sigmoid":
                    note = f"near 0 or 1: {100 * (st['near_0'] + st['near_1']):.0f}%\nstd {st['std']:.2g}"
                else:
                    note = f"mean {st['mean']:.2g}\nstd {st['std']:.2g}"
                ax.text(0.97, 0.96, note, transform=ax.transAxes, ha="right", va="top", fontsize=9,
                        bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1})
                lo, hi = HIST_RANGE[act]
                ax.set_xlim(lo, hi)
                ax.set_xticks([lo, (lo + hi) / 2, hi])
                ax.set_ylim(0, top)
                ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
                if r == 0:
                    ax.set_title(f"layer {c + 1}")
                if c == 0:
                    ax.set_ylabel(f"{label}\ncount", fontsize=10)
                else:
                    ax.set_yticklabels([])
                if r == rows - 1 or INIT_SETTINGS[r + 1][1] != act:
                    ax.set_xlabel("activation value")
        fig.suptitle("Activations of 5 layers x 100 units for 1000 random inputs (ch. 6.2.2, fig. 6-10 - 6-14)\n"
                     "rows: activation function and weight std; 30 bins; counts out of 100,000 per layer;\n"
                     "ReLU rows leave out the exact zeros and the values above 1 (their shares are printed)")

    numbers = {"inputs": [n, dims], "layers": layers, "units": 100, "bins": bins,
               "near_0": "|a| < 0.05", "near_1": "a > 0.95", "settings": results}
    return numbers, fig


# ------------------------------------------------------------------------------------ ch. 6.2.4

INIT_MNIST = {"std 0.01": 0.01, "Xavier": "xavier", "He": "he"}
INIT_COLORS = {"std 0.01": "C0", "Xavier": "C1", "He": "C2"}


@experiment(
    "init-mnist", "6.2.4",
    "Weight initialisation std 0.01 vs Xavier vs He: a 5-layer ReLU net on MNIST",
    "With std 0.01 the signal vanishes through 5 ReLU layers and the loss stays at ln 10 = 2.30 "
    "(the net does not learn), while Xavier and, fastest, He initial weights let SGD reduce it.",
)
def init_mnist(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Fig. 6-15 of ch. 6.2.4: MultiLayerNet(784, [100]*4, 10) with ReLU, SGD lr 0.01, batch 128.

    Full size: 2000 iterations on MNIST as in the book; quick: 300 on the shipped sample.
    """
    steps = int(ctx.options.get("steps", 300 if ctx.quick else 2000))

    def maker(spec: Any) -> Any:
        return lambda: MultiLayerNet(784, [100, 100, 100, 100], 10, activation="relu", weight_init_std=spec,
                                     seed=ctx.seed)

    runs = {label: (maker(spec), get_optimizer("sgd", lr=0.01)) for label, spec in INIT_MNIST.items()}
    result = compare_training(ctx, runs, steps, batch_size=128)
    result["model"] = "MultiLayerNet(784, [100]*4, 10), ReLU, SGD lr 0.01"
    for label, spec in INIT_MNIST.items():
        result["runs"][label]["weight_init"] = spec
    fig = plot_loss_comparison(result, "Weight init on MNIST (ch. 6.2.4): 5-layer ReLU net, SGD lr 0.01, batch 128", INIT_COLORS)
    return result, fig
