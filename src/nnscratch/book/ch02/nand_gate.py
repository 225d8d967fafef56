"""The book's ch02/nand_gate.py: the NAND gate of ch. 2 (nnscratch.perceptron)."""
from ...perceptron import NAND

__all__ = ["NAND"]
