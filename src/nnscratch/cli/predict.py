"""`nnscratch predict`: the top classes of digit pictures (PNG/JPEG of any size) under a saved model."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..argtypes import one_line, positive_int
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
                    help="a model.npz written by `nnscratch train` (default: the shipped deepcnn), then image files "
                         "or directories of them")
    pr.add_argument("--pretrained", default=None, metavar="NAME", help="use a shipped network (`nnscratch models`)")
    pr.add_argument("--top", type=positive_int, default=3, help="how many classes to show")
    pr.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                    help="yes: a dark digit on a light background; no: light on dark; auto: whichever side of "
                         "the estimated background holds more ink")
    pr.add_argument("--show-input", default=None, metavar="OUT.png",
                    help="save the 28x28 image the network sees (enlarged 10x); with several images, "
                         "OUT-<image name>.png for each")
    pr.set_defaults(func=run)
    return pr


#: the picture files a directory given to predict contributes (by suffix, case-insensitive)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def expand_images(paths: list[str]) -> tuple[list[str], list[str]]:
    """(image files, problems): a directory gives its pictures (sorted), a file itself; a missing path
    or an empty directory is a problem, reported without stopping the others."""
    files, problems = [], []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            files += found
            if not found:
                problems.append(f"{p}: error: a directory with no images ({', '.join(IMAGE_SUFFIXES)})")
        elif path.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: error: no such file or directory")
    return files, problems


def run(args: argparse.Namespace) -> int:
    """Print ``path: class (p %), ...`` for each image; a bad image is reported (stderr) and skipped,
    and the exit code is 2 when any failed."""
    model_path, paths = split_model_and_images(args.images)
    model, extra = load_model(model_path, args.pretrained)
    names = extra.get("class_names") or [str(i) for i in range(10)]
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    images, problems = expand_images(paths)
    for line in problems:
        print(line, file=sys.stderr)
    failed = len(problems)
    for path in images:
        try:
            x = load_digit(path, invert=invert).reshape(1, 1, 28, 28)
        except (ValueError, OSError) as exc:  # this picture only (ImportError, a missing extra, stops all)
            failed += 1
            print(f"{path}: error: {one_line(exc)}", file=sys.stderr)
            continue
        p = softmax(model.predict(x))[0]
        top = np.argsort(p)[::-1][: args.top]
        ranked = ", ".join(f"{names[i]} ({100 * p[i]:.1f} %)" for i in top)
        print(f"{path}: {ranked}", flush=True)
        if args.show_input:
            out = Path(args.show_input)
            if len(images) > 1:
                out = out.with_name(f"{out.stem}-{Path(path).stem}{out.suffix or '.png'}")
            print(f"  network input (28x28, shown 10x): {save_input(x, out)}")
    if failed:
        print(f"nnscratch predict: {failed} of {len(images) + len(problems)} inputs could not be classified",
              file=sys.stderr)
        return 2
    return 0


def split_model_and_images(paths: list[str]) -> tuple[str | None, list[str]]:
    """`predict [MODEL.npz] IMAGE...`: a first path ending in .npz is the model file, the rest images
    (a first .pkl / .pickle too: the book's weights, which the loader reads safely and says how to convert)."""
    if paths and paths[0].lower().endswith((".npz", ".pkl", ".pickle")):
        if len(paths) == 1:
            raise ValueError(f"no image given after the model file {paths[0]}")
        return paths[0], paths[1:]
    return None, list(paths)
