"""Save and load models (and optimizer state) as one ``.npz`` file: arrays + a JSON header, never pickle.

Layout: ``param/<flat name>`` for every model array, ``optim/<key>`` for optimizer arrays, and
``__meta__`` (UTF-8 JSON as uint8) with the architecture, dtype, optimizer config and ``extra``.
"""
from __future__ import annotations

import json
import math
import os
import re
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
    if not all(callable(getattr(model, m, None)) for m in ("state_dict", "get_config")):
        raise TypeError(f"model must be a network (a Sequential with state_dict() and get_config()), "
                        f"got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")
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


#: the largest JSON header read (a checkpoint's history of a long run is a few MB)
MAX_HEADER_BYTES = 64 * 2**20
#: the deepest nesting of lists/objects the header may have (ours is about 8 deep)
MAX_HEADER_DEPTH = 64
#: all arrays together, as the header declares them (DeepConvNet with Adam's state: ~6 MB). A
#: deflated file of zeros is ~1000x smaller than its arrays, so without a cap a small file could
#: make the reader allocate and fill gigabytes; raise it for a larger network of your own.
MAX_ARRAY_BYTES = 4 * 2**30
#: room for an .npy member's own header (magic, version, length, the dict padded to 64 bytes)
NPY_HEADER_MAX = 4096
#: the dtypes a model file's arrays may have (model: floats; optimizer state: floats and counters)
ARRAY_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8")


