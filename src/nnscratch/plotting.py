"""Figures (matplotlib, imported only here and only when a figure is drawn; Agg backend)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import optional
from .fileio import atomic_write


def pyplot() -> Any:
    """matplotlib.pyplot with a non-interactive backend, or a clear error naming the extra."""
    matplotlib = optional.require("matplotlib", "figures need matplotlib")
    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    return optional.require("matplotlib.pyplot", "figures need matplotlib")


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save atomically (temp file + rename) and close the figure."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))
    finally:
        pyplot().close(fig)


def plot_history(history: Any, path: str | Path, title: str = "Training") -> Path:
    """Loss per step (left) and accuracy per epoch (right) from a History or its dict."""
    plt = pyplot()
    h = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    loss = np.asarray(h.get("loss", []), dtype=float)
    ax1.plot(np.arange(1, len(loss) + 1), loss, lw=0.6, alpha=0.5, label="mini-batch loss")
    if len(loss) >= 20:
        k = max(len(loss) // 50, 5)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax1.plot(np.arange(k, len(loss) + 1), smooth, lw=1.5, label=f"moving mean ({k} steps)")
    ax1.set(xlabel="step (mini-batches)", ylabel="cross-entropy loss", title=f"{title}: loss")
    ax1.legend()
    for key, label in (("train_acc", "train"), ("val_acc", "validation"), ("test_acc", "test")):
        acc = [a for a in h.get(key, []) if a is not None]
        if acc:
            ax2.plot(np.arange(1, len(acc) + 1), 100 * np.asarray(acc), marker="o", label=label)
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}: accuracy")
    ax2.grid(alpha=0.3)
    ax2.legend()
    return save_figure(fig, path)


def plot_confusion(cm: np.ndarray, path: str | Path, class_names: Sequence[str] | None = None, title: str = "Confusion matrix") -> Path:
    """Confusion matrix: rows are true classes, columns predicted, cells show counts."""
    plt = pyplot()
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, label="number of test images")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names,
           xlabel="predicted class", ylabel="true class", title=title)
    plt.setp(ax.get_xticklabels(), rotation=45 if max(len(s) for s in names) > 2 else 0, ha="right")
    thresh = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > thresh else "black")
    return save_figure(fig, path)


def _image_batch(arr: np.ndarray, shape: tuple[int, int] | None, labelled: bool) -> np.ndarray:
    """(N, H, W) from one image or a batch: a 2-D array is one image unless it is (N, H*W) rows."""
    if arr.ndim == 4:
        arr = arr.reshape(arr.shape[0] * arr.shape[1], *arr.shape[2:])
    if arr.ndim == 1:
        arr = arr[None]
    elif arr.ndim == 2:
        side = int(round(arr.shape[1] ** 0.5))
        rows = shape is not None or labelled or (side * side == arr.shape[1] and arr.shape[0] != arr.shape[1])
        if not rows:
            return arr[None]
    if arr.ndim == 2:
        side = int(round(arr.shape[1] ** 0.5))
        hw = tuple(shape) if shape is not None else (side, side)
        if hw[0] * hw[1] != arr.shape[1]:
            raise ValueError(f"cannot show images of {arr.shape[1]} pixels as shape {hw}; pass shape=(H, W)")
        arr = arr.reshape(arr.shape[0], *hw)
    if arr.ndim != 3:
        raise ValueError(f"images must be (H, W), (784,), (N, H, W), (N, 1, H, W) or (N, 784), got {arr.shape}")
    return arr


def show_image(images: Any, labels: Sequence[Any] | None = None, path: str | Path | None = None,
               ncols: int | None = None, shape: tuple[int, int] | None = None, title: str | None = None) -> Any:
    """Show one image or a grid (the book's ``img_show``, ch. 3.6.1): to a PNG at ``path``, else on screen.

    ``images``: one image (H, W) or flat (784,), or a batch (N, H, W), (N, 1, H, W) or (N, 784); flat
    images are reshaped to ``shape`` (default: square). ``labels`` (one per image) become titles.
    Returns the saved path, or the figure when shown on screen.
    """
    arr = np.asarray(images)
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(f"images must be an image or a batch of images, got shape {arr.shape}")
    arr = _image_batch(arr, shape, labels is not None)
    n = arr.shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must give one label per image: {n} images, {len(labels)} labels")
    cols = ncols or min(n, 10)
    rows = -(-n // cols)
    plt = pyplot() if path is not None else optional.require("matplotlib.pyplot", "showing images needs matplotlib")
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + (0.3 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(arr[i], cmap="gray", interpolation="nearest")
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    if path is not None:
        return save_figure(fig, path)
    plt.show()
    return fig


#: the book's name (ch03/mnist_show.py)
img_show = show_image
