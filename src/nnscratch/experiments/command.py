"""`nnscratch experiment NAME|all`: run the book's experiments, write figures, numbers and a report."""
from __future__ import annotations

import argparse
import sys
import textwrap
import time
import traceback
from typing import Any

from .. import experiments
from ..argtypes import nonnegative_int, raw_description
from .report import load_records, write_report


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch experiment`` with the main parser's subparsers."""
    registry = experiments.EXPERIMENTS
    listing = "\n".join(f"  {e.name:<16} ch. {e.chapter:<6} {e.title}" for e in registry.values())
    p = subparsers.add_parser(
        "experiment", help="reproduce a book experiment (figure + numbers), or all of them with a report",
        formatter_class=raw_description(formatter_class),  # keeps the listing's line breaks
        description=textwrap.fill(
            "Run one of the book's experiments, writing NAME.png (the figure), NAME.json (the numbers plotted, "
            "settings, seed, wall time) and index.html (a report over every NAME.json in --out). 'all' runs every "
            "experiment in book order; one failing does not stop the others.", 78) + f"\n\nexperiments:\n{listing}",
    )
    p.add_argument("name", choices=[*registry, "all"], metavar="NAME",
                   help=f"experiment to run: one of {', '.join(registry)}, or all")
    p.add_argument("--out", default="runs/experiments", help="directory receiving the figures, JSON and index.html")
    p.add_argument("--quick", action="store_true",
                   help="small version (the shipped MNIST sample, fewer epochs/trials): each under a minute")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every random choice")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="a model file from `nnscratch train` to use instead of training one "
                        "(filters, misclassified, half-precision)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run one experiment or all of them (one failing does not stop the others), then write index.html."""
    registry = experiments.EXPERIMENTS
    names = list(registry) if args.name == "all" else [args.name]
    options: dict[str, Any] = {"model": args.model} if args.model else {}
    failures: dict[str, str] = {}
    t_all = time.perf_counter()
    for i, name in enumerate(names, 1):
        exp = registry[name]
        print(f"[{i}/{len(names)}] {name} (ch. {exp.chapter}): {exp.title} ...", flush=True)
        t0 = time.perf_counter()
        try:
            record = experiments.run_experiment(name, args.out, quick=args.quick, seed=args.seed, **options)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one failure must not stop `all`
            failures[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            print(f"    FAILED after {time.perf_counter() - t0:.1f} s: {failures[name]}", file=sys.stderr, flush=True)
            if args.name != "all":
                failures[name] += "\n" + traceback.format_exc()
            continue
        print(f"    done in {record['wall_time_s']:.1f} s -> {args.out}/{record['figure']}", flush=True)
    records = load_records(args.out)
    if args.name == "all":
        ran = set(names) - set(failures)
        records = [r for r in records if r["experiment"] in ran]
    report = write_report(records, args.out, failures=failures)
    print(f"report: {report} ({len(records)} experiment(s), {time.perf_counter() - t_all:.1f} s)")
    if failures:
        print(f"{len(failures)} experiment(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
