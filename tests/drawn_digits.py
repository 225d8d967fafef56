"""Ten hand-drawn-style digit pictures, one per class, each a different way a real picture differs from MNIST.

Thick marker strokes drawn with Pillow, then: both polarities, off-centre, small in a big frame,
a noisy grey background, a photo-like lighting gradient (illumination x reflectance), blur, JPEG.
Deterministic (seeded), so a failure is reproducible. Used by tests/test_serve_digits.py.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 40) -> list[tuple[float, float]]:
    """Points of an elliptic arc in a unit box, angles in degrees, y pointing down (-90 is the top)."""
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# Each digit: strokes (polylines) in a unit box, x to the right, y down.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.44, 0, 360)],
    1: [[(0.32, 0.22), (0.55, 0.05), (0.55, 0.95)]],
    2: [_arc(0.5, 0.3, 0.3, 0.24, -170, 30) + [(0.18, 0.93), (0.85, 0.93)]],
    3: [_arc(0.48, 0.27, 0.26, 0.22, -160, 90), _arc(0.48, 0.71, 0.3, 0.23, -90, 160)],
    4: [[(0.68, 0.95), (0.68, 0.05), (0.12, 0.66), (0.88, 0.66)]],
    5: [[(0.82, 0.06), (0.32, 0.06), (0.26, 0.45)] + _arc(0.5, 0.68, 0.3, 0.26, -125, 150)],
    6: [[(0.7, 0.05), (0.45, 0.25), (0.28, 0.5)] + _arc(0.52, 0.71, 0.26, 0.23, 180, 540)],
    7: [[(0.14, 0.08), (0.86, 0.08), (0.42, 0.95)]],
    8: [_arc(0.5, 0.27, 0.22, 0.21, 0, 360), _arc(0.5, 0.71, 0.27, 0.24, 0, 360)],
    9: [_arc(0.48, 0.3, 0.26, 0.23, 0, 360), [(0.74, 0.3), (0.7, 0.95)]],
}


@dataclass(frozen=True)
class Picture:
    label: int
    name: str
    data: bytes  # the encoded file
    mime: str  # image/png or image/jpeg

    @property
    def suffix(self) -> str:
        return ".png" if self.mime == "image/png" else ".jpg"


def _mask(label: int, size: tuple[int, int], box: tuple[float, float, float], width: float) -> np.ndarray:
    """Stroke coverage in [0, 1] on a canvas of ``size`` (w, h); ``box`` = (left, top, height) in pixels."""
    w, h = size
    left, top, bh = box
    bw = 0.7 * bh
    img = Image.new("L", (4 * w, 4 * h), 0)  # drawn at 4x and shrunk: smooth, anti-aliased edges
    draw = ImageDraw.Draw(img)
    r = 2 * width
    for stroke in STROKES[label]:
        pts = [(4 * (left + x * bw), 4 * (top + y * bh)) for x, y in stroke]
        draw.line(pts, fill=255, width=int(4 * width), joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img.resize((w, h), Image.LANCZOS), dtype=np.float32) / 255.0


def _encode(a: np.ndarray, mime: str, blur: float = 0.0) -> bytes:
    img = Image.fromarray(np.round(np.clip(a, 0, 1) * 255).astype(np.uint8), mode="L")
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    buf = io.BytesIO()
    img.save(buf, format="PNG" if mime == "image/png" else "JPEG", quality=80)
    return buf.getvalue()


def pictures(seed: int = 0) -> list[Picture]:
    """The ten pictures, digits 0..9 in order."""
    rng = np.random.default_rng(seed)
    out: list[Picture] = []

    def add(label: int, name: str, img: np.ndarray, mime: str = "image/png", blur: float = 0.0) -> None:
        out.append(Picture(label, name, _encode(img, mime, blur), mime))

    def grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        return np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h))

    m = _mask(0, (240, 240), (50, 20, 200), 20)
    add(0, "dark on white, centred", 0.95 - 0.85 * m)
    m = _mask(1, (320, 240), (20, 10, 140), 14)
    add(1, "white on black, off-centre top-left", m)
    m = _mask(2, (300, 300), (150, 130, 150), 22)
    add(2, "dark on white, thick, off-centre bottom-right", 1.0 - 0.9 * m)
    m = _mask(3, (260, 260), (50, 30, 200), 18)
    add(3, "dark on noisy grey", 0.55 - 0.4 * m + rng.normal(0, 0.09, m.shape))
    x, y = grid(320, 260)
    m = _mask(4, (320, 260), (100, 30, 200), 18)
    light = 1.0 - 0.55 * x - 0.25 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
    add(4, "photo-like gradient, dark ink", light * (0.9 - 0.75 * m) + rng.normal(0, 0.02, m.shape), blur=1.2)
    m = _mask(5, (260, 260), (60, 40, 180), 16)
    add(5, "light on noisy dark grey", 0.3 + 0.55 * m + rng.normal(0, 0.07, m.shape))
    x, y = grid(280, 280)
    m = _mask(6, (280, 280), (60, 40, 200), 20)
    light = 0.55 + 0.45 * y
    add(6, "top-to-bottom gradient, JPEG", light * (0.92 - 0.8 * m), mime="image/jpeg", blur=1.0)
    m = _mask(7, (400, 300), (250, 40, 110), 10)
    add(7, "small white-on-black in a big frame, right side", m)
    m = _mask(8, (260, 260), (55, 25, 210), 18)
    specks = (rng.random(m.shape) < 0.002) * rng.uniform(0.2, 0.4, m.shape)
    add(8, "dark 8 on a noisy grey background with specks", 0.6 - 0.45 * m - specks + rng.normal(0, 0.08, m.shape))
    x, y = grid(300, 400)
    m = _mask(9, (300, 400), (70, 90, 220), 20)
    light = 0.5 + 0.5 * (1 - x) * (1 - 0.5 * y)
    photo = light * (0.88 - 0.72 * m) + rng.normal(0, 0.04, m.shape)
    add(9, "photo: diagonal shadow, noise, blur, JPEG", photo, mime="image/jpeg", blur=1.5)
    return out
