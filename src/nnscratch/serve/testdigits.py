"""'Show me a test digit': MNIST test images for the page, from the full test set when it is cached.

Never downloads: the full set is used only when ``nnscratch data`` (or any earlier load) left all
four verified files in the data directory; otherwise the shipped sample's 1 000 test images.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..datasets import info, load_arrays, load_mnist_sample


class TestDigits:
    """Loads its images on first use (a fraction of a second), then picks them at random or by index."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, seed: int | None = None, use_full: bool = True) -> None:
        self._lock = threading.Lock()
        self._images: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._rng = np.random.default_rng(seed)
        self.use_full = use_full
        self.source = ""

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._images is None:
                images = labels = None
                if self.use_full:
                    try:
                        if info("mnist")["complete"]:
                            a = load_arrays("mnist")
                            images, labels = a["test_images"], a["test_labels"]
                            self.source = f"MNIST test set ({len(labels):,} images)"
                    except (OSError, ValueError, RuntimeError):
                        images = None  # a damaged cache: fall back to the sample rather than fetch
                if images is None:
                    _, (x, t) = load_mnist_sample(normalize=False, flatten=False)
                    images, labels = x[:, 0], t
                    self.source = f"the shipped MNIST sample's test part ({len(labels):,} images)"
                self._images, self._labels = images, labels
            return self._images, self._labels  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._load()[1])

    def pick(self, index: int | None = None) -> dict[str, Any]:
        """{"index", "label", "pixels" (28x28 in 0..1), "source"}; a random image when index is None."""
        images, labels = self._load()
        if index is None:
            with self._lock:
                index = int(self._rng.integers(len(labels)))
        if not 0 <= index < len(labels):
            raise IndexError(f"index {index} is out of range; the test set has {len(labels)} images (0..{len(labels) - 1})")
        pixels = np.round(images[index].astype(np.float64) / 255.0, 3)
        return {"index": index, "label": int(labels[index]), "pixels": pixels.tolist(), "source": self.source}
