"""Export a trained network to ONNX, the interchange format every inference runtime reads
(onnxruntime, OpenCV's dnn, TensorRT, browsers through onnxruntime-web).

``to_onnx(model, "model.onnx")`` writes the network's inference graph (``predict(x, train=False)``),
layer by layer:

| nnscratch layer | ONNX |
| --- | --- |
| Affine (x W + b, any input rank) | Flatten (when the input is not (N, D)) + Gemm |
| Convolution (stride, pad) | Conv (strides, pads) |
| MaxPooling / Pooling(mode="max") | MaxPool (padding never wins a maximum, like our -inf padding) |
| AveragePooling / Pooling(mode="avg") | AveragePool, count_include_pad=1 (we divide by the window size) |
| BatchNormalization | BatchNormalization in inference mode: running mean/var, our eps |
| Dropout, inverted (the default) | nothing: identity at test time |
| Dropout(inverted=False) (the book's) | Mul by (1 - ratio): the book scales at test time |
| Relu / Sigmoid / Tanh | Relu / Sigmoid / Tanh |
| Flatten | Flatten (axis 1) |
| SoftmaxWithLoss | nothing (the output is the scores), or Softmax with ``softmax=True`` |

The graph computes in float32 (float16/float64 weights are converted), takes one input named
``input`` of shape (N, 1, 28, 28) for ConvNets or (N, 784) for fully connected nets (N dynamic),
and records the model's name, accuracy and the nnscratch version in its metadata. The ``onnx``
package builds and checks it (``pip install 'nnscratch[onnx]'``); nothing is written unless the
whole graph was built and passed ``onnx.checker.check_model(full_check=True)``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__, backend, functions, optional
from .fileio import atomic_write

DEFAULT_OPSET = 17  # read by onnxruntime >= 1.11, OpenCV >= 4.7, TensorRT 8.6, onnxruntime-web
INPUT_NAME = "input"


class ExportError(ValueError):
    """The model cannot be expressed in ONNX (e.g. a layer with no ONNX form)."""


def _require(module: str) -> Any:
    return optional.require(module, f"ONNX export needs the {module} package")


class _Graph:
    """Nodes and initializers under construction, plus the name and per-sample shape of the current tensor."""

    def __init__(self, onnx: Any, shape: tuple[int, ...]) -> None:
        self.onnx, self.nodes, self.inits = onnx, [], []
        self.tensor, self.shape = INPUT_NAME, tuple(shape)

    def const(self, name: str, value: Any) -> str:
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(backend.to_numpy(value), dtype=np.float32), name))
        return name

    def node(self, op: str, name: str, inputs: Sequence[str], shape: tuple[int, ...], **attrs: Any) -> None:
        """Append ``op`` on the current tensor (+ ``inputs``); its output, named ``name``, becomes current."""
        self.nodes.append(self.onnx.helper.make_node(op, [self.tensor, *inputs], [name], name=name, **attrs))
        self.tensor, self.shape = name, tuple(shape)

    def flatten(self, name: str) -> None:
        if len(self.shape) != 1:
            self.node("Flatten", f"{name}_flatten", [], (math.prod(self.shape),), axis=1)


# ---------------------------------------------------------------- one function per layer class

def _affine(g: _Graph, name: str, layer: Any) -> None:
    layer.output_shape(g.shape)  # ValueError when the input has the wrong number of features
    g.flatten(name)  # Gemm wants (N, D); Affine flattens any rank row-major, as Flatten does
    W, b = layer.params["W"], layer.params["b"]
    g.node("Gemm", name, [g.const(f"{name}.W", W), g.const(f"{name}.b", b)], layer.output_shape(g.shape))


def _conv(g: _Graph, name: str, layer: Any) -> None:
    W, b = layer.params["W"], layer.params["b"]
    s, p = layer.stride, layer.pad
    g.node("Conv", name, [g.const(f"{name}.W", W), g.const(f"{name}.b", b)], layer.output_shape(g.shape),
           kernel_shape=list(W.shape[2:]), strides=[s, s], pads=[p, p, p, p], dilations=[1, 1], group=1)


def _pool(g: _Graph, name: str, layer: Any) -> None:
    attrs: dict[str, Any] = {"kernel_shape": [layer.pool_h, layer.pool_w], "strides": [layer.stride] * 2,
                             "pads": [layer.pad] * 4, "ceil_mode": 0}
    if layer.mode == "avg":
        attrs["count_include_pad"] = 1  # padded zeros count: we always divide by pool_h * pool_w
    g.node("AveragePool" if layer.mode == "avg" else "MaxPool", name, [], layer.output_shape(g.shape), **attrs)


def _batchnorm(g: _Graph, name: str, layer: Any) -> None:
    p, buf = layer.params, layer.buffers
    inputs = [g.const(f"{name}.gamma", p["gamma"]), g.const(f"{name}.beta", p["beta"]),
              g.const(f"{name}.running_mean", buf["running_mean"]), g.const(f"{name}.running_var", buf["running_var"])]
    g.node("BatchNormalization", name, inputs, layer.output_shape(g.shape), epsilon=float(layer.eps))


def _dropout(g: _Graph, name: str, layer: Any) -> None:
    if layer.inverted or layer.dropout_ratio == 0.0:
        return  # inverted dropout is the identity at test time
    g.node("Mul", name, [g.const(f"{name}.scale", np.float32(1.0 - layer.dropout_ratio))], g.shape)


def _activation(op: str) -> Callable[[_Graph, str, Any], None]:
    def emit(g: _Graph, name: str, layer: Any) -> None:
        g.node(op, name, [], g.shape)

    return emit


def _flatten(g: _Graph, name: str, layer: Any) -> None:
    g.node("Flatten", name, [], (math.prod(g.shape),), axis=1)


#: layer class name -> the function adding its ONNX nodes
CONVERTERS: dict[str, Callable[[_Graph, str, Any], None]] = {
    "Affine": _affine,
    "Convolution": _conv,
    "Pooling": _pool,
    "MaxPooling": _pool,
    "AveragePooling": _pool,
    "BatchNormalization": _batchnorm,
    "Dropout": _dropout,
    "Relu": _activation("Relu"),
    "Sigmoid": _activation("Sigmoid"),
    "Tanh": _activation("Tanh"),
    "Flatten": _flatten,
}


def default_input_shape(model: Any) -> tuple[int, ...]:
    """(C, 28, 28) when the first layer is a convolution (MNIST images), else (D,) for its Affine."""
    first = next(iter(model.layers.values()))
    W = first.params.get("W")
    if W is None:
        raise ExportError(f"cannot tell the input shape of a model starting with {type(first).__name__}; "
                          "pass input_shape=(C, H, W) or (D,)")
    return (int(W.shape[1]), 28, 28) if W.ndim == 4 else (int(W.shape[0]),)


def check_exportable(model: Any) -> None:
    """ExportError naming every layer that has no ONNX form (before anything is built or written)."""
    bad = [f"{name!r} ({type(layer).__name__})" for name, layer in model.layers.items()
           if type(layer).__name__ not in CONVERTERS]
    if bad:
        raise ExportError(f"cannot export to ONNX: layer {', '.join(bad)} has no ONNX form; "
                          f"exportable layers: {', '.join(CONVERTERS)}")


def build_onnx(model: Any, *, softmax: bool = False, input_shape: Sequence[int] | None = None,
               name: str | None = None, accuracy: float | None = None, metadata: dict[str, Any] | None = None,
               opset: int = DEFAULT_OPSET) -> Any:
    """The checked ``onnx.ModelProto`` of ``model``'s inference graph (see the module docstring)."""
    onnx = _require("onnx")
    TensorProto, helper = onnx.TensorProto, onnx.helper

    if not hasattr(model, "layers") or not hasattr(model, "last_layer"):
        raise TypeError(f"to_onnx expects an nnscratch Sequential model, got {type(model).__name__}")
    if int(opset) < 15:
        raise ValueError(f"opset must be >= 15, got {opset}")
    check_exportable(model)
    loss = type(model.last_layer).__name__
    if softmax and loss != "SoftmaxWithLoss":
        raise ExportError(f"softmax=True needs a network ending in SoftmaxWithLoss; this one ends in {loss}")
    shape = tuple(int(d) for d in (input_shape if input_shape is not None else default_input_shape(model)))
    g = _Graph(onnx, shape)
    for lname, layer in model.layers.items():
        try:
            CONVERTERS[type(layer).__name__](g, lname, layer)
        except ValueError as exc:  # a shape that does not fit, from layer.output_shape
            raise ExportError(f"layer {lname!r} ({type(layer).__name__}) does not fit its input of per-sample "
                              f"shape {g.shape}: {exc}") from exc
    output = "probabilities" if softmax else "logits"
    if softmax:
        g.node("Softmax", "softmax", [], g.shape, axis=-1)
    nodes = g.nodes or [helper.make_node("Identity", [INPUT_NAME], [output], name="identity")]
    nodes[-1].output[0] = output
    graph = helper.make_graph(
        nodes, name or type(model).__name__,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *shape])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", *g.shape])],
        initializer=g.inits,
    )
    opsets = [helper.make_opsetid("", int(opset))]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="nnscratch", producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))  # old runtimes refuse newer IR
    proto.doc_string = (f"{name or type(model).__name__}: nnscratch {type(model).__name__} "
                        f"({', '.join(type(l).__name__ for l in model.layers.values())}); input {INPUT_NAME} "
                        f"(N, {', '.join(map(str, shape))}) float32 in [0, 1]; output {output}")
    meta = {"model_name": name or type(model).__name__, "nnscratch_version": __version__, "output": output,
            "input": f"{INPUT_NAME}: float32 (N, {', '.join(map(str, shape))}), pixels in [0, 1], white digit on black",
            **({"test_accuracy": f"{accuracy:.6f}"} if accuracy is not None else {}), **(metadata or {})}
    helper.set_model_props(proto, {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the ONNX graph failed onnx.checker: {exc}") from exc
    return proto


def to_onnx(model: Any, path: str | os.PathLike[str], *, softmax: bool = False,
            input_shape: Sequence[int] | None = None, name: str | None = None, accuracy: float | None = None,
            metadata: dict[str, Any] | None = None, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (built and checked first, then written atomically).

    ``softmax``: end with a Softmax (output "probabilities") instead of the scores ("logits").
    ``input_shape``: per-sample input shape, default (C, 28, 28) for ConvNets, (D,) otherwise; an MLP
    given (1, 28, 28) gets a Flatten first. ``name``, ``accuracy`` and ``metadata`` (str -> str or
    JSON-able) go into the file's metadata_props with the nnscratch version. Returns the path.
    """
    proto = build_onnx(model, softmax=softmax, input_shape=input_shape, name=name, accuracy=accuracy,
                       metadata=metadata, opset=opset)
    data = proto.SerializeToString()
    return atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


def compare_with_onnxruntime(model: Any, path: str | os.PathLike[str], x: Any, batch_size: int = 500) -> dict[str, Any]:
    """Run the exported file in onnxruntime (CPU) and ``model.predict`` on the same float32 ``x``.

    Returns max_abs_diff (of the outputs, before any softmax the file may add), whether the arg-max
    predictions agree, and the count of differing predictions.
    """
    ort = _require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.asarray(backend.to_numpy(x), dtype=np.float32)
    x = x.reshape(len(x), *[int(d) for d in inp.shape[1:]])
    ours, theirs = [], []
    probs = sess.get_outputs()[0].name == "probabilities"
    m32 = model.astype("float32").eval() if model.dtype != np.float32 else model
    for i in range(0, len(x), batch_size):
        ours.append(np.asarray(backend.to_numpy(m32.predict(x[i:i + batch_size], train=False))))
        theirs.append(sess.run(None, {inp.name: x[i:i + batch_size]})[0])
    a, b = np.concatenate(ours), np.concatenate(theirs)
    if probs:
        a = np.asarray(functions.softmax(a))
    diff = int((a.argmax(axis=1) != b.argmax(axis=1)).sum())
    return {"max_abs_diff": float(np.abs(a - b).max()), "same_predictions": diff == 0, "n_different": diff,
            "n": int(len(x))}


__all__ = ["CONVERTERS", "DEFAULT_OPSET", "ExportError", "build_onnx", "check_exportable", "compare_with_onnxruntime",
           "default_input_shape", "to_onnx"]
