"""The one pickle reader in nnscratch: the book's trained weights (``sample_weight.pkl``, ``params.pkl``,
``deep_convnet_params.pkl``, written by the book's ``save_params``, ch. 3.6 / 7 / 8), read safely.

A pickle is a program: each global it names is looked up and may be called. This reader admits only
what the book's files contain, numpy array reconstruction (``_reconstruct``, ``ndarray``), ``dtype``
of plain numbers (no object dtype) and a few builtin types; any other global (``os.system``,
``builtins.eval``, ``subprocess.Popen`` ...) raises :class:`BookPickleError` naming it, before
anything is called. The containers themselves (dict, list, tuple, str, numbers) are pickle opcodes,
not globals. Model files of nnscratch itself are never pickles (:mod:`nnscratch.serialization`).
"""
from __future__ import annotations

import builtins
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from . import backend
from .layers import Dropout
from .models import DeepConvNet, SimpleConvNet, ch3_network
from .models.booknets import book_names

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's own array reconstructor (numpy.core or numpy._core)
PICKLE_SUFFIXES = (".pkl", ".pickle")
#: the book's networks: --model name -> the book's file and script
BOOK_MODELS = {"neuralnet": "ch03/sample_weight.pkl (ch. 3.6, 784-50-100-10 sigmoid)",
               "simplecnn": "ch07/params.pkl (SimpleConvNet, ch. 7.5)",
               "deepcnn": "ch08/deep_convnet_params.pkl (DeepConvNet, ch. 8.1)"}


class BookPickleError(ValueError):
    """A pickle this reader refuses (a global outside the allow-list) or that holds no weights."""


class _NdarrayToken:
    """Stands in for ``numpy.ndarray``: only ``_reconstruct`` accepts it; it cannot be called."""

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayToken()


def _checked_dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    dt = np.dtype(spec, align, copy)
    if dt.hasobject or dt.kind not in "biufcSU":
        raise BookPickleError(f"refused dtype {dt!r}: only numeric and string arrays are read")
    return dt


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    if subtype is not _NDARRAY:
        raise BookPickleError(f"refused array subclass {subtype!r}: only numpy.ndarray is read")
    return _RECONSTRUCT(np.ndarray, shape, typecode)


def _scalar(dtype: Any, data: bytes = b"") -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise BookPickleError("refused numpy scalar: only plain numeric scalars are read")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _latin1(text: Any, encoding: str = "latin1") -> bytes:
    """Protocol 2 writes bytes as ``_codecs.encode(text, 'latin1')``: only that is admitted."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise BookPickleError("refused _codecs.encode other than latin1 text to bytes")
    return text.encode("latin1")


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: str = "C") -> np.ndarray:
    """Protocol 5 writes an array as ``_frombuffer(bytes, dtype, shape, order)``."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise BookPickleError("refused _frombuffer of anything but a plain numeric array")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order).copy()


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _reconstruct for m in _NUMPY_CORE},
    **{(m, "scalar"): _scalar for m in _NUMPY_CORE},
    **{(m, "_frombuffer"): _frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _checked_dtype,
    ("_codecs", "encode"): _latin1,
    **{("builtins", n): getattr(builtins, n)
       for n in ("complex", "set", "frozenset", "bytearray", "slice")},
}


class _BookUnpickler(pickle.Unpickler):
    """An Unpickler whose every global goes through :data:`ALLOWED`; nothing else is looked up."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise BookPickleError(
                f"refused global {module}.{name}: a weight file of the book holds only numpy arrays; "
                "this pickle would run other code, so it was not read") from None

    def persistent_load(self, pid: Any) -> Any:
        raise BookPickleError("refused persistent id: a weight file of the book has none")


def is_pickle(path: str | os.PathLike[str]) -> bool:
    """True for a file whose first byte is pickle's PROTO opcode (or named .pkl / .pickle)."""
    p = Path(path)
    if p.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with open(p, "rb") as f:
            return f.read(1) == b"\x80"
    except OSError:
        return False


def loads(data: bytes, where: str = "pickle") -> Any:
    """Unpickle ``data`` with the allow-list; BookPickleError naming what was refused."""
    try:
        return _BookUnpickler(io.BytesIO(data)).load()
    except BookPickleError as exc:
        raise BookPickleError(f"{where}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise BookPickleError(f"{where}: not a readable pickle of the book's weights ({exc})") from None


def load_params(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The book's ``load_params``: a dict key -> numpy array from one of its pickles, read safely."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such weight file: {p}")
    obj = loads(p.read_bytes(), str(p))
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()):
        raise BookPickleError(f"{p}: expected a dict of named numpy arrays (the book's params), "
                              f"got {type(obj).__name__}")
    return obj


def guess_book_model(params: dict[str, Any]) -> str | None:
    """Which --model a book params dict fits: neuralnet (3 dense), simplecnn (conv + 2 dense), deepcnn (8)."""
    weights = [params[k] for k in sorted((k for k in params if k[:1] == "W"), key=lambda k: int(k[1:] or 0))]
    ndims = [w.ndim for w in weights]
    return {(2, 2, 2): "neuralnet", (4, 2, 2): "simplecnn", (4,) * 6 + (2, 2): "deepcnn"}.get(tuple(ndims))


def to_model(params: dict[str, Any], model: str, dtype: Any = None) -> Any:
    """The nnscratch network ``model`` holding the book's ``params`` (computing in their dtype unless
    ``dtype`` says otherwise), in eval mode. DeepConvNet gets the book's Dropout: no scaling while
    training, ``x * (1 - p)`` at test (ch. 6.4.3), which its weights were trained for."""
    builders = {"neuralnet": ch3_network, "simplecnn": SimpleConvNet, "deepcnn": DeepConvNet}
    if model not in builders:
        raise ValueError(f"model must be one of {', '.join(builders)}, got {model!r}")
    first = next(iter(params.values()))
    dt = backend.as_dtype(dtype or first.dtype)
    net = builders[model](seed=0, dtype=dt)
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.inverted = False
    names = book_names(net)
    if set(names) != set(params):
        raise ValueError(f"these weights ({', '.join(sorted(params))}) do not fit --model {model} "
                         f"({', '.join(names)}); {guess_book_model(params) or 'none'} fits them")
    flat = net.params
    for key, name in names.items():
        if flat[name].shape != params[key].shape:
            raise ValueError(f"{key}: --model {model} needs shape {flat[name].shape}, the file has {params[key].shape}")
        flat[name][...] = backend.xp.asarray(params[key])
    return net.eval()


def not_a_model_file(path: str | os.PathLike[str]) -> ValueError:
    """The error a command gives for a pickle: it is read safely first (a refused global is named),
    then the user is told how to convert it."""
    params = load_params(path)
    guess = guess_book_model(params) or "{neuralnet,simplecnn,deepcnn}"
    return ValueError(f"{path} is a pickle (the book's weights: {', '.join(params)}); nnscratch reads "
                      f"model files, never pickles; convert it once: nnscratch convert {path} --model {guess} "
                      f"--out {Path(path).with_suffix('.npz').name}")


__all__ = ["ALLOWED", "BOOK_MODELS", "BookPickleError", "guess_book_model", "is_pickle", "load_params",
           "loads", "not_a_model_file", "to_model"]
