#!/usr/bin/env python3
"""Rebuild the MNIST sample shipped in src/nnscratch/datasets/data/ from the full, verified MNIST.

Usage: python tools/make_sample.py [--n-train 5000] [--n-test 1000] [--out DIR] [--check]
Deterministic: the first N images in canonical order, fixed zip timestamps, deflate level 9.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nnscratch.datasets import load_arrays
from nnscratch.fileio import atomic_write_bytes
from nnscratch.datasets.mnist import DATASETS
from nnscratch.datasets.sample import DATA_DIR, sha256_array, write_npz

CREDIT = ("MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges "
          "(http://yann.lecun.com/exdb/mnist/), licensed CC BY-SA 3.0.")
MAX_BYTES = 1_000_000


def build(n_train: int, n_test: int, out: Path) -> dict:
    """Write mnist_sample.npz and mnist_sample.json into ``out``; returns the JSON metadata."""
    a = load_arrays("mnist", verbose=True)
    arrays = {
        "x_train": a["train_images"][:n_train].reshape(n_train, 784),
        "t_train": a["train_labels"][:n_train],
        "x_test": a["test_images"][:n_test].reshape(n_test, 784),
        "t_test": a["test_labels"][:n_test],
    }
    size = write_npz(out / "mnist_sample.npz", arrays)
    meta = {
        "name": "mnist-sample",
        "description": f"The first {n_train} training and first {n_test} test images of MNIST, canonical "
                       "order, uint8, images flattened to (N, 784). Rebuild with tools/make_sample.py.",
        "credit": CREDIT,
        "license": "CC BY-SA 3.0",
        "npz_bytes": size,
        "arrays": {k: {"shape": list(v.shape), "dtype": "uint8", "sha256": sha256_array(v)}
                   for k, v in arrays.items()},
        "source_sha256": DATASETS["mnist"].sha256,
    }
    atomic_write_bytes(out / "mnist_sample.json", (json.dumps(meta, indent=2) + "\n").encode())
    if size >= MAX_BYTES:
        print(f"warning: sample is {size} bytes, over the {MAX_BYTES}-byte budget", file=sys.stderr)
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--check", action="store_true",
                    help="rebuild into a temp dir and compare the array checksums with the shipped JSON")
    args = ap.parse_args(argv)
    if args.check:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            meta = build(args.n_train, args.n_test, Path(tmp))
        shipped = json.loads((DATA_DIR / "mnist_sample.json").read_text(encoding="utf-8"))
        same = shipped["arrays"] == meta["arrays"]
        print("shipped sample matches a fresh build" if same else "shipped sample DIFFERS from a fresh build")
        return 0 if same else 1
    meta = build(args.n_train, args.n_test, args.out)
    print(f"wrote {args.out / 'mnist_sample.npz'} ({meta['npz_bytes']} bytes) and mnist_sample.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
