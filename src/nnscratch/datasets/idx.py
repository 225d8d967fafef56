"""IDX files, the format MNIST ships in: a 4-byte magic (0, 0, dtype code, ndim), big-endian
uint32 dims, then the row-major payload. Gzipped or raw, read and written; anything malformed
raises :class:`IDXError` naming the problem.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Union

import numpy as np

from ..fileio import atomic_write_bytes

PathLike = Union[str, "os.PathLike[str]"]

#: IDX type code -> big-endian NumPy dtype (the IDX spec's six types).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.str[1:]: code for code, dt in IDX_DTYPES.items()}  # "u1", "i2", "f4", ...
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file is malformed: bad magic, unknown dtype, or a payload of the wrong length."""


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (gzip detected by its magic) into a new native-endian array; validates all."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(f"{name}: corrupt or truncated gzip stream ({exc}); "
                           "delete the file and fetch it again") from exc
    if len(data) < 4:
        raise IDXError(f"{name}: only {len(data)} bytes, too short for an IDX header")
    zero1, zero2, code, ndim = data[0], data[1], data[2], data[3]
    if zero1 or zero2:
        raise IDXError(f"{name}: bad magic number 0x{data[:4].hex()}; an IDX file starts with two zero bytes")
    if code not in IDX_DTYPES:
        raise IDXError(f"{name}: unknown IDX type code 0x{code:02x}; expected one of "
                       + ", ".join(f"0x{c:02x}" for c in IDX_DTYPES))
    if ndim == 0:
        raise IDXError(f"{name}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXError(f"{name}: truncated header: {ndim} dims need {header_len} bytes, file has {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise IDXError(f"{name}: payload {what}: shape {dims} of {dtype.name} needs {expected} bytes, "
                       f"found {actual}; the file is damaged, delete it and fetch it again")
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return np.array(arr, dtype=dtype.newbyteorder("="))  # a writable, native-endian copy


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw, told apart by content) into an array."""
    path = Path(path)
    return parse_idx(path.read_bytes(), name=str(path))


def encode_idx(arr: np.ndarray) -> bytes:
    """IDX bytes (not compressed) for an array of uint8, int8, int16, int32, float32 or float64."""
    arr = np.asarray(arr)
    key = arr.dtype.str[1:]
    if key not in _CODES:
        raise IDXError(f"IDX cannot store dtype {arr.dtype}; convert to one of "
                       + ", ".join(dt.name for dt in IDX_DTYPES.values()))
    if arr.ndim == 0 or arr.ndim > 255:
        raise IDXError(f"IDX needs 1 to 255 dimensions, got {arr.ndim}")
    code = _CODES[key]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: PathLike, arr: np.ndarray, compress: bool | None = None, compresslevel: int = 6) -> Path:
    """Write ``arr`` as IDX atomically (temp file + rename); gzip when ``compress`` or name ends .gz."""
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = encode_idx(arr)
    if compress:
        data = gzip.compress(data, compresslevel=compresslevel, mtime=0)
    atomic_write_bytes(path, data)
    return path
