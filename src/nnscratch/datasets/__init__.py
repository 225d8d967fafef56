"""Datasets: MNIST and Fashion-MNIST (checksummed, cached, several sources), the shipped MNIST
sample, IDX files and the book's helpers. MNIST is CC BY-SA 3.0 (LeCun, Cortes, Burges).

``DATASET_REGISTRY`` lists every data set by name (loader, class names, shape, title);
``DATASETS`` holds the checksums of the downloadable ones.
"""
from .idx import IDXError, parse_idx, read_idx, write_idx
from .mnist import (
    DATASETS,
    ChecksumError,
    DataCacheWarning,
    DatasetUnavailableError,
    clear_cache,
    data_status,
    dataset_dir,
    default_data_root,
    info,
    load_arrays,
    load_fashion_mnist,
    load_mnist,
)
from .registry import DATASET_REGISTRY, DatasetInfo, get_dataset, load_dataset
from .sample import load_mnist_sample, sample_info
from .utils import iterate_minibatches, shuffle_dataset, smooth_curve, to_one_hot, train_val_split

__all__ = [
    "DATASETS", "DATASET_REGISTRY", "DatasetInfo", "get_dataset", "load_dataset", "ChecksumError", "DataCacheWarning", "DatasetUnavailableError", "IDXError",
    "clear_cache", "data_status", "dataset_dir", "default_data_root", "info", "iterate_minibatches",
    "load_arrays", "load_fashion_mnist", "load_mnist", "load_mnist_sample", "parse_idx", "read_idx",
    "sample_info", "shuffle_dataset", "smooth_curve", "to_one_hot", "train_val_split", "write_idx",
]
