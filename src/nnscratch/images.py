"""Turn an arbitrary digit picture into an MNIST-like 28x28 input (`nnscratch predict`, `nnscratch serve`).

MNIST digits are white on black, size-normalised to fit a 20x20 box (aspect kept) and centred
by their centre of mass in a 28x28 field (LeCun et al., the MNIST page). A photo is not a scan:
its background is grey, noisy and unevenly lit. So before cropping we estimate the background
as a smooth surface (a robust quadratic fit, which follows a lighting gradient) and its noise
(the median absolute deviation of what is left), and keep only what stands out from that
background by several noise widths. Which side stands out (dark ink on paper or light strokes
on black) is decided by which side holds more ink mass beyond that threshold.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from . import optional
from .fileio import atomic_write

MAX_PIXELS = 40_000_000  # refuse larger images before decoding them (a small PNG can inflate hugely)
WORK_SIDE = 256  # the analysis runs at most at this size; the network sees 28x28 anyway
BOX = 20  # MNIST's digit box inside the 28x28 field
NOISE_WIDTHS = 4.0  # ink must stand this many noise widths (robust sigma) away from the background
MIN_SIGMA = 0.02  # a noise floor: a perfectly flat background still needs a visible step to count as ink
TRIM = 0.002  # the crop drops this fraction of ink mass on each side (isolated specks, dust)


def _require_pillow() -> Any:
    return optional.require("PIL.Image", "reading images needs Pillow")


def read_grayscale(source: str | Path | bytes) -> np.ndarray:
    """Read a PNG/JPEG (a path or the file's bytes; grey or colour, alpha, EXIF rotation) as float32 in [0, 1].

    Transparent pixels count as white paper. JPEGs are decoded at a reduced scale when they are
    much larger than the analysis needs.
    """
    Image = _require_pillow()
    from PIL import ImageOps  # noqa: PLC0415

    what = "the image" if isinstance(source, (bytes, bytearray)) else f"image {str(source)!r}"
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ValueError(f"{w}x{h} pixels is too large; at most {MAX_PIXELS // 1_000_000} megapixels")
            img.draft("L", (2 * WORK_SIDE, 2 * WORK_SIDE))  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            gray = img.convert("L")
    except FileNotFoundError:
        raise
    except Image.UnidentifiedImageError:
        raise ValueError(f"cannot read {what}: not a PNG, JPEG or other format Pillow reads") from None
    except Exception as exc:  # Pillow raises many types for truncated or corrupt files
        raise ValueError(f"cannot read {what}: {exc}") from exc
    return np.asarray(gray, dtype=np.float32) / 255.0


def _resize(g: np.ndarray, size: tuple[int, int], method: str = "LANCZOS") -> np.ndarray:
    """Resize a float image (``size`` is (width, height)) without quantising it to 8 bits."""
    Image = _require_pillow()
    resample = getattr(getattr(Image, "Resampling", Image), method)
    return np.asarray(Image.fromarray(np.ascontiguousarray(g, dtype=np.float32)).resize(size, resample),
                      dtype=np.float32)


def _working_copy(g: np.ndarray) -> np.ndarray:
    """Shrink to at most WORK_SIDE and smooth out single-pixel noise (3x3 box) on pictures large enough."""
    h, w = g.shape
    if max(h, w) > WORK_SIDE:
        s = WORK_SIDE / max(h, w)
        g = _resize(g, (max(2, round(w * s)), max(2, round(h * s))), "BOX")
    if min(g.shape) >= 56:
        p = np.pad(g, 1, mode="edge")
        g = sum(p[i : i + g.shape[0], j : j + g.shape[1]] for i in range(3) for j in range(3)) / 9.0
    return g.astype(np.float32)


def estimate_background(g: np.ndarray, iterations: int = 6) -> tuple[np.ndarray, float]:
    """A smooth background surface and the noise width (robust sigma) of the pixels around it.

    Fits b(x, y) = c0 + c1 x + c2 y + c3 x^2 + c4 xy + c5 y^2 by least squares to the pixels whose
    residual lies within 2.5 sigma, re-estimating sigma = 1.4826 * MAD each round, so the digit's
    strokes (outliers on either side) drop out of the fit while a lighting gradient is followed.
    The fit uses a grid of at most ~64x64 pixels; the surface is evaluated everywhere.
    """
    h, w = g.shape
    ys, xs = np.linspace(-1.0, 1.0, h), np.linspace(-1.0, 1.0, w)
    sy, sx = max(1, h // 64), max(1, w // 64)
    yy, xx = np.meshgrid(ys[::sy], xs[::sx], indexing="ij")
    A = np.stack([np.ones(yy.size), xx.ravel(), yy.ravel(), xx.ravel() ** 2, (xx * yy).ravel(), yy.ravel() ** 2], axis=1)
    v = g[::sy, ::sx].astype(np.float64).ravel()

    def robust_sigma(r: np.ndarray) -> float:
        return max(1.4826 * float(np.median(np.abs(r - np.median(r)))), MIN_SIGMA)

    keep = np.abs(v - np.median(v)) <= 2.5 * robust_sigma(v)
    sigma = MIN_SIGMA
    coef = np.zeros(6)
    for _ in range(iterations):
        if keep.sum() < 6:
            break
        coef = np.linalg.lstsq(A[keep], v[keep], rcond=None)[0]
        r = v - A @ coef
        sigma = robust_sigma(r[keep])
        new_keep = np.abs(r) <= 2.5 * sigma
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    c0, c1, c2, c3, c4, c5 = coef
    X, Y = xs[None, :], ys[:, None]
    surface = c0 + c1 * X + c2 * Y + c3 * X * X + c4 * X * Y + c5 * Y * Y
    return surface.astype(np.float32), sigma


def ink_map(gray: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """How strongly each pixel stands out from the estimated background as ink, in [0, 1].

    ``invert=None`` finds the polarity: dark ink on a light background when more mass lies
    below the background than above it. ``invert=True`` forces dark-on-light, ``False`` light-on-dark.
    """
    g = _working_copy(gray)
    background, sigma = estimate_background(g)
    r = g - background
    t = NOISE_WIDTHS * sigma
    if invert is None:
        invert = float(np.clip(-r - t, 0, None).sum()) > float(np.clip(r - t, 0, None).sum())
    ink = np.clip((-r if invert else r) - t, 0.0, None)
    if not ink.any():
        raise ValueError("the image looks blank: nothing stands out from the background")
    level = float(np.percentile(ink[ink > 0], 90))  # the strokes' core, like MNIST's saturated centre
    return np.clip(ink / level, 0.0, 1.0)


def _mass_bounds(profile: np.ndarray) -> tuple[int, int]:
    """First and last index of a 1-D mass profile after trimming TRIM of the mass on each side."""
    c = np.cumsum(profile) / profile.sum()
    return int(np.searchsorted(c, TRIM, side="right")), int(np.searchsorted(c, 1.0 - TRIM, side="left"))


def centre_by_mass(img: np.ndarray) -> np.ndarray:
    """Place a digit that fits the 20x20 box into 28x28 with its centre of mass at (14, 14)."""
    nh, nw = img.shape
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - nh) // 2, (28 - nw) // 2
    canvas[top : top + nh, left : left + nw] = img
    ys, xs = np.indices(canvas.shape)
    total = canvas.sum()
    cy, cx = (ys * canvas).sum() / total, (xs * canvas).sum() / total
    dy, dx = int(round(14.0 - cy)), int(round(14.0 - cx))
    shifted = np.zeros_like(canvas)
    ys0, ys1 = max(0, dy), min(28, 28 + dy)
    xs0, xs1 = max(0, dx), min(28, 28 + dx)
    shifted[ys0:ys1, xs0:xs1] = canvas[ys0 - dy : ys1 - dy, xs0 - dx : xs1 - dx]
    return shifted


def to_mnist(gray: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """MNIST-style 28x28 float32 image in [0, 1]: white digit on black, 20x20 box, mass-centred.

    ``invert``: None finds the polarity itself (see :func:`ink_map`); True means the picture is
    a dark digit on a light background, False a light digit on a dark one.
    """
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2 or min(g.shape) < 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {g.shape}")
    if not np.isfinite(g).all():
        raise ValueError("the image contains NaN or inf")
    ink = ink_map(g, invert)
    r0, r1 = _mass_bounds(ink.sum(axis=1))
    c0, c1 = _mass_bounds(ink.sum(axis=0))
    crop = ink[r0 : r1 + 1, c0 : c1 + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    small = _resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))))
    small = np.clip(small, 0.0, 1.0)  # Lanczos rings slightly outside [0, 1]
    if small.max() <= 0:
        raise ValueError("the image looks blank: nothing stands out from the background")
    return centre_by_mass(small)


def load_digit(path: str | Path | bytes, invert: bool | None = None) -> np.ndarray:
    """Read an image file (or its bytes) and return it MNIST-style, shape (28, 28), float32 in [0, 1]."""
    return to_mnist(read_grayscale(path), invert=invert)


def save_input(x28: np.ndarray, path: str | Path, scale: int = 10) -> Path:
    """Write a 28x28 network input as a greyscale PNG (white digit on black), enlarged ``scale`` times."""
    Image = _require_pillow()

    a = np.asarray(x28, dtype=np.float32).reshape(28, 28)
    img = Image.fromarray(np.round(np.clip(a, 0, 1) * 255).astype(np.uint8), mode="L")
    img = img.resize((28 * scale, 28 * scale), getattr(Image, "Resampling", Image).NEAREST)
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))
