"""Save and load models (and optimizer state) as one ``.npz`` file: arrays + a JSON header, never pickle.

Layout: ``param/<flat name>`` for every model array, ``optim/<key>`` for optimizer arrays, and
``__meta__`` (UTF-8 JSON as uint8) with the architecture, dtype, optimizer config and ``extra``.
"""
from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import backend
from .fileio import atomic_write
from .models.sequential import Sequential
from .optimizers import get_optimizer
from .validation import key_mismatch

FORMAT = "nnscratch-model"
FORMAT_VERSION = 1
META_KEY = "__meta__"
PARAM_PREFIX = "param/"
OPTIM_PREFIX = "optim/"


class ModelFileError(ValueError):
    """A model file is missing, corrupt, not an nnscratch model, or does not match its architecture."""


def _with_suffix(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def to_jsonable(obj: Any, where: str = "extra") -> Any:
    """Convert numpy scalars/arrays inside dicts/lists to plain Python; reject anything else not JSON-able."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: dict keys must be strings for JSON, got {k!r}")
            out[k] = to_jsonable(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) or hasattr(obj, "get"):
        return backend.to_numpy(obj).tolist()
    raise ValueError(f"{where}: {type(obj).__name__} is not JSON-serialisable; pass numbers, strings, lists, dicts")


def _is_array(v: Any) -> bool:
    return isinstance(v, np.ndarray) or (hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, np.generic))


def save(model: Any, path: str | os.PathLike[str], optimizer: Any = None, extra: Any = None) -> Path:
    """Write ``model`` (+ optional optimizer state and JSON-able ``extra``) atomically to ``path`` (.npz)."""
    path = _with_suffix(path)
    arrays: dict[str, np.ndarray] = {}
    shapes: dict[str, Any] = {}
    for name, arr in model.state_dict().items():
        a = backend.to_numpy(arr)
        arrays[PARAM_PREFIX + name] = a
        shapes[name] = {"shape": list(a.shape), "dtype": a.dtype.name}
    opt_meta = None
    if optimizer is not None:
        scalars: dict[str, Any] = {}
        opt_shapes: dict[str, Any] = {}
        for key, val in optimizer.state_dict().items():
            if _is_array(val):
                a = backend.to_numpy(val)
                arrays[OPTIM_PREFIX + key] = a
                opt_shapes[key] = {"shape": list(a.shape), "dtype": a.dtype.name}
            else:
                scalars[key] = to_jsonable(val, f"optimizer state {key!r}")
        opt_meta = {
            "class": type(optimizer).__name__,
            "config": to_jsonable(optimizer.get_config(), "optimizer config"),
            "scalars": scalars,
            "arrays": opt_shapes,
        }
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": to_jsonable(model.get_config(), "architecture"),
        "model_name": type(model).__name__,
        "dtype": np.dtype(model.dtype).name,
        "training": bool(getattr(model, "training", True)),
        "arrays": shapes,
        "optimizer": opt_meta,
        "extra": to_jsonable(extra),
    }
    text = json.dumps(meta, allow_nan=True)
    arrays[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return atomic_write(path, write)  # fsync, then rename


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every array of the file plus the decoded header; any corruption becomes ModelFileError."""
    if not path.exists():
        alt = _with_suffix(path)
        if alt.exists():
            path = alt
        else:
            raise ModelFileError(f"{path}: no such model file")
    try:
        with open(path, "rb") as f:  # our own handle: np.load leaks its own when the zip is corrupt
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path}: not an nnscratch model file (a single array, not an .npz archive)")
            with data:
                arrays = {k: data[k] for k in data.files}
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, IndexError, zipfile.BadZipFile, RuntimeError,
            NotImplementedError, struct.error, zlib.error, OverflowError, MemoryError) as exc:
        raise ModelFileError(f"{path}: not a readable .npz file (truncated or corrupt?): {exc}") from exc
    if isinstance(arrays, np.ndarray) or META_KEY not in arrays:
        raise ModelFileError(f"{path}: not an nnscratch model file (no {META_KEY!r} entry)")
    raw = arrays.pop(META_KEY)
    try:
        meta = json.loads(raw.astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupt header ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an nnscratch model file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: unknown format_version {version!r} (this nnscratch reads {FORMAT_VERSION}); upgrade nnscratch"
        )
    return meta, arrays


def _check_arrays(path: Path, what: str, arrays: dict[str, np.ndarray], expected: dict[str, Any]) -> None:
    missing, unexpected = key_mismatch(expected, arrays)
    if missing or unexpected:
        raise ModelFileError(f"{path}: {what} arrays do not match the header: missing {missing}, unexpected {unexpected}")
    for k, spec in expected.items():
        a = arrays[k]
        if list(a.shape) != list(spec["shape"]) or a.dtype.name != spec["dtype"]:
            raise ModelFileError(
                f"{path}: {what} array {k!r} has shape {tuple(a.shape)} {a.dtype.name}, "
                f"the architecture expects {tuple(spec['shape'])} {spec['dtype']}"
            )


def _build(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[Any, Any]:
    xp = backend.xp
    state = {k[len(PARAM_PREFIX):]: v for k, v in arrays.items() if k.startswith(PARAM_PREFIX)}
    _check_arrays(path, "model", state, meta.get("arrays") or {})
    try:
        model = Sequential.from_config(meta["architecture"], {k: xp.asarray(v) for k, v in state.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: arrays do not fit the architecture: {exc}") from exc
    got = model.state_dict()
    if set(got) != set(state):
        missing = sorted(set(got) - set(state))
        raise ModelFileError(f"{path}: arrays do not fit the architecture: missing {missing}")
    model.training = bool(meta.get("training", True))
    opt_meta = meta.get("optimizer")
    optimizer = None
    if opt_meta is not None:
        opt_arrays = {k[len(OPTIM_PREFIX):]: v for k, v in arrays.items() if k.startswith(OPTIM_PREFIX)}
        _check_arrays(path, "optimizer", opt_arrays, opt_meta.get("arrays") or {})
        try:
            optimizer = get_optimizer(opt_meta["class"], **opt_meta["config"])
            optimizer.load_state_dict({**opt_meta["scalars"], **{k: xp.asarray(v) for k, v in opt_arrays.items()}})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: cannot restore the optimizer: {exc}") from exc
    return model, optimizer


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Any, Any, Any]:
    """Read a file written by :func:`save`: returns (model, optimizer or None, extra)."""
    path = Path(path)
    meta, arrays = _read(path)
    model, optimizer = _build(path, meta, arrays)
    return model, optimizer, meta.get("extra")


def load(path: str | os.PathLike[str]) -> Any:
    """Read the model of a file written by :func:`save` (a Sequential with the saved weights)."""
    return load_checkpoint(path)[0]


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a model file (architecture, dtype, optimizer, extra) after validation."""
    return _read(Path(path))[0]
