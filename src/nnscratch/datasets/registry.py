"""Every data set by name: its loader, class names, image shape and title (the CLI, the tuner and the
experiments all look data sets up here). Adding a data set is one :class:`DatasetInfo` entry."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .mnist import DATASETS, Split, load_fashion_mnist, load_mnist
from .sample import load_mnist_sample

DIGITS = tuple(str(i) for i in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class DatasetInfo:
    """A data set: ``load(normalize, flatten, one_hot_label)`` with the book's signature, and what it holds.

    ``downloadable``: fetched and cached by :mod:`.mnist` (``nnscratch data`` shows and fetches it).
    """

    name: str
    title: str
    load: Callable[..., tuple[Split, Split]]
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int] = (1, 28, 28)
    downloadable: bool = False


DATASET_REGISTRY: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("mnist", DATASETS["mnist"].title, load_mnist, DIGITS, downloadable=True),
    DatasetInfo("fashion-mnist", DATASETS["fashion-mnist"].title, load_fashion_mnist, FASHION, downloadable=True),
    DatasetInfo("mnist-sample", "MNIST sample shipped with nnscratch", load_mnist_sample, DIGITS),
)}


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry of ``name``; ValueError listing the known names otherwise."""
    try:
        return DATASET_REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_REGISTRY)}") from None


def load_dataset(name: str, flatten: bool = False, normalize: bool = True,
                 one_hot_label: bool = False) -> tuple[Split, Split]:
    """((x_train, t_train), (x_test, t_test)) of a data set by name; images (N, 1, 28, 28) unless ``flatten``."""
    return get_dataset(name).load(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label)


__all__ = ["DATASET_REGISTRY", "DatasetInfo", "get_dataset", "load_dataset"]
