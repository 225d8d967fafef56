"""One prediction with every layer's output, shaped for the JSON API of `nnscratch serve`.

Layer outputs are quantised to 8 bits per layer: ``values`` holds integers q in 0..255 and
``min``/``max`` give the scale, value = min + q / 255 * (max - min). For DeepConvNet that keeps
all 20 layers' ~100 000 activations in a few hundred kB of JSON instead of ~1.6 MB of floats,
and an 8-bit greyscale tile cannot show more anyway.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import backend
from ..functions import softmax
from .registry import ModelEntry

TOP = 3  # classes listed in "top", as `nnscratch predict` prints by default


def quantise(a: np.ndarray) -> dict[str, Any]:
    """8-bit per-layer quantisation: {"min", "max", "values": nested lists of ints 0..255}."""
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    if hi > lo:
        q = np.rint((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    else:
        q = np.zeros(a.shape, dtype=np.uint8)
    return {"min": lo, "max": hi, "values": q.tolist()}


def run_layers(entry: ModelEntry, x28: np.ndarray, keep_layers: bool = True) -> tuple[np.ndarray, list[Any]]:
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
                layers.append({"name": name, "type": type(layer).__name__, "shape": list(out.shape), **quantise(out)})
        scores = backend.to_numpy(x).astype(np.float64).reshape(-1)
    return scores, layers


def prediction(entry: ModelEntry, x28: np.ndarray, keep_layers: bool = True) -> dict[str, Any]:
    """The body of POST /api/predict: model, probabilities, top classes, the input, the layers."""
    scores, layers = run_layers(entry, x28, keep_layers)
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