def _fail(path: Path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: {what}")


def _json_depth(raw: bytes) -> int:
    """The deepest nesting of [ and { in JSON text, outside strings (linear, in C via re and NumPy)."""
    text = re.sub(rb'"[^"]*"', b'""', re.sub(rb"\\\\.", b"", raw))  # drop escapes, then string bodies
    b = np.frombuffer(text, dtype=np.uint8)
    step = np.isin(b, (ord("["), ord("{"))).astype(np.int64) - np.isin(b, (ord("]"), ord("}")))
    return int(np.cumsum(step).max()) if step.size else 0


def _npy_spec(path: Path, where: str, spec: Any) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one header entry {"shape": [...], "dtype": name}, checked."""
    if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list) or spec.get("dtype") not in ARRAY_DTYPES:
        raise _fail(path, f"header entry for array {where!r} must be {{'shape': [ints], 'dtype': one of "
                          f"{list(ARRAY_DTYPES)}}}, got {str(spec)[:200]}")
    shape = spec["shape"]
    if len(shape) > 8 or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape):
        raise _fail(path, f"header shape of array {where!r} must be up to 8 non-negative integers, got {shape[:10]}")
    return tuple(shape), np.dtype(spec["dtype"])


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, name: str,
                 shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """One .npy member whose size, shape and dtype were promised by the header; read into a fresh array."""
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size > nbytes + NPY_HEADER_MAX or info.file_size < nbytes:
        raise _fail(path, f"array {name!r} takes {info.file_size:,} bytes in the archive, but the header declares "
                          f"{shape} {dtype.name} ({nbytes:,} bytes of data): refused before reading it")
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in reader:
                raise ValueError(f"unsupported .npy version {version}")
            got_shape, fortran, got_dtype = reader[version](f, max_header_size=NPY_HEADER_MAX)
        except ValueError as exc:
            raise _fail(path, f"array {name!r} is not a valid .npy array ({str(exc)[:200]})") from None
        if tuple(got_shape) != shape or got_dtype != dtype:
            raise _fail(path, f"array {name!r} has shape {tuple(got_shape)} {got_dtype}, the header declares "
                              f"{shape} {dtype.name}")
        out = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
        view = memoryview(out.reshape(-1)).cast("B") if out.size else memoryview(b"")
        done = 0
        while done < nbytes:
            n = f.readinto(view[done:])
            if not n:
                raise _fail(path, f"array {name!r} is truncated ({done:,} of {nbytes:,} bytes)")
            done += n
        if f.read(1):
            raise _fail(path, f"array {name!r} has bytes after its data")
    return out.T if fortran else out


def _read_meta(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    """The JSON header (``__meta__.npy``, uint8), size- and depth-bounded, with format and version checked."""
    try:
        info = zf.getinfo(META_KEY + ".npy")
    except KeyError:
        raise _fail(path, f"not an nnscratch model file (no {META_KEY!r} entry)") from None
    if info.file_size > MAX_HEADER_BYTES + NPY_HEADER_MAX:
        raise _fail(path, f"header of {info.file_size:,} bytes is larger than the {MAX_HEADER_BYTES:,} allowed")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f, max_header_size=NPY_HEADER_MAX)
        if len(shape) != 1 or dtype != np.uint8:
            raise _fail(path, f"corrupt header: {META_KEY} must be 1-D uint8, got {shape} {dtype}")
        raw = f.read(MAX_HEADER_BYTES + 1)
    if len(raw) != shape[0]:
        raise _fail(path, f"corrupt header: {len(raw)} bytes where {shape[0]} are declared")
    if (depth := _json_depth(raw)) > MAX_HEADER_DEPTH:
        raise _fail(path, f"corrupt header: JSON nested {depth} deep (at most {MAX_HEADER_DEPTH} allowed)")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _fail(path, f"corrupt header ({str(exc)[:200]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise _fail(path, f"not an nnscratch model file (format {str(got)[:100]!r})")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise _fail(path, f"unknown format_version {str(version)[:50]} (this nnscratch reads {FORMAT_VERSION}); "
                          "upgrade nnscratch")
    for key, kind in (("architecture", dict), ("arrays", dict), ("extra", object)):
        if key not in meta or not isinstance(meta[key], kind):
            raise _fail(path, f"corrupt header: {key!r} must be a {kind.__name__}, got {type(meta.get(key)).__name__}")
    if meta.get("optimizer") is not None and not (isinstance(meta["optimizer"], dict)
                                                  and isinstance(meta["optimizer"].get("arrays", {}), dict)):
        raise _fail(path, "corrupt header: 'optimizer' must be a dict with an 'arrays' dict")
    if not isinstance(meta.get("training", True), bool):
        raise _fail(path, f"corrupt header: 'training' must be true or false, got {meta['training']!r}")
    return meta


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The decoded header plus every array, each checked from the zip directory before it is decompressed:
    a member must be the ``.npy`` of the shape and dtype the header declares, and no bigger."""
    if not path.exists():
        alt = _with_suffix(path)
        if alt.exists():
            path = alt
        else:
            raise ModelFileError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelFileError(f"{path}: a directory, not a model file")
    try:
        with open(path, "rb") as fh:
            if fh.read(6) == b"\x93NUMPY":
                raise _fail(path, "not an nnscratch model file (a single array, not an .npz archive)")
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                meta = _read_meta(zf, path)
                expected = {META_KEY: None}
                model_dtype = meta.get("dtype")
                for name, spec in meta["arrays"].items():
                    expected[PARAM_PREFIX + name] = _npy_spec(path, name, spec)
                    if spec["dtype"] != model_dtype:
                        raise _fail(path, f"array {name!r} is {spec['dtype']} but the header's model dtype is "
                                          f"{str(model_dtype)[:30]!r}")
                for name, spec in ((meta.get("optimizer") or {}).get("arrays") or {}).items():
                    expected[OPTIM_PREFIX + name] = _npy_spec(path, name, spec)
                declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype in filter(None, expected.values()))
                if declared > MAX_ARRAY_BYTES:
                    raise _fail(path, f"the header declares {declared:,} bytes of arrays, more than the "
                                      f"{MAX_ARRAY_BYTES:,} this reader accepts (serialization.MAX_ARRAY_BYTES): "
                                      "refused before reading them")
                infos = {}
                for info in zf.infolist():
                    if not info.filename.endswith(".npy") or info.is_dir():
                        raise _fail(path, f"archive member {info.filename[:100]!r} is not an .npy array")
                    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                        raise _fail(path, f"archive member {info.filename[:100]!r} uses an unsupported compression")
                    infos[info.filename[:-4]] = info
                missing, unexpected = key_mismatch(expected, infos)
                if missing or unexpected:
                    raise _fail(path, f"arrays do not match the header: missing {missing[:20]}, "
                                      f"unexpected {unexpected[:20]}")
                arrays = {k: _read_member(zf, infos[k], path, k, *expected[k]) for k in expected if k != META_KEY}
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, IndexError, zipfile.BadZipFile, RuntimeError,
            NotImplementedError, struct.error, zlib.error, OverflowError, MemoryError) as exc:
        raise ModelFileError(f"{path}: not a readable .npz file (truncated or corrupt?): {str(exc)[:300]}") from exc
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
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{path}: the architecture in the header cannot be rebuilt: {exc}") from exc
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
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
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
