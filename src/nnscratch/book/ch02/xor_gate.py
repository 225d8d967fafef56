"""The book's ch02/xor_gate.py: the XOR gate of ch. 2 (nnscratch.perceptron)."""
from ...perceptron import XOR

__all__ = ["XOR"]
