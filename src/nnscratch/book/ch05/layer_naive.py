"""The book's ch05/layer_naive.py: the multiply and add nodes of ch. 5.4 (nnscratch.layers.naive)."""
from ...layers.naive import AddLayer, MulLayer

__all__ = ["AddLayer", "MulLayer"]
