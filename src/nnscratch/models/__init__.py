"""Networks: Sequential, the book's model zoo, and the registry of models by name."""
from .booknets import CH3_ARCHITECTURE, SigmoidTwoLayerNet, SimpleNet, ch3_network
from .registry import MODEL_REGISTRY, MODELS, ModelInfo, get_model
from .sequential import Sequential
from .tasks import attach_preprocessing, model_task, r2_score, regression_scores, rmse
from .zoo import DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet

__all__ = [
    "Sequential",
    "TwoLayerNet",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "SimpleConvNet",
    "DeepConvNet",
    "SigmoidTwoLayerNet",
    "SimpleNet",
    "CH3_ARCHITECTURE",
    "ch3_network",
    "MODELS",
    "MODEL_REGISTRY",
    "ModelInfo",
    "get_model",
    "model_task",
    "rmse",
    "r2_score",
    "regression_scores",
    "attach_preprocessing",
]
