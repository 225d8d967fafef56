"""The book's common/gradient.py: nnscratch's central-difference gradient (ch. 4.4) of an array of any shape."""
from __future__ import annotations

from ...gradient import numerical_gradient

#: the book's names for the 1-D and 2-D cases: nnscratch's function takes any shape
_numerical_gradient_1d = numerical_gradient
numerical_gradient_2d = numerical_gradient

__all__ = ["numerical_gradient", "numerical_gradient_2d"]
