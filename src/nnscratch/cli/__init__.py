"""The `nnscratch` command: one module per subcommand, each with the same two functions.

``add_parser(subparsers, formatter_class) -> ArgumentParser`` registers the subcommand (with
``set_defaults(func=run)``) and ``run(args) -> int`` carries it out. :data:`COMMANDS` lists them
in the order ``--help`` shows; a new command is one module and one entry there. Every subcommand
has --help listing each option with its default.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

from .. import __version__
from ..argtypes import HelpFormatter, Parser, one_line
from ..experiments import command as experiment
from ..serve import command as serve
from ..tuning import command as tune
from . import convert, data, evaluate, export, models, predict, show, train

COMMANDS = (train, evaluate, predict, models, export, data, experiment, tune, serve, convert, show)


def build_parser() -> argparse.ArgumentParser:
    """The main parser with every subcommand of :data:`COMMANDS`."""
    p = Parser(prog="nnscratch", formatter_class=HelpFormatter,
                                description="Deep Learning from Scratch (ch. 1-8): train, evaluate and use networks on MNIST.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub, HelpFormatter)
    return p


#: what a user's mistake raises (a bad option value, a missing or damaged file, a missing extra):
#: printed as one line, exit code 2; anything else is a bug in nnscratch and shows its traceback
USER_ERRORS = (ValueError, RuntimeError, ImportError, OSError)


def _quiet_stdout() -> None:
    """After a closed pipe (``| head``): send what is left to /dev/null so the exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by something without a descriptor
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]) and run the subcommand; user errors print one line, exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version exit 0 as argparse does; a usage error (one line) returns 2
        if not exc.code:
            raise
        return int(exc.code) if isinstance(exc.code, int) else 2
    args.argv = argv  # the words as given, so a command can tell an option given from a default
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a reader that went away
    except KeyboardInterrupt:
        print(f"nnscratch {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        print(f"nnscratch {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - a bug: show it whole, and say so
        traceback.print_exc()
        print(f"nnscratch {args.command}: internal error: the traceback above is a bug in nnscratch "
              f"{__version__}, not a mistake of yours; please report it with the command you ran", file=sys.stderr)
        return 70  # EX_SOFTWARE


__all__ = ["COMMANDS", "USER_ERRORS", "build_parser", "main", "one_line"]
