"""The `nnscratch` command: one module per subcommand, each with the same two functions.

``add_parser(subparsers, formatter_class) -> ArgumentParser`` registers the subcommand (with
``set_defaults(func=run)``) and ``run(args) -> int`` carries it out. :data:`COMMANDS` lists them
in the order ``--help`` shows; a new command is one module and one entry there. Every subcommand
has --help listing each option with its default.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from ..argtypes import HelpFormatter
from ..experiments import command as experiment
from ..serve import command as serve
from ..tuning import command as tune
from . import convert, data, evaluate, export, models, predict, show, train

COMMANDS = (train, evaluate, predict, models, export, data, experiment, tune, serve, convert, show)


def build_parser() -> argparse.ArgumentParser:
    """The main parser with every subcommand of :data:`COMMANDS`."""
    p = argparse.ArgumentParser(prog="nnscratch", formatter_class=HelpFormatter,
                                description="Deep Learning from Scratch (ch. 1-8): train, evaluate and use networks on MNIST.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub, HelpFormatter)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]) and run the subcommand; user errors print one line, exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, FileNotFoundError, ImportError) as exc:
        print(f"nnscratch {args.command}: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["COMMANDS", "build_parser", "main"]
