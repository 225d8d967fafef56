"""`nnscratch evaluate`: test accuracy, per-class accuracy and a confusion matrix of a saved model."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..argtypes import thread_count, with_threads
from ..datasets import DATASET_REGISTRY, get_dataset, load_dataset
from ..fileio import write_json_atomic
from ..plotting import plot_confusion
from ..pretrained import load_model_or_pretrained


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch evaluate``."""
    e = subparsers.add_parser("evaluate", help="accuracy, per-class accuracy and a confusion matrix",
                              formatter_class=formatter_class,
                              description="Evaluate a model file, or a shipped network (--pretrained NAME; deepcnn when "
                                          "neither is given), on a test set; writes confusion.png and evaluation.json.")
    e.add_argument("model", nargs="?", default=None,
                   help="a model.npz written by `nnscratch train` (default: the shipped deepcnn, see --pretrained)")
    e.add_argument("--pretrained", default=None, metavar="NAME", help="evaluate a shipped network (`nnscratch models`)")
    e.add_argument("--dataset", choices=list(DATASET_REGISTRY), default=None,
                   help="test set to use; without it, the one the model was trained on")
    e.add_argument("--out", default=None, help="where confusion.png and evaluation.json go; without it, the model's directory")
    e.add_argument("--threads", type=thread_count, default=None, metavar="N",
                   help="BLAS and kernel threads (threadpoolctl) (default: OPENBLAS_NUM_THREADS or all cores)")
    e.set_defaults(func=run)
    return e


def load_model(path: str | None, pretrained: str | None = None) -> tuple[Any, dict[str, Any]]:
    """(model in eval mode, the ``extra`` saved with it): the model file ``path``, else the shipped
    network ``pretrained``, else the default shipped one."""
    model, extra, _ = load_model_or_pretrained(path, pretrained)
    return model, extra


@with_threads
def run(args: argparse.Namespace) -> int:
    """Print accuracies; write confusion.png and evaluation.json."""
    model, extra = load_model(args.model, args.pretrained)
    dataset = args.dataset or extra.get("dataset", "mnist")
    _, (x_test, t_test) = load_dataset(dataset)
    names = list(get_dataset(dataset).class_names)
    pred = np.concatenate([model.predict(x_test[i : i + 1000]).argmax(axis=1) for i in range(0, len(x_test), 1000)])
    t = np.asarray(t_test).astype(np.int64)
    cm = np.zeros((10, 10), dtype=np.int64)
    np.add.at(cm, (t, pred), 1)
    acc = float(np.trace(cm) / cm.sum())
    print(f"{dataset} test accuracy: {100 * acc:.2f} % ({int(np.trace(cm))}/{int(cm.sum())})")
    print("per-class accuracy:")
    for i, name in enumerate(names):
        total = cm[i].sum()
        print(f"  {name:>12}: {100 * cm[i, i] / max(total, 1):6.2f} %  ({cm[i, i]}/{total})")
    out = Path(args.out) if args.out else (Path(args.model).resolve().parent if args.model
                                           else Path("runs") / f"evaluate-{extra.get('pretrained')}")
    try:
        fig: Any = plot_confusion(cm, out / "confusion.png", names, title=f"Confusion matrix, {dataset} test set")
    except ImportError as exc:  # a numpy-only install: the numbers above are the result
        fig = f"skipped ({exc})"
    result = {"dataset": dataset, "accuracy": acc, "confusion": cm.tolist(),
              "per_class": {n: float(cm[i, i] / max(cm[i].sum(), 1)) for i, n in enumerate(names)}}
    write_json_atomic(out / "evaluation.json", result)
    print(f"confusion matrix: {fig}\nnumbers: {out / 'evaluation.json'}")
    return 0
