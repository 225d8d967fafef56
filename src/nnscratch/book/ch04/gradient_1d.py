"""The book's ch04/gradient_1d.py: numerical_diff, function_1 and tangent_line of ch. 4.3 (nnscratch.gradient)."""
from ...gradient import function_1, numerical_diff, tangent_line

__all__ = ["function_1", "numerical_diff", "tangent_line"]
