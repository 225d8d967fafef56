"""Data augmentation (ch. 8.1.2): new training images from old ones by small random distortions.

The book widens its training set by rotating, shifting and rescaling the images (fig. 8-4); here a
whole mini-batch is distorted at once. Each image n draws an angle theta_n, a scale s_n and a shift
(ty_n, tx_n); output pixel p (centred coordinates) reads the input at the inverse map

    src = R(-theta_n) p / s_n + c - t_n                   (c: the image centre)

optionally plus an elastic displacement (Simard et al. 2003: uniform noise in [-1, 1] per pixel,
smoothed by a Gaussian of width ``elastic_sigma``, scaled by ``elastic_alpha`` pixels), sampled
bilinearly with zeros outside the image. One coordinate grid for the whole batch, four gathers,
no Python loop over images or pixels. The random draws come from the augmenter's own seeded
Generator, whose state a Trainer checkpoint saves and restores, so a resumed run sees the same
distortions as an uninterrupted one.
"""
from __future__ import annotations

import math
from typing import Any

from . import backend
from .validation import check_number

__all__ = ["STRENGTH_LIMITS", "Augmenter", "affine_grid", "bilinear_sample", "gaussian_smooth"]


def affine_grid(h: int, w: int, angle: Any, scale: Any, shift_y: Any, shift_x: Any) -> tuple[Any, Any]:
    """Source coordinates (src_y, src_x), each (N, h, w), of rotating by ``angle`` (radians),
    scaling by ``scale`` about the centre and then shifting by (shift_y, shift_x) pixels; args (N,)."""
    xp = backend.xp
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys = (xp.arange(h, dtype=xp.float64) - cy)[None, :, None]
    xs = (xp.arange(w, dtype=xp.float64) - cx)[None, None, :]
    cos, sin = (xp.cos(angle) / scale)[:, None, None], (xp.sin(angle) / scale)[:, None, None]
    src_x = cos * xs + sin * ys + cx - shift_x[:, None, None]
    src_y = -sin * xs + cos * ys + cy - shift_y[:, None, None]
    return src_y, src_x


def bilinear_sample(x: Any, src_y: Any, src_x: Any) -> Any:
    """out[n, c, i, j] = x[n, c] read at (src_y[n, i, j], src_x[n, i, j]) by bilinear interpolation,
    zero outside the image. x (N, C, H, W); the result has x's dtype."""
    xp = backend.xp
    n, c, h, w = x.shape
    padded = xp.zeros((n, c, h + 2, w + 2), dtype=x.dtype)  # a ring of zeros: what lies outside
    padded[:, :, 1:-1, 1:-1] = x
    sy, sx = xp.clip(src_y, -1.0, float(h)), xp.clip(src_x, -1.0, float(w))
    y0, x0 = xp.minimum(xp.floor(sy), h - 1), xp.minimum(xp.floor(sx), w - 1)
    wy, wx = (sy - y0).astype(x.dtype)[:, None], (sx - x0).astype(x.dtype)[:, None]
    # flat index into the padded batch of each output pixel's top-left neighbour, per image and
    # channel (computed exactly in floating point, then one conversion), and four 1-D takes
    corner = ((y0 + 1) * (w + 2) + (x0 + 1)).astype(xp.intp)[:, None]  # (N, 1, h, w)
    base = corner + (xp.arange(n * c, dtype=xp.intp) * ((h + 2) * (w + 2))).reshape(n, c, 1, 1)
    flat = padded.reshape(-1)

    def at(offset: int) -> Any:
        return xp.take(flat, base + offset if offset else base)

    top = at(0) * (1 - wx) + at(1) * wx
    bottom = at(w + 2) * (1 - wx) + at(w + 3) * wx
    return top * (1 - wy) + bottom * wy


