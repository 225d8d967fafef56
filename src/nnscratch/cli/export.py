"""`nnscratch export`: write a model file (or a shipped network) as ONNX for other runtimes."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import onnx_export
from ..argtypes import positive_int
from ..datasets import load_mnist_sample
from ..pretrained import load_model_or_pretrained

NAME = "export"
INPUT_SHAPES = {"auto": None, "image": (1, 28, 28), "flat": (784,)}


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch export``."""
    p = subparsers.add_parser(
        NAME, help="write a model as ONNX (onnxruntime, OpenCV dnn, TensorRT, onnxruntime-web)",
        formatter_class=formatter_class, usage="%(prog)s [-h] [options] (MODEL.npz | --pretrained NAME) OUT.onnx",
        description="Export the inference graph of a model file, or of a shipped network (--pretrained), to an "
                    "ONNX file (opset 17, float32; input 'input' of shape (N, 1, 28, 28) for ConvNets or (N, 784), "
                    "N dynamic; output 'logits', or 'probabilities' with --softmax). Needs the onnx package: "
                    "pip install 'nnscratch[onnx]'. Example: nnscratch export --pretrained deepcnn deepcnn.onnx --verify")
    p.add_argument("paths", nargs="+", metavar="[MODEL.npz] OUT.onnx",
                   help="the model file written by `nnscratch train` (omit it with --pretrained), then the .onnx to write")
    p.add_argument("--pretrained", default=None, metavar="NAME", help="export a shipped network (see `nnscratch models`)")
    p.add_argument("--softmax", action="store_true", help="end the graph with a Softmax: output probabilities, not logits")
    p.add_argument("--input", choices=tuple(INPUT_SHAPES), default="auto",
                   help="input shape: image (N, 1, 28, 28), flat (N, 784); auto: image for ConvNets, flat otherwise "
                        "(a fully connected net given images starts with a Flatten)")
    p.add_argument("--opset", type=positive_int, default=None, help="ONNX opset, >= 15 (default 17)")
    p.add_argument("--verify", action="store_true",
                   help="run the file in onnxruntime on the shipped sample's 1000 test images and compare with nnscratch")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Write the .onnx file; with --verify, compare onnxruntime with nnscratch (exit 1 if predictions differ)."""
    paths = list(args.paths)
    if len(paths) != (1 if args.pretrained else 2):
        raise ValueError("give MODEL.npz OUT.onnx, or --pretrained NAME OUT.onnx; "
                         f"got {len(paths)} path(s): {' '.join(paths)}")
    out = Path(paths[-1])
    if out.suffix != ".onnx":
        raise ValueError(f"the output should be a .onnx file, got {out}")
    model, extra, label = load_model_or_pretrained(None if args.pretrained else paths[0], args.pretrained, default=None)
    meta = {k: extra[k] for k in ("dataset", "class_names", "pretrained", "command", "date") if k in extra}
    meta["source"] = label
    acc = extra.get("test_acc")
    written = onnx_export.to_onnx(model, out, softmax=args.softmax, input_shape=INPUT_SHAPES[args.input],
                                  name=extra.get("pretrained") or Path(label).stem,
                                  accuracy=acc if isinstance(acc, (int, float)) else None,
                                  metadata=meta, opset=args.opset or onnx_export.DEFAULT_OPSET)
    print(f"wrote {written} ({written.stat().st_size:,} bytes) from {label}"
          + (f", test accuracy {100 * acc:.2f} %" if isinstance(acc, (int, float)) else ""))
    if not args.verify:
        return 0
    _, (x_test, _) = load_mnist_sample(normalize=True, flatten=False)
    r = onnx_export.compare_with_onnxruntime(model, written, x_test)
    same = "identical predictions" if r["same_predictions"] else f"{r['n_different']} predictions differ"
    print(f"onnxruntime vs nnscratch on {r['n']} test images: max |difference| {r['max_abs_diff']:.2e}, {same}")
    return 0 if r["same_predictions"] else 1
