"""Turn an arbitrary digit picture into an MNIST-like 28x28 input (for `nnscratch predict`).

MNIST digits are white on black, size-normalised to fit a 20x20 box (aspect kept) and
centred by their centre of mass in a 28x28 field. We do the same with NumPy and Pillow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import optional


def _require_pillow() -> Any:
    return optional.require("PIL.Image", "reading images needs Pillow")


def read_grayscale(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG (any size, grey or colour, with or without alpha) as float32 in [0, 1]."""
    Image = _require_pillow()
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            gray = img.convert("L")
    except FileNotFoundError:
        raise
    except Exception as exc:  # Pillow raises many types for unreadable files
        raise ValueError(f"cannot read image {str(path)!r}: {exc}") from exc
    return np.asarray(gray, dtype=np.float32) / 255.0


def to_mnist(gray: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """MNIST-style 28x28 float32 image in [0, 1]: white digit on black, 20x20 box, mass-centred.

    ``invert=None`` inverts automatically when the border is lighter than mid-grey
    (a dark digit drawn on a light background).
    """
    Image = _require_pillow()
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2 or min(g.shape) < 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {g.shape}")
    if invert is None:
        border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
        invert = float(np.median(border)) > 0.5
    if invert:
        g = 1.0 - g
    g = g - float(np.median(np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])))  # background -> 0
    g = np.clip(g, 0.0, None)
    if g.max() <= 0.05:
        raise ValueError("the image looks blank: no digit stands out from the background")
    g = g / g.max()
    rows = np.flatnonzero(g.max(axis=1) > 0.1)
    cols = np.flatnonzero(g.max(axis=0) > 0.1)
    crop = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS)
    small = np.asarray(resized, dtype=np.float32) / 255.0
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - nh) // 2, (28 - nw) // 2
    canvas[top : top + nh, left : left + nw] = small
    total = canvas.sum()
    ys, xs = np.indices(canvas.shape)
    cy, cx = (ys * canvas).sum() / total, (xs * canvas).sum() / total
    dy, dx = int(round(14.0 - cy)), int(round(14.0 - cx))  # where MNIST digits have their mass centre
    shifted = np.zeros_like(canvas)
    ys0, ys1 = max(0, dy), min(28, 28 + dy)
    xs0, xs1 = max(0, dx), min(28, 28 + dx)
    shifted[ys0:ys1, xs0:xs1] = canvas[ys0 - dy : ys1 - dy, xs0 - dx : xs1 - dx]
    return np.clip(shifted, 0.0, 1.0)


def load_digit(path: str | Path, invert: bool | None = None) -> np.ndarray:
    """Read an image file and return it MNIST-style, shape (28, 28), float32 in [0, 1]."""
    return to_mnist(read_grayscale(path), invert=invert)
