"""`nnscratch models`: the trained networks shipped with the package (for predict/evaluate/export --pretrained)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..pretrained import DEFAULT, list_pretrained

NAME = "models"


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch models``."""
    p = subparsers.add_parser(
        NAME, help="list the trained networks shipped with nnscratch", formatter_class=formatter_class,
        description="The networks shipped inside the package, trained on full MNIST by one recorded command "
                    "each (python tools/make_pretrained.py NAME), with their accuracy on the full MNIST test set "
                    "and file size. Use them with `nnscratch predict --pretrained NAME IMG`, "
                    "`nnscratch evaluate --pretrained NAME`, `nnscratch export --pretrained NAME out.onnx`.")
    p.add_argument("--json", action="store_true", help="print the full records (header extra included) as JSON")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print the table (or --json)."""
    rows = list_pretrained()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no shipped networks in this installation (build them with `make pretrained`)")
        return 1
    print(f"{'name':<11}{'test acc.':>10}{'size':>12}{'params':>10}  {'dtype':<8} description")
    for r in rows:
        mark = " (default)" if r["name"] == DEFAULT else ""
        print(f"{r['name']:<11}{100 * r['test_acc']:>9.2f}%{r['size_bytes']:>12,}{r['num_params']:>10,}  "
              f"{r['storage_dtype']:<8} {r['description']}{mark}")
    print("accuracy: full MNIST test set (10 000 images) with the stored weights; size in bytes")
    return 0

