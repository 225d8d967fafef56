"""IDX parser/writer: round trips, gzip detection, and clear errors on damaged files."""
from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnscratch.datasets import idx
from nnscratch.datasets.idx import IDXError, encode_idx, parse_idx, read_idx, write_idx

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["a-idx3-ubyte.gz", "a-idx3-ubyte"])
def test_round_trip_every_dtype_gz_and_raw(tmp_path, dtype, name):
    arr = (np.random.default_rng(0).standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / name, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.flags.writeable
    np.testing.assert_array_equal(back, arr)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4), compress=st.booleans())
def test_round_trip_any_shape(shape, compress):
    arr = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    data = encode_idx(arr)
    if compress:
        data = gzip.compress(data)
    back = parse_idx(data)
    assert back.shape == tuple(shape)
    np.testing.assert_array_equal(back, arr)


def test_header_layout_matches_the_spec():
    data = encode_idx(np.zeros((2, 3), dtype=np.uint8))
    assert data[:4] == bytes([0, 0, 0x08, 2])
    assert data[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert encode_idx(np.array([1], dtype=">i4")) == encode_idx(np.array([1], dtype="<i4"))
    assert encode_idx(np.array([1], dtype="<i4"))[-4:] == b"\x00\x00\x00\x01"  # big-endian payload


def test_gzip_is_detected_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "no-suffix", arr, compress=True)
    np.testing.assert_array_equal(read_idx(path), arr)


def test_truncated_payload_raises_clearly(tmp_path):
    data = encode_idx(np.zeros((10, 28, 28), dtype=np.uint8))
    with pytest.raises(IDXError, match=r"truncated.*\(10, 28, 28\).*7840 bytes, found 3920"):
        parse_idx(data[: 16 + 3920], name="cut")


def test_trailing_bytes_raise():
    with pytest.raises(IDXError, match="trailing bytes"):
        parse_idx(encode_idx(np.zeros(4, dtype=np.uint8)) + b"\x00")


def test_gzip_cut_in_half_raises_idx_error(tmp_path):
    gz = gzip.compress(encode_idx(np.random.default_rng(1).integers(0, 255, (50, 28, 28), dtype=np.uint8)))
    path = tmp_path / "half.gz"
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(IDXError, match=r"half\.gz.*corrupt or truncated gzip"):
        read_idx(path)


@pytest.mark.parametrize("data, message", [
    (b"", "too short"),
    (b"\x00\x00", "too short"),
    (b"PK\x03\x04rest", "bad magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated header"),
    (b"<html>not found</html>", "bad magic"),
])
def test_garbage_raises_idx_error(data, message):
    with pytest.raises(IDXError, match=message):
        parse_idx(data)


def test_idx_error_is_a_value_error():
    assert issubclass(IDXError, ValueError)


@pytest.mark.parametrize("arr", [np.zeros(3, dtype=np.float16), np.zeros(3, dtype=bool),
                                 np.array(3, dtype=np.uint8)])
def test_unsupported_arrays_are_rejected(arr):
    with pytest.raises(IDXError):
        encode_idx(arr)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "x.gz", np.arange(5, dtype=np.uint8))
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(idx.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(9, dtype=np.uint8))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gz"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_files_get_the_usual_mode_not_0600(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = write_idx(tmp_path / "m.gz", np.arange(3, dtype=np.uint8))
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_write_creates_parent_folders(tmp_path):
    path = write_idx(tmp_path / "a" / "b" / "y", np.ones((2, 2), dtype=np.int16))
    np.testing.assert_array_equal(read_idx(path), np.ones((2, 2)))
