"""The book's ch02/or_gate.py: the OR gate of ch. 2 (nnscratch.perceptron)."""
from ...perceptron import OR

__all__ = ["OR"]