def gaussian_smooth(field: Any, sigma: float) -> Any:
    """``field`` (N, H, W) convolved with a Gaussian of std ``sigma`` pixels along H and W (edges
    repeated); one vectorised pass per kernel tap, not per pixel."""
    xp = backend.xp
    r = max(1, int(math.ceil(3 * sigma)))
    k = xp.exp(-0.5 * (xp.arange(-r, r + 1, dtype=xp.float64) / sigma) ** 2)
    k /= k.sum()
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        p = xp.pad(field, pad, mode="edge")
        size = field.shape[axis]
        field = sum(float(k[i]) * xp.take(p, xp.arange(i, i + size), axis=axis) for i in range(2 * r + 1))
    return field


#: the closed interval each of Augmenter's strengths must lie in (the CLI checks its options against the same)
STRENGTH_LIMITS: dict[str, tuple[float, float]] = {"shift": (0.0, math.inf), "rotation": (0.0, 90.0),
                                                   "scale": (0.0, 0.9), "elastic_alpha": (0.0, math.inf),
                                                   "elastic_sigma": (0.1, math.inf)}


class Augmenter:
    """Random shifts, small rotations and rescalings (and optionally elastic distortion) per image.

    ``shift`` pixels (uniform in [-shift, shift] along each axis), ``rotation`` degrees (uniform in
    [-rotation, rotation]), ``scale`` (factor uniform in [1 - scale, 1 + scale]), ``elastic_alpha``
    pixels of elastic displacement (0 = off) smoothed over ``elastic_sigma`` pixels. Call it on a
    batch (N, C, H, W), or (N, D) flattened square images; it returns a new batch, same shape and
    dtype. ``rng`` (seeded by ``seed``) is its only state.
    """

    def __init__(self, shift: float = 2.0, rotation: float = 10.0, scale: float = 0.1,
                 elastic_alpha: float = 0.0, elastic_sigma: float = 4.0, seed: Any = None) -> None:
        self.shift = check_number("shift", shift, *STRENGTH_LIMITS["shift"])
        self.rotation = check_number("rotation", rotation, *STRENGTH_LIMITS["rotation"])
        self.scale = check_number("scale", scale, *STRENGTH_LIMITS["scale"])
        self.elastic_alpha = check_number("elastic_alpha", elastic_alpha, *STRENGTH_LIMITS["elastic_alpha"])
        self.elastic_sigma = check_number("elastic_sigma", elastic_sigma, *STRENGTH_LIMITS["elastic_sigma"])
        self.rng = backend.rng(seed)

    def __call__(self, x: Any) -> Any:
        xp = backend.xp
        x = xp.asarray(x)
        shape = x.shape
        if x.ndim == 2:
            side = int(round(math.sqrt(shape[1])))
            if side * side != shape[1]:
                raise ValueError(f"Augmenter: flattened images must be square, got {shape[1]} pixels per image")
            x = x.reshape(shape[0], 1, side, side)
        if x.ndim != 4 or shape[0] == 0:
            raise ValueError(f"Augmenter expects a batch (N, C, H, W) or (N, H*W), got shape {tuple(shape)}")
        if not xp.issubdtype(x.dtype, xp.floating):
            x = x.astype(backend.default_dtype())
        n, _, h, w = x.shape
        u = self.rng.uniform(-1.0, 1.0, size=(4, n))
        angle = xp.asarray(u[0] * math.radians(self.rotation))
        scale = xp.asarray(1.0 + u[1] * self.scale)
        src_y, src_x = affine_grid(h, w, angle, scale, xp.asarray(u[2] * self.shift), xp.asarray(u[3] * self.shift))
        if self.elastic_alpha:
            noise = xp.asarray(self.rng.uniform(-1.0, 1.0, size=(2, n, h, w)))
            src_y = src_y + self.elastic_alpha * gaussian_smooth(noise[0], self.elastic_sigma)
            src_x = src_x + self.elastic_alpha * gaussian_smooth(noise[1], self.elastic_sigma)
        return bilinear_sample(x, src_y, src_x).reshape(shape)

    def get_config(self) -> dict[str, float]:
        return {"shift": self.shift, "rotation": self.rotation, "scale": self.scale,
                "elastic_alpha": self.elastic_alpha, "elastic_sigma": self.elastic_sigma}

    def __repr__(self) -> str:
        return "Augmenter(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"
