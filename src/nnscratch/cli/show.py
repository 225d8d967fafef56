"""`nnscratch show`: MNIST / Fashion-MNIST images by index, with their labels, on screen or as a PNG
(the book's ch03/mnist_show.py ``img_show``)."""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..datasets import DATASET_REGISTRY, get_dataset, load_dataset
from ..plotting import show_image

NAME = "show"


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch show``."""
    p = subparsers.add_parser(NAME, help="show data set images by index with their labels (screen or PNG)",
                              formatter_class=formatter_class,
                              description="Show one image or a grid of images of a data set, titled with their labels. "
                                          "Example: nnscratch show 0 1 2 --split train --out digits.png")
    p.add_argument("index", nargs="*", type=int, default=[0], help="image indices (default: 0)")
    p.add_argument("--dataset", choices=list(DATASET_REGISTRY), default="mnist", help="which data set")
    p.add_argument("--split", choices=("train", "test"), default="train", help="training or test images")
    p.add_argument("--out", default=None, metavar="OUT.png", help="write a PNG instead of opening a window")
    p.add_argument("--cols", type=int, default=None, help="images per row (default: up to 10)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Load the split, pick the images, show or save them; print each index and label."""
    (x, t), (xt, tt) = load_dataset(args.dataset, normalize=False)
    images, labels = (x, t) if args.split == "train" else (xt, tt)
    n = len(images)
    bad = [i for i in args.index if not -n <= i < n]
    if bad:
        raise ValueError(f"index must be in [0, {n}) for the {args.dataset} {args.split} split, got {bad}")
    if args.cols is not None and args.cols < 1:
        raise ValueError(f"--cols must be a positive int, got {args.cols}")
    names = list(get_dataset(args.dataset).class_names)
    idx = np.asarray(args.index)
    shown = [names[int(k)] for k in np.asarray(labels)[idx]]
    for i, name in zip(args.index, shown):
        print(f"{args.dataset} {args.split}[{i}]: {name}")
    result = show_image(np.asarray(images)[idx], labels=[f"{i}: {s}" for i, s in zip(args.index, shown)],
                        path=args.out, ncols=args.cols)
    if args.out:
        print(f"figure: {result}")
    return 0
