"""Ch. 7-8 experiments: what the first conv layer learns, the digits a deep ConvNet gets wrong,
and inference in half precision.

``filters`` is the book's ch7/visualize_filter.py (fig. 7-24, 7-25), ``misclassified`` is
ch8/misclassified_mnist.py (fig. 8-2), ``half-precision`` is ch8/half_float_network.py (ch. 8.3.4).
Each accepts ``--model PATH`` (``ctx.options['model']``): a model file written by ``nnscratch train``
is used instead of training one here. At full size without ``--model`` they use the trained networks
shipped in the package (:mod:`nnscratch.pretrained`: ``deepcnn`` for misclassified, ``simplecnn`` for
filters, ``mlp`` for half-precision) instead of training at run time; quick runs train a small one.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, serialization
from ..pretrained import load_pretrained, pretrained_info
from ..functions import softmax
from ..initializers import init_weight
from ..models import DeepConvNet, MultiLayerNet, SimpleConvNet
from ..optimizers import get_optimizer
from ..plotting import pyplot
from ..tuning import train_epochs
from .base import Context, experiment
from .common import dataset_name, load_data


def _load_model(ctx: Context) -> Any | None:
    """The model named by ``--model`` (ctx.options['model']), in inference mode, or None."""
    path = ctx.options.get("model")
    if not path:
        return None
    return serialization.load(path).eval()


def _shipped(ctx: Context, name: str) -> tuple[Any, str] | None:
    """(the shipped network ``name`` in eval mode, its description) at full size; None in quick runs."""
    if ctx.quick:
        return None
    info = pretrained_info(name)
    return load_pretrained(name), (f"the shipped {info['model_class']} (nnscratch.pretrained {name!r}, "
                                   f"{info['epochs']} epochs, test accuracy {100 * info['test_acc']:.2f} %)")


def _fit(model: Any, x: Any, t: Any, epochs: int, seed: int, lr: float = 0.001, batch_size: int = 100) -> None:
    """Adam (lr 0.001), the book's optimizer for its ConvNets (ch. 7.5, 8.1)."""
    model.train()
    train_epochs(model, get_optimizer("adam", lr=lr), x, t, epochs, batch_size, seed=seed)
    model.eval()


def _predict(model: Any, x: Any, batch_size: int = 500) -> np.ndarray:
    """Scores for all of x, in batches, as float64 NumPy."""
    return np.concatenate([backend.to_numpy(model.predict(x[i:i + batch_size], train=False)).astype(np.float64)
                           for i in range(0, len(x), batch_size)])


def _first_conv(model: Any) -> tuple[str, Any]:
    for name, layer in model.layers.items():
        if "W" in layer.params and layer.params["W"].ndim == 4:
            return name, layer
    raise ValueError("the model has no convolution layer; pass a SimpleConvNet or DeepConvNet model file")


# ---------------------------------------------------------------- ch. 7.6 filter visualisation

def neighbour_correlation(W: np.ndarray) -> np.ndarray:
    """Per filter: Pearson correlation of horizontally and vertically adjacent weights (all channels).

    Random Gaussian filters give ~0; smooth, blob- or edge-like filters give clearly positive values.
    """
    W = np.asarray(W, dtype=np.float64)
    out = []
    for f in W.reshape(-1, *W.shape[-2:]):  # one 2-D kernel per (filter, channel)
        a = np.concatenate([f[:, :-1].ravel(), f[:-1, :].ravel()])
        b = np.concatenate([f[:, 1:].ravel(), f[1:, :].ravel()])
        a, b = a - a.mean(), b - b.mean()
        denom = np.sqrt((a * a).sum() * (b * b).sum())
        out.append(float((a * b).sum() / denom) if denom > 0 else 0.0)
    return np.array(out)


