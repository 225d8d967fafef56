"""The book's dataset/mnist.py: ``load_mnist(normalize=True, flatten=True, one_hot_label=False)``, read by
nnscratch's loader (downloaded once, checksummed, cached; no pickle)."""
from ...datasets.mnist import load_mnist

__all__ = ["load_mnist"]
