"""What POST /api/predict accepts, and the error each wrong body gets.

Two kinds of body: an image file (``image/png`` or ``image/jpeg``), which goes through the same
preprocessing as ``nnscratch predict`` (:func:`nnscratch.images.load_digit`); or JSON
``{"pixels": [[28 floats in 0..1] x 28]}``, an MNIST-style input given as is (white digit on black).
A missing or generic Content-Type is sniffed from the first bytes.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..images import load_digit

MAX_BODY = 5 * 1024 * 1024
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG"}
EXPECTED = ('a PNG or JPEG image (Content-Type image/png or image/jpeg), or JSON {"pixels": [[...28 floats '
            'in 0..1...] x 28 rows]} (Content-Type application/json), at most 5 MB')


class ApiError(Exception):
    """An HTTP error with a message for the client (never a traceback)."""

    def __init__(self, status: int, message: str, expected: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.expected, self.extra = status, message, expected, extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.expected:
            out["expected"] = self.expected
        return {**out, **self.extra}


def _sniff(body: bytes) -> str | None:
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body.lstrip()[:1] in (b"{", b"["):
        return "application/json"
    return None


def pixels_from_json(body: bytes) -> np.ndarray:
    """The 28x28 float32 array of a JSON body, or ApiError(400) saying what is wrong with it."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", EXPECTED) from None
    if not isinstance(obj, dict) or "pixels" not in obj:
        got = f"an object with keys {sorted(obj)[:5]}" if isinstance(obj, dict) else f"a JSON {type(obj).__name__}"
        raise ApiError(400, f'the JSON needs a "pixels" entry; got {got}', EXPECTED)
    rows = obj["pixels"]
    if not isinstance(rows, list) or any(not isinstance(r, list) for r in rows) or \
            any(isinstance(v, (bool, str)) or v is None for r in rows for v in r):
        raise ApiError(400, '"pixels" must be a list of 28 lists of 28 numbers', EXPECTED)
    try:
        a = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        lengths = sorted({len(r) for r in rows})
        raise ApiError(400, f'"pixels" rows differ in length ({lengths}); expected 28 rows of 28 numbers', EXPECTED) from None
    if a.shape != (28, 28):
        raise ApiError(400, f'"pixels" has shape {list(a.shape)}; expected [28, 28]', EXPECTED)
    if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
        raise ApiError(400, f'"pixels" values must be finite and in 0..1; got min {a.min():.4g}, max {a.max():.4g}',
                       EXPECTED)
    return a.astype(np.float32)


def input_from_body(content_type: str | None, body: bytes) -> np.ndarray:
    """The network input (28, 28) float32 in [0, 1] for a request body, or ApiError(400/413/415)."""
    if len(body) > MAX_BODY:
        raise ApiError(413, f"the body is {len(body)} bytes; at most {MAX_BODY} (5 MB)", EXPECTED)
    if not body:
        raise ApiError(400, "the body is empty", EXPECTED)
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    kind = declared if declared in IMAGE_TYPES or declared == "application/json" else None
    if kind is None:
        kind = _sniff(body)
        if kind is None:
            if declared and declared not in ("application/octet-stream", "application/x-www-form-urlencoded"):
                raise ApiError(415, f"Content-Type {declared!r} is not supported", EXPECTED)
            raise ApiError(400, "the body is neither a PNG/JPEG image nor JSON", EXPECTED)
    if kind == "application/json":
        return pixels_from_json(body)
    try:
        return load_digit(bytes(body))
    except ValueError as exc:
        raise ApiError(400, str(exc), EXPECTED) from None
    except ImportError as exc:  # Pillow missing: JSON pixels still work
        raise ApiError(501, f"this server cannot read images: {exc}", EXPECTED) from None
