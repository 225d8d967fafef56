"""`nnscratch predict`: the top classes of digit pictures (PNG/JPEG of any size) under a saved model."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..functions import softmax
from ..images import load_digit, save_input
from .evaluate import load_model


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch predict``."""
    pr = subparsers.add_parser("predict", help="classify digit images (PNG/JPEG of any size)", formatter_class=formatter_class,
                               usage="%(prog)s [-h] [--pretrained NAME] [--top TOP] [--invert {auto,yes,no}] "
                                     "[--show-input OUT.png] [MODEL.npz] IMAGE [IMAGE ...]",
                               description="Each image is made MNIST-like: grayscale; the background (a smooth surface, "
                                           "following uneven lighting) and its noise are estimated and only what stands "
                                           "out from it by several noise widths is kept as ink, white on black; then the "
                                           "digit is cropped, scaled into a 20x20 box and centred by mass in 28x28. Without a "
                                           "model file, a shipped trained network classifies it (deepcnn unless "
                                           "--pretrained names another; `nnscratch models` lists them).")
    pr.add_argument("images", nargs="+", metavar="[MODEL.npz] IMAGE",
                    help="a model.npz written by `nnscratch train` (default: the shipped deepcnn), then image files")
    pr.add_argument("--pretrained", default=None, metavar="NAME", help="use a shipped network (`nnscratch models`)")
    pr.add_argument("--top", type=int, default=3, help="how many classes to show")
    pr.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                    help="yes: a dark digit on a light background; no: light on dark; auto: whichever side of "
                         "the estimated background holds more ink")
    pr.add_argument("--show-input", default=None, metavar="OUT.png",
                    help="save the 28x28 image the network sees (enlarged 10x); with several images, "
                         "OUT-<image name>.png for each")
    pr.set_defaults(func=run)
    return pr


def run(args: argparse.Namespace) -> int:
    """Print ``path: class (p %), ...`` for each image."""
    model_path, images = split_model_and_images(args.images)
    model, extra = load_model(model_path, args.pretrained)
    names = extra.get("class_names") or [str(i) for i in range(10)]
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    for path in images:
        x = load_digit(path, invert=invert).reshape(1, 1, 28, 28)
        p = softmax(model.predict(x))[0]
        top = np.argsort(p)[::-1][: args.top]
        ranked = ", ".join(f"{names[i]} ({100 * p[i]:.1f} %)" for i in top)
        print(f"{path}: {ranked}")
        if args.show_input:
            out = Path(args.show_input)
            if len(images) > 1:
                out = out.with_name(f"{out.stem}-{Path(path).stem}{out.suffix or '.png'}")
            print(f"  network input (28x28, shown 10x): {save_input(x, out)}")
    return 0


def split_model_and_images(paths: list[str]) -> tuple[str | None, list[str]]:
    """`predict [MODEL.npz] IMAGE...`: a first path ending in .npz is the model file, the rest images
    (a first .pkl / .pickle too: the book's weights, which the loader reads safely and says how to convert)."""
    if paths and paths[0].lower().endswith((".npz", ".pkl", ".pickle")):
        if len(paths) == 1:
            raise ValueError(f"no image given after the model file {paths[0]}")
        return paths[0], paths[1:]
    return None, list(paths)
