"""MNIST and Fashion-MNIST loaders with the book's ``load_mnist`` signature (ch. 3.6.1).

Sources, in order: the data directory (``data_dir``, else $NNSCRATCH_DATA, else the platform
cache dir; one subfolder per dataset), then :data:`sources.SOURCES`. Every array is checked
against the SHA-256 below, and fetched data is saved to the data directory as canonical IDX .gz.
MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges, CC BY-SA 3.0.
Fashion-MNIST: Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf), MIT licence.
"""
from __future__ import annotations

import hashlib
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import sources as _sources
from .idx import IDXError, read_idx, write_idx
from .sources import FILE_NAMES, KEYS, find_idx_file, say
from .utils import to_one_hot

Split = tuple[np.ndarray, np.ndarray]


class DatasetUnavailableError(RuntimeError):
    """No source could provide a dataset; ``attempts`` lists (source, reason) pairs."""

    def __init__(self, message: str, attempts: list[tuple[str, str]]):
        super().__init__(message)
        self.attempts = attempts


class ChecksumError(ValueError):
    """A decoded array does not match its expected SHA-256 (corrupt or wrong file)."""


class DataCacheWarning(UserWarning):
    """A file in the data directory is damaged and is being fetched again."""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's name, data-dir subfolder and the SHA-256 of each decoded uint8 array."""

    name: str
    title: str
    subdir: str
    sha256: dict[str, str] = field(default_factory=dict)
    #: the verified shape of each array (part of "canonical": an IDX header could lie about it)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: a hint added to the "not available" error (e.g. the Debian package that ships the files)
    install_hint: str = ""


#: one image's (height, width) in every MNIST-like data set
IMAGE_HW = (28, 28)
#: MNIST's and Fashion-MNIST's array shapes (60000 training and 10000 test images)
MNIST_SHAPES = {"train_images": (60000, *IMAGE_HW), "train_labels": (60000,),
                "test_images": (10000, *IMAGE_HW), "test_labels": (10000,)}


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", "MNIST", "mnist", {
        "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    }, MNIST_SHAPES),
    "fashion-mnist": DatasetSpec("fashion-mnist", "Fashion-MNIST", "fashion-mnist", {
        "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "train_labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "test_labels": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    }, MNIST_SHAPES, "On Debian or Ubuntu the package dataset-fashion-mnist provides them "
                     "(sudo apt install dataset-fashion-mnist, into /usr/share/datasets/fashion-mnist)."),
}

_MEMO: dict[tuple, dict[str, np.ndarray]] = {}  # decoded read-only arrays keyed by file stats
_MEMO_SIZE = 2


def default_data_root() -> Path:
    """$NNSCRATCH_DATA, else the platform cache dir + 'nnscratch' (XDG, LOCALAPPDATA, Library/Caches)."""
    env = os.environ.get("NNSCRATCH_DATA")
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = xdg if os.path.isabs(xdg) else str(Path.home() / ".cache")
    return Path(base) / "nnscratch"


def dataset_dir(name: str = "mnist", data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding a dataset's four IDX files: ``<data root>/<mnist|fashion-mnist>``."""
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_root()
    return root / _spec(name).subdir


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}") from None


def verify_array(spec: DatasetSpec, key: str, arr: np.ndarray, origin: str) -> None:
    """Raise ChecksumError unless ``arr`` is the expected uint8 array: dtype, rank, shape (images are
    (N, 28, 28); the spec's shapes when it has them) and the SHA-256 of the bytes (images hashed as (N, 784)).

    The shape is checked as well as the bytes: an IDX header saying 30000x56x28 over the right bytes
    would otherwise pass and give images of the wrong size."""
    ndim = 3 if key.endswith("images") else 1
    if arr.dtype != np.uint8 or arr.ndim != ndim:
        raise ChecksumError(f"{origin}: expected a {ndim}-D uint8 array for {spec.title} {key}, "
                            f"got {arr.ndim}-D {arr.dtype}")
    expected = spec.shapes.get(key)
    if (expected is not None and arr.shape != tuple(expected)) or (ndim == 3 and arr.shape[1:] != IMAGE_HW):
        want = tuple(expected) if expected is not None else f"(N, {IMAGE_HW[0]}, {IMAGE_HW[1]})"
        raise ChecksumError(f"{origin}: shape {arr.shape} is not the canonical {want} of {spec.title} "
                            f"{key.replace('_', ' ')} (the IDX header does not match the data)")
    digest = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
    if digest != spec.sha256[key]:
        raise ChecksumError(f"{origin}: SHA-256 {digest[:16]}... does not match the expected "
                            f"{spec.sha256[key][:16]}... for {spec.title} {key.replace('_', ' ')}")


