"""The book's ch02/and_gate.py: the AND gate of ch. 2 (nnscratch.perceptron)."""
from ...perceptron import AND

__all__ = ["AND"]
