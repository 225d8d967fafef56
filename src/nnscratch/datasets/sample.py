"""A small slice of real MNIST shipped inside the package (no download, for tests and demos).

The first 5000 training and first 1000 test images in canonical order, uint8 in a compressed
.npz, each array checked against the SHA-256 in the JSON next to it. Rebuild with
``tools/make_sample.py``. MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges, CC BY-SA 3.0.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write_bytes
from .mnist import ChecksumError, Split, to_book_format

DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_NPZ = DATA_DIR / "mnist_sample.npz"
SAMPLE_JSON = DATA_DIR / "mnist_sample.json"
ARRAY_NAMES = ("x_train", "t_train", "x_test", "t_test")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def sha256_array(arr: np.ndarray) -> str:
    """SHA-256 of an array's C-order bytes."""
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> int:
    """A reproducible compressed .npz (fixed timestamps, deflate 9), written atomically; returns its size."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arr), allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_DATE)
            member.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(member, npy.getvalue(), compresslevel=9)
    atomic_write_bytes(path, buf.getvalue())
    return len(buf.getvalue())


def _fail(problem: str) -> ChecksumError:
    return ChecksumError(f"the shipped MNIST sample is damaged: {problem}; reinstall nnscratch "
                         "or rebuild it with tools/make_sample.py")


@functools.lru_cache(maxsize=1)
def _verified_sample(npz_path: str, json_path: str) -> dict[str, np.ndarray]:
    try:
        meta = json.loads(Path(json_path).read_text(encoding="utf-8"))
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ARRAY_NAMES}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise _fail(f"cannot read {npz_path} / {json_path} ({type(exc).__name__}: {exc})") from exc
    for name, arr in arrays.items():
        want = meta.get("arrays", {}).get(name) if isinstance(meta, dict) else None
        if not isinstance(want, dict) or "shape" not in want or "sha256" not in want:
            raise _fail(f"{Path(json_path).name} has no shape/sha256 entry for {name}")
        if arr.dtype != np.uint8 or list(arr.shape) != want["shape"]:
            raise _fail(f"{name} is {arr.dtype} {arr.shape}, expected uint8 {tuple(want['shape'])}")
        if sha256_array(arr) != want["sha256"]:
            raise _fail(f"{name} does not match its SHA-256 in {Path(json_path).name}")
        arr.setflags(write=False)
    return arrays


def load_mnist_sample(normalize: bool = True, flatten: bool = True,
                      one_hot_label: bool = False) -> tuple[Split, Split]:
    """The shipped MNIST slice as ((x_train, t_train), (x_test, t_test)), laid out like load_mnist."""
    a = _verified_sample(str(SAMPLE_NPZ), str(SAMPLE_JSON))
    images = {k: a[k].reshape(-1, 28, 28) for k in ("x_train", "x_test")}
    return (to_book_format(images["x_train"], a["t_train"], normalize, flatten, one_hot_label),
            to_book_format(images["x_test"], a["t_test"], normalize, flatten, one_hot_label))


def sample_info() -> dict[str, Any]:
    """Where the shipped sample lives, its size, counts and whether it verifies."""
    out: dict[str, Any] = {"name": "mnist-sample", "path": str(SAMPLE_NPZ),
                           "size_bytes": SAMPLE_NPZ.stat().st_size if SAMPLE_NPZ.exists() else None}
    try:
        a = _verified_sample(str(SAMPLE_NPZ), str(SAMPLE_JSON))
        out.update(verified=True, problem=None, n_train=len(a["t_train"]), n_test=len(a["t_test"]))
    except ChecksumError as exc:
        out.update(verified=False, problem=str(exc))
    return out