def _signature(folder: Path) -> tuple:
    stats = []
    for key in KEYS:
        for p in find_idx_file(folder, key):
            st = p.stat()
            stats.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(stats)


def _read_folder(spec: DatasetSpec, folder: Path, warn: bool) -> tuple[dict, dict, list[Path]]:
    """Verified arrays found in ``folder``, the reason each other key is missing, and damaged files."""
    arrays, problems, damaged = {}, {}, []
    for key in KEYS:
        errors = []
        for path in find_idx_file(folder, key):
            try:
                arr = read_idx(path)
                verify_array(spec, key, arr, str(path))
            except (IDXError, ChecksumError, OSError) as exc:
                errors.append(str(exc))
                damaged.append(path)
                continue
            arrays[key] = arr
            break
        if key not in arrays:
            problems[key] = "; ".join(errors) or f"{FILE_NAMES[key]}.gz missing"
        if errors and warn:
            fix = f"using {path.name} instead" if key in arrays else "fetching it again"
            warnings.warn(f"{errors[0]}; {fix}", DataCacheWarning, stacklevel=4)
    return arrays, problems, damaged


def _manual_help(spec: DatasetSpec, folder: Path) -> str:
    names = ", ".join(f"{FILE_NAMES[k]}.gz" for k in KEYS)
    return (f"To fix: place the four IDX files {names} (gzipped, or raw without .gz) in {folder} "
            f"(or pass data_dir= / set NNSCRATCH_DATA to a folder holding '{spec.subdir}/' with them); "
            "they are checked against SHA-256.")


def _save(arrays: dict[str, np.ndarray], folder: Path, damaged: list[Path], verbose: bool) -> None:
    try:
        for key, arr in arrays.items():
            target = folder / f"{FILE_NAMES[key]}.gz"
            say(verbose, f"saving {target}")
            write_idx(target, arr)
            for bad in damaged:
                if bad.name == FILE_NAMES[key]:  # a damaged raw twin would shadow nothing, but tidy up
                    bad.unlink(missing_ok=True)
    except OSError as exc:
        warnings.warn(f"could not save the data to {folder} ({exc}); it will be fetched again next time; "
                      "set NNSCRATCH_DATA or pass data_dir= to a writable folder",
                      DataCacheWarning, stacklevel=4)


