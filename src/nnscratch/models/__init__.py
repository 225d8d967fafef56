"""Networks: Sequential and the book's model zoo."""
from .sequential import Sequential
from .zoo import DeepConvNet, MODELS, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet

__all__ = [
    "Sequential",
    "TwoLayerNet",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "SimpleConvNet",
    "DeepConvNet",
    "MODELS",
]