def _edge_kernels(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sobel-like k x k kernels: 'vertical' responds to vertical edges (left-right change), and its transpose."""
    smooth = np.bartlett(k + 2)[1:-1]
    deriv = np.linspace(-1, 1, k)
    vertical = np.outer(smooth, deriv)
    return vertical, vertical.T


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else 0.0


@experiment(
    "filters", "7.6", "First-layer conv filters before and after training",
    "Training turns SimpleConvNet's 30 random 5x5 filters into smooth edge and blob detectors "
    "(neighbouring weights become correlated); an edge filter lights up on the matching strokes of a digit.",
)
def filters(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Book ch. 7.6.1 (fig. 7-24, 7-25): SimpleConvNet's conv1 weights (30 x 1 x 5 x 5) before and after
    training (quick: 3 epochs of Adam on the sample; full: the shipped ``simplecnn``, 20 epochs on MNIST
    as in the book), and the response of one vertical- and one horizontal-edge filter to a test digit.
    """
    (x_train, t_train), (x_test, t_test) = load_data(ctx, flatten=False)
    rng = ctx.rng
    seed = int(rng.integers(2**31))
    model = _load_model(ctx)
    shipped = _shipped(ctx, "simplecnn") if model is None else None
    if shipped is not None:
        model, source = shipped
        epochs = 0
        _, conv = _first_conv(model)
        fresh = SimpleConvNet(seed=seed)  # "before": the same network at its initialisation
        W_before = np.array(_first_conv(fresh)[1].params["W"], dtype=np.float64)
        acc_before = fresh.accuracy(x_test, t_test)
    elif model is None:
        epochs = 3
        model = SimpleConvNet(seed=seed)
        _, conv = _first_conv(model)
        W_before = np.array(conv.params["W"], dtype=np.float64)
        acc_before = model.accuracy(x_test, t_test)
        _fit(model, x_train, t_train, epochs, seed + 1)
        source = f"SimpleConvNet trained {epochs} epoch(s) with Adam lr 0.001 on {len(x_train)} images"
    else:
        epochs = 0
        _, conv = _first_conv(model)
        W_before = init_weight(conv.params["W"].shape, 0.01, rng=seed).astype(np.float64)
        acc_before = None
        source = f"loaded from {ctx.options['model']} (before = a fresh N(0, 0.01^2) initialisation)"
    W_after = np.array(conv.params["W"], dtype=np.float64)
    acc_after = model.accuracy(x_test, t_test)
    corr_before, corr_after = neighbour_correlation(W_before), neighbour_correlation(W_after)

    # the most vertical-edge-like and the most horizontal-edge-like filter (channel 0)
    kv, kh = _edge_kernels(W_after.shape[-1])
    score_v = np.array([_corr(f[0], kv) for f in W_after])
    score_h = np.array([_corr(f[0], kh) for f in W_after])
    i_v = int(np.argmax(np.abs(score_v)))
    score_h_other = np.abs(score_h).copy()
    score_h_other[i_v] = -1
    i_h = int(np.argmax(score_h_other))
    # a test digit with both strokes: the first "4" (falls back to the first test image)
    digit = int(np.flatnonzero(np.asarray(t_test) == 4)[0]) if np.any(np.asarray(t_test) == 4) else 0
    x = np.asarray(x_test[digit:digit + 1])
    response = np.asarray(conv.forward(x.astype(conv.params["W"].dtype), train=False), dtype=np.float64)[0]

    numbers = {
        "neighbour_corr_before": float(corr_before.mean()),
        "neighbour_corr_after": float(corr_after.mean()),
        "mean_abs_neighbour_corr_before": float(np.abs(corr_before).mean()),
        "mean_abs_neighbour_corr_after": float(np.abs(corr_after).mean()),
        "test_acc_before": acc_before,
        "test_acc_after": acc_after,
        "vertical_edge_filter": i_v, "vertical_edge_score": float(score_v[i_v]),
        "horizontal_edge_filter": i_h, "horizontal_edge_score": float(score_h[i_h]),
        "digit_index": digit, "digit_label": int(np.asarray(t_test)[digit]),
        "filters_before": np.round(W_before, 5).tolist(),
        "filters_after": np.round(W_after, 5).tolist(),
        "responses": {"vertical": np.round(response[i_v], 4).tolist(), "horizontal": np.round(response[i_h], 4).tolist()},
        "settings": {"epochs": epochs, "optimizer": "adam", "lr": 0.001, "batch_size": 100, "source": source,
                     "n_train": int(len(x_train)), "dataset": dataset_name(ctx)},
    }
    fig = _filters_figure(W_before, W_after, corr_before, corr_after, (i_v, i_h), x[0, 0], response, numbers)
    return numbers, fig


def _filter_grid(sub: Any, W: np.ndarray, title: str, highlight: dict[int, str] | None = None) -> None:
    n = W.shape[0]
    cols = min(n, 6 if n <= 36 else 8)
    rows = -(-n // cols)
    axes = np.atleast_1d(sub.subplots(rows, cols)).ravel()
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(W[i, 0], cmap="gray", interpolation="nearest")
        color = (highlight or {}).get(i)
        for s in ax.spines.values():
            s.set_edgecolor(color or "0.6")
            s.set_linewidth(3 if color else 0.5)
    sub.suptitle(title, fontsize=11)


def _filters_figure(W_before: np.ndarray, W_after: np.ndarray, corr_before: np.ndarray, corr_after: np.ndarray,
                    chosen: tuple[int, int], digit: np.ndarray, response: np.ndarray, nums: dict[str, Any]) -> Any:
    plt = pyplot()
    fig = plt.figure(figsize=(11, 8.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.5, 1.0])
    left, right = top.subfigures(1, 2, wspace=0.04)
    i_v, i_h = chosen
    _filter_grid(left, W_before, f"before training (mean neighbour corr. {corr_before.mean():+.2f})")
    _filter_grid(right, W_after, f"after training (mean neighbour corr. {corr_after.mean():+.2f})",
                 {i_v: "tab:red", i_h: "tab:blue"})
    top.suptitle(f"conv1 filters of SimpleConvNet, {W_after.shape[0]} x {W_after.shape[-2]}x{W_after.shape[-1]} "
                 "(white = large positive weight)", fontsize=12)
    axes = bottom.subplots(1, 5)
    axes[0].imshow(digit, cmap="gray")
    axes[0].set_title(f"test digit #{nums['digit_index']} (label {nums['digit_label']})", fontsize=10)
    lim = float(np.abs(response[[i_v, i_h]]).max()) or 1.0
    for (ax_f, ax_r), idx, kind, color in (((axes[1], axes[2]), i_v, "vertical", "tab:red"),
                                           ((axes[3], axes[4]), i_h, "horizontal", "tab:blue")):
        ax_f.imshow(W_after[idx, 0], cmap="gray", interpolation="nearest")
        ax_f.set_title(f"filter {idx}: {kind} edges", fontsize=10, color=color)
        im = ax_r.imshow(response[idx], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax_r.set_title(f"response of filter {idx}\n(before ReLU)", fontsize=10, color=color)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    bottom.colorbar(im, ax=axes[-1], shrink=0.8, label="conv output (a.u.)")
    bottom.suptitle("What two trained filters detect (red = strong positive response)", fontsize=12)
    return fig


# ---------------------------------------------------------------- ch. 8.1 misclassified digits

@experiment(
    "misclassified", "8.1", "Test digits the ConvNet gets wrong",
    "The digits a ConvNet gets wrong tend to be sloppy, broken or ambiguous (a 9 with an open loop reads "
    "as a 4); the longer it trains (the book reaches 99.4 %), the more only such hard cases remain.",
)
def misclassified(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Book ch. 8.1.1 (fig. 8-2): DeepConvNet's misclassified test images with true and predicted labels.

    Full: the shipped ``deepcnn`` (20 epochs on MNIST, as the book's 99.4 % network), or
    ``--model PATH``, or, with ctx.options['epochs'], a DeepConvNet trained here that long (Adam lr 0.001).
    Quick: 3 epochs on the 5000-image sample.
    """
    (x_train, t_train), (x_test, t_test) = load_data(ctx, flatten=False)
    rng = ctx.rng
    seed = int(rng.integers(2**31))
    model = _load_model(ctx)
    shipped = _shipped(ctx, "deepcnn") if model is None and not ctx.options.get("epochs") else None
    if shipped is not None:
        (model, source), epochs, n_train = shipped, 0, 0
    elif model is None:
        epochs = int(ctx.options.get("epochs") or 3)
        n_train = len(x_train)
        model = DeepConvNet(seed=seed)
        _fit(model, x_train[:n_train], t_train[:n_train], epochs, seed + 1)
        source = f"DeepConvNet trained {epochs} epoch(s) with Adam lr 0.001 on {n_train} images"
    else:
        epochs, n_train = 0, 0
        source = f"loaded from {ctx.options['model']}"
    t = np.asarray(t_test).astype(np.int64)
    probs = softmax(_predict(model, x_test))
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != t)
    shown = wrong[:20]
    numbers = {
        "count": int(len(wrong)),
        "n_test": int(len(t)),
        "test_acc": float(1 - len(wrong) / len(t)),
        "indices": wrong.tolist(),
        "true": t[wrong].tolist(),
        "pred": pred[wrong].tolist(),
        "shown": {"indices": shown.tolist(), "true": t[shown].tolist(), "pred": pred[shown].tolist(),
                  "confidence": np.round(probs[shown, pred[shown]], 4).tolist()},
        "settings": {"epochs": epochs, "n_train": int(n_train), "source": source, "optimizer": "adam", "lr": 0.001,
                     "dataset": dataset_name(ctx)},
    }
    plt = pyplot()
    cols = 5
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(9, 2.15 * rows + 0.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, shown):
        ax.imshow(np.asarray(x_test[i]).reshape(28, 28), cmap="gray_r")
        ax.set_title(f"true {t[i]}, predicted {pred[i]}\n(test image #{i})", fontsize=11)
    fig.suptitle(f"{len(wrong)} of {len(t)} test digits misclassified (accuracy {100 * numbers['test_acc']:.2f} %); "
                 f"first {len(shown)} shown\n{source}", fontsize=11)
    fig.tight_layout()
    return numbers, fig


# ---------------------------------------------------------------- ch. 8.3.4 half precision

@experiment(
    "half-precision", "8.3.4", "Inference in float16 vs float32",
    "Casting a trained network's weights and inputs to 16-bit floats leaves its test accuracy "
    "practically unchanged, while halving the memory of the weights.",
)
def half_precision(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Book ch. 8.3.4: a trained network evaluated with float64, float32 and float16 weights and inputs
    (``model.astype('float16')``). Full: the shipped ``mlp`` (not the book's DeepConvNet: NumPy has no
    float16 BLAS, and DeepConvNet in float16 took 212 s per 1000 images here against 2 s in float32);
    quick: MultiLayerNet 784-100-100-10 trained 5 epochs with Adam on the sample; or ``--model PATH``.
    """
    (x_train, t_train), (x_test, t_test) = load_data(ctx, flatten=False)
    rng = ctx.rng
    seed = int(rng.integers(2**31))
    model = _load_model(ctx)
    shipped = _shipped(ctx, "mlp") if model is None else None
    if shipped is not None:
        model, source = shipped
    elif model is None:
        epochs = 5
        model = MultiLayerNet(784, [100, 100], 10, seed=seed)
        _fit(model, x_train, t_train, epochs, seed + 1)
        source = f"MultiLayerNet 784-100-100-10 trained {epochs} epochs with Adam on {len(x_train)} images"
    else:
        source = f"loaded from {ctx.options['model']}"
    t = np.asarray(t_test).astype(np.int64)
    dtypes = ("float64", "float32", "float16")
    scores, acc, nbytes = {}, {}, {}
    for dt in dtypes:
        m = model.astype(dt)
        scores[dt] = _predict(m, np.asarray(x_test).astype(dt))
        acc[dt] = float((scores[dt].argmax(axis=1) == t).mean())
        nbytes[dt] = int(sum(p.nbytes for p in m.params.values()))
    p32, p16 = softmax(scores["float32"]), softmax(scores["float16"])
    changed = np.flatnonzero(scores["float32"].argmax(axis=1) != scores["float16"].argmax(axis=1))
    prob_diff = np.abs(p32 - p16).max(axis=1)
    numbers = {
        "accuracy": acc,
        "diff_points_16_vs_32": 100 * (acc["float16"] - acc["float32"]),
        "n_predictions_changed": int(len(changed)),
        "changed_indices": changed.tolist(),
        "max_prob_diff": float(prob_diff.max()),
        "median_prob_diff": float(np.median(prob_diff)),
        "param_bytes": nbytes,
        "n_test": int(len(t)),
        "settings": {"source": source, "dataset": dataset_name(ctx)},
    }

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1, 1.2]})
    vals = [100 * acc[d] for d in dtypes]
    bars = ax1.bar(dtypes, vals, color=["tab:gray", "tab:blue", "tab:orange"])
    lo = max(0.0, min(vals) - 3)
    ax1.set_ylim(lo, min(100.0, max(vals) + 1.5))
    for b, v, d in zip(bars, vals, dtypes):
        ax1.text(b.get_x() + b.get_width() / 2, v + 0.1, f"{v:.2f} %\n{nbytes[d] / 1024:.0f} KiB weights",
                 ha="center", va="bottom", fontsize=10)
    ax1.set(ylabel=f"test accuracy (%), axis from {lo:.0f} %", xlabel="dtype of weights and inputs",
            title=f"Test accuracy on {len(t)} images")
    ax1.grid(axis="y", alpha=0.3)
    bins = np.logspace(-8, 0, 33)
    ax2.hist(np.clip(prob_diff, 1e-8, 1), bins=bins, color="tab:orange", alpha=0.85)
    ax2.set(xscale="log", xlabel="max |p_float16 - p_float32| over the 10 classes (probability, log scale)",
            ylabel="number of test images",
            title=f"Softmax change per image; {len(changed)} predictions changed")
    n_tiny = int((prob_diff < bins[1]).sum())
    if n_tiny >= 0.05 * len(t):  # the clipped first bin holds the images whose softmax did not change
        ax2.annotate(f"{n_tiny} images: change < {bins[1]:.1e} (or none)", xy=(1.5e-8, n_tiny), xytext=(0.22, 0.93),
                     textcoords="axes fraction", fontsize=9.5, va="top",
                     arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax2.grid(alpha=0.3)
    fig.suptitle(f"Half precision (ch. 8.3.4): {source}", fontsize=11)
    fig.tight_layout()
    return numbers, fig