def load_arrays(name: str = "mnist", data_dir: str | os.PathLike | None = None,
                verbose: bool = False) -> dict[str, np.ndarray]:
    """The four verified uint8 arrays (read-only, cached in-process), fetching what is missing."""
    spec = _spec(name)
    folder = dataset_dir(name, data_dir)
    sig = (spec.name, tuple(sorted(spec.sha256.items())), str(folder.resolve()), _signature(folder))
    if sig in _MEMO:
        return _MEMO[sig]
    say(verbose, f"{spec.title}: reading {folder}")
    arrays, problems, damaged = _read_folder(spec, folder, warn=True)
    attempts = []
    if problems:
        gone = all(v.endswith(" missing") for v in problems.values())
        why = f"no {spec.title} files there" if gone and not arrays else "; ".join(problems.values())
        attempts.append((f"data dir {folder}", why))
    fetched: dict[str, np.ndarray] = {}
    for source in _sources.SOURCES.get(name, []):
        need = tuple(k for k in KEYS if k not in arrays)
        if not need:
            break
        try:
            got = source.fetch(need, verbose=verbose)
        except Exception as exc:  # noqa: BLE001 - any failure means: try the next source
            attempts.append((source.name, f"{type(exc).__name__}: {exc}"))
            say(verbose, f"{source.name} failed: {exc}")
            continue
        bad = []
        for key in need:
            try:
                if key not in got:
                    raise ChecksumError(f"did not provide {key}")
                verify_array(spec, key, got[key], FILE_NAMES[key])
            except ChecksumError as exc:
                bad.append(str(exc))
                continue
            arrays[key] = fetched[key] = got[key]
        if bad:
            attempts.append((source.name, "; ".join(bad)))
    if len(arrays) < len(KEYS):
        tried = "\n".join(f"  {i}. {src}: {why}" for i, (src, why) in enumerate(attempts, 1))
        raise DatasetUnavailableError(
            f"{spec.title} is not available: no source could provide it.\nTried:\n{tried}\n"
            + _manual_help(spec, folder) + (f" {spec.install_hint}" if spec.install_hint else ""), attempts)
    if fetched:
        _save(fetched, folder, damaged, verbose)
    for arr in arrays.values():
        arr.setflags(write=False)
    if fetched or damaged:
        sig = sig[:3] + (_signature(folder),)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[sig] = arrays
    return arrays


def clear_cache() -> None:
    """Forget the decoded arrays kept in this process."""
    _MEMO.clear()


def to_book_format(images: np.ndarray, labels: np.ndarray, normalize: bool = True,
                   flatten: bool = True, one_hot_label: bool = False) -> Split:
    """Fresh arrays in the book's layout: x float32 in [0, 1] or uint8, (N, 784) or (N, 1, 28, 28)."""
    n = images.shape[0]
    x = images.reshape(n, -1) if flatten else images.reshape(n, 1, *images.shape[1:])
    if normalize:
        x = x.astype(np.float32)
        x /= 255.0
    else:
        x = x.copy()
    t = to_one_hot(labels, 10, dtype=np.float32) if one_hot_label else labels.copy()
    return x, t


def _load(name: str, normalize: bool, flatten: bool, one_hot_label: bool,
          data_dir: Any, verbose: bool) -> tuple[Split, Split]:
    a = load_arrays(name, data_dir, verbose)
    return (to_book_format(a["train_images"], a["train_labels"], normalize, flatten, one_hot_label),
            to_book_format(a["test_images"], a["test_labels"], normalize, flatten, one_hot_label))


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False,
               data_dir: str | os.PathLike | None = None, verbose: bool = False) -> tuple[Split, Split]:
    """MNIST as ((x_train, t_train), (x_test, t_test)), like the book's load_mnist (ch. 3.6.1).

    Labels are uint8 class indices (as in the book) or float32 one-hot (N, 10).
    """
    return _load("mnist", normalize, flatten, one_hot_label, data_dir, verbose)


def load_fashion_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False,
                       data_dir: str | os.PathLike | None = None,
                       verbose: bool = False) -> tuple[Split, Split]:
    """Fashion-MNIST with the same signature and layout as :func:`load_mnist`."""
    return _load("fashion-mnist", normalize, flatten, one_hot_label, data_dir, verbose)


def info(name: str = "mnist", data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Status of one dataset: its folder, and for each file whether it is present and verified."""
    spec = _spec(name)
    folder = dataset_dir(name, data_dir)
    arrays, problems, _ = _read_folder(spec, folder, warn=False)
    files = []
    for key in KEYS:
        found = find_idx_file(folder, key)
        files.append({"key": key, "file": f"{FILE_NAMES[key]}.gz",
                      "path": str(found[0]) if found else None, "present": bool(found),
                      "verified": key in arrays, "problem": problems.get(key)})
    return {"name": name, "title": spec.title, "dir": str(folder), "complete": len(arrays) == len(KEYS),
            "files": files, "sources": [s.name for s in _sources.SOURCES.get(name, [])]}


def data_status(data_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """:func:`info` for every dataset (for ``nnscratch data``)."""
    return {name: info(name, data_dir) for name in DATASETS}
