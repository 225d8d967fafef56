"""One prediction with every layer's output, shaped for the JSON API of `nnscratch serve`.

Layer outputs are quantised to 8 bits per layer: q in 0..255 with ``min``/``max`` giving the
scale, value = min + q / 255 * (max - min); an 8-bit greyscale tile cannot show more anyway.
``values`` holds q in C order as base64 (``"encoding": "uint8-base64"``, the default: DeepConvNet's
20 layers, ~100 000 activations, in ~140 kB, encoded in well under a millisecond) or as nested
lists of ints shaped like ``shape`` (``"uint8-lists"``, ~330 kB and ~15 ms of JSON encoding).
Floats would take ~1.6 MB. Decoding the default in Python::

    q = np.frombuffer(base64.b64decode(layer["values"]), np.uint8).reshape(layer["shape"])
"""
from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from .. import backend
from ..functions import softmax
from .registry import ModelEntry

TOP = 3  # classes listed in "top", as `nnscratch predict` prints by default


ENCODINGS = ("base64", "lists")


def quantise(a: np.ndarray, encoding: str = "base64") -> dict[str, Any]:
    """8-bit per-layer quantisation: {"min", "max", "encoding", "values"} (see the module docstring)."""
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    if hi > lo:
        q = np.rint((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    else:
        q = np.zeros(a.shape, dtype=np.uint8)
    if encoding == "lists":
        return {"min": lo, "max": hi, "encoding": "uint8-lists", "values": q.tolist()}
    return {"min": lo, "max": hi, "encoding": "uint8-base64", "values": base64.b64encode(q.tobytes()).decode("ascii")}


def run_layers(entry: ModelEntry, x28: np.ndarray, keep_layers: bool = True,
               encoding: str = "base64") -> tuple[np.ndarray, list[Any]]:
    """Scores and (when ``keep_layers``) each layer's quantised output for one 28x28 input.

    Runs the model's layers in inference mode like ``Sequential.predict``, under the entry's
    lock, and quantises inside it: a layer may hand back a view of a buffer it reuses next call.
    """
    model = entry.model
    x = backend.asarray(np.asarray(x28, dtype=np.float32).reshape(1, 1, 28, 28), dtype=model.dtype)
    layers: list[Any] = []
    with entry.lock:
        for name, layer in model.layers.items():
            x = layer.forward(x, False)
            if keep_layers:
                out = backend.to_numpy(x)[0]
                layers.append({"name": name, "type": type(layer).__name__, "shape": list(out.shape),
                               **quantise(out, encoding)})
        scores = backend.to_numpy(x).astype(np.float64).reshape(-1)
    return scores, layers


def prediction(entry: ModelEntry, x28: np.ndarray, keep_layers: bool = True, encoding: str = "base64") -> dict[str, Any]:
    """The body of POST /api/predict: model, probabilities, top classes, the input, the layers."""
    scores, layers = run_layers(entry, x28, keep_layers, encoding)
    p = np.asarray(softmax(scores), dtype=np.float64)
    order = np.argsort(-p, kind="stable")[:TOP]
    return {
        "model": entry.name,
        "probabilities": [round(float(v), 6) for v in p],
        "top": [[int(i), round(float(p[i]), 6)] for i in order],
        "class_names": entry.class_names,
        "input": np.round(np.asarray(x28, dtype=np.float64), 3).tolist(),
        "layers": layers,
    }


def to_json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces: the layer values dominate the size)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")
