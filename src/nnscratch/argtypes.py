"""Argparse helpers shared by every `nnscratch` command: the help formatter and the option types.

A type turns the option's text into the value or raises ``argparse.ArgumentTypeError``, which
argparse reports as ``nnscratch CMD: error: argument --x: <message>`` with exit code 2.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
from typing import Any, Callable

from threadpoolctl import threadpool_limits

from .validation import check_int, check_positive


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' after each option, except where there is no default to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def raw_description(formatter_class: type[argparse.HelpFormatter] = HelpFormatter) -> type[argparse.HelpFormatter]:
    """``formatter_class`` that keeps the line breaks of a command's description (listings, paragraphs)."""
    return type(f"Raw{formatter_class.__name__}", (argparse.RawDescriptionHelpFormatter, formatter_class), {})


def positive_int(text: str) -> int:
    """Option type: an integer >= 1."""
    try:
        return check_int("value", int(text), 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None


def positive_float(text: str) -> float:
    """Option type: a finite number > 0."""
    try:
        return check_positive("value", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}") from None


def thread_count(text: str) -> int:
    """Option type of ``--threads``: an integer from 1 to 256 (BLAS and kernel threads)."""
    try:
        return check_int("threads", int(text), 1, 256)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a thread count from 1 to 256, got {text!r}") from None


def with_threads(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Decorator of a command's ``run``: with ``args.threads`` set, BLAS (and so the convolution
    kernels, which follow it) use that many threads while the command runs (threadpoolctl)."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        n = getattr(args, "threads", None)
        with threadpool_limits(n) if n else contextlib.nullcontext():
            return run(args)
    return wrapper


def int_list(text: str) -> list[int]:
    """Comma-separated positive integers such as ``256,128`` (hidden layer sizes)."""
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,128, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


def init_spec(text: str) -> Any:
    """A weight-init option: a number (the std) or a name ('xavier', 'he', 'auto')."""
    try:
        return float(text)
    except ValueError:
        return text


__all__ = ["HelpFormatter", "init_spec", "int_list", "positive_float", "positive_int", "raw_description",
           "thread_count", "with_threads"]
