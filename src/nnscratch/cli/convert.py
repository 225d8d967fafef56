"""`nnscratch convert`: the book's trained weights (a pickle) as an nnscratch model file, read safely."""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from .. import book_pickle, serialization

NAME = "convert"


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch convert``."""
    p = subparsers.add_parser(
        NAME, help="turn the book's weight pickle (sample_weight.pkl, params.pkl, ...) into a model file",
        formatter_class=formatter_class,
        description="Read one of the book's weight files with a restricted unpickler (numpy arrays only; any other "
                    "global is refused and named, nothing is run) and write it as an nnscratch model file for "
                    "`nnscratch evaluate` / `predict`. Models: " + "; ".join(
                        f"{k}: {v}" for k, v in book_pickle.BOOK_MODELS.items())
                    + ". Example: nnscratch convert ch07/params.pkl --model simplecnn --out simplecnn.npz")
    p.add_argument("pickle", metavar="BOOK.pkl", help="the book's weight file")
    p.add_argument("--model", choices=tuple(book_pickle.BOOK_MODELS), default=None,
                   help="the book's network these weights belong to (default: guessed from their shapes)")
    p.add_argument("--out", required=True, metavar="MODEL.npz", help="the model file to write")
    p.add_argument("--dtype", choices=("float16", "float32", "float64"), default=None,
                   help="store the weights in this precision (default: the pickle's own)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Read, check, build the network, write the file; print what was written."""
    params = book_pickle.load_params(args.pickle)
    name = args.model or book_pickle.guess_book_model(params)
    if name is None:
        raise ValueError(f"cannot tell which network {args.pickle} holds ({', '.join(params)}); pass --model")
    model = book_pickle.to_model(params, name, args.dtype)
    digest = hashlib.sha256(Path(args.pickle).read_bytes()).hexdigest()
    out = serialization.save(model, args.out, extra={"dataset": "mnist", "converted_from": Path(args.pickle).name,
                                                     "book_model": name, "source_sha256": digest,
                                                     "class_names": [str(i) for i in range(10)]})
    print(f"{args.pickle} ({name}, {model.num_params():,} parameters, {model.dtype}) -> {out}")
    return 0
