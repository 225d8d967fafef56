"""`nnscratch data`: fetch and verify the downloadable data sets, show where they are."""
from __future__ import annotations

import argparse
import time
from typing import Any

from ..datasets import DATASET_REGISTRY, info, load_dataset

#: the data sets this command fetches and checks (the shipped sample needs neither)
DOWNLOADABLE = tuple(name for name, d in DATASET_REGISTRY.items() if d.downloadable)


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch data``."""
    d = subparsers.add_parser("data", help="fetch and verify the datasets, show where they are",
                              formatter_class=formatter_class)
    d.add_argument("--dataset", choices=("all", *DOWNLOADABLE), default="mnist", help="which dataset")
    d.add_argument("--no-fetch", dest="fetch", action="store_false", help="only show the status, fetch nothing")
    d.set_defaults(func=run)
    return d


def describe_dataset(name: str) -> str:
    """Where a dataset lives, which files are present and verified, and the sources tried."""
    i = info(name)
    lines = [f"{i['title']}: {'complete and verified' if i['complete'] else 'incomplete'} in {i['dir']}"]
    for f in i["files"]:
        state = "verified" if f["verified"] else (f["problem"] or ("present" if f["present"] else "missing"))
        lines.append(f"  {f['file']:<28} {state}")
    lines.append("  sources, in order: data directory, " + ", ".join(i["sources"]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Fetch (unless --no-fetch) and describe each chosen data set."""
    names = list(DOWNLOADABLE) if args.dataset == "all" else [args.dataset]
    for name in names:
        t0 = time.perf_counter()
        if args.fetch:
            load_dataset(name)
            print(f"{name}: ready ({time.perf_counter() - t0:.1f} s)")
        print(describe_dataset(name))
    return 0
