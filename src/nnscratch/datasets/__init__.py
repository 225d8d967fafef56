"""Datasets: MNIST and Fashion-MNIST (checksummed, cached, several sources), the shipped MNIST
sample, IDX files and the book's helpers. MNIST is CC BY-SA 3.0 (LeCun, Cortes, Burges).
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
from .sample import load_mnist_sample, sample_info
from .utils import iterate_minibatches, shuffle_dataset, to_one_hot, train_val_split

__all__ = [
    "DATASETS", "ChecksumError", "DataCacheWarning", "DatasetUnavailableError", "IDXError",
    "clear_cache", "data_status", "dataset_dir", "default_data_root", "info", "iterate_minibatches",
    "load_arrays", "load_fashion_mnist", "load_mnist", "load_mnist_sample", "parse_idx", "read_idx",
    "sample_info", "shuffle_dataset", "to_one_hot", "train_val_split", "write_idx",
]
