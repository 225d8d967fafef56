"""Argparse helpers shared by every `nnscratch` command: the help formatter and the option types.

A type turns the option's text into the value or raises ``argparse.ArgumentTypeError``, which
argparse reports as ``nnscratch CMD: error: argument --x: <message>`` with exit code 2.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import math
from typing import Any, Callable, NoReturn

from threadpoolctl import threadpool_limits

from .validation import check_int, check_number, check_positive


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: ``nnscratch train: error: argument --x: ...``
    plus where the options are explained; exit code 2 as argparse's own. Subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int(text: str, minimum: int, what: str) -> int:
    try:
        return check_int("value", int(text.strip()), minimum)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' after each option, except where there is no default to show (None, or a flag
    such as --no-fetch, whose 'default: True' would read as if the flag were on)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or isinstance(action.default, bool):  # a flag: its presence is the value
            return action.help or ""
        return super()._get_help_string(action)


def raw_description(formatter_class: type[argparse.HelpFormatter] = HelpFormatter) -> type[argparse.HelpFormatter]:
    """``formatter_class`` that keeps the line breaks of a command's description (listings, paragraphs)."""
    return type(f"Raw{formatter_class.__name__}", (argparse.RawDescriptionHelpFormatter, formatter_class), {})


def positive_int(text: str) -> int:
    """Option type: an integer >= 1."""
    return _int(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """Option type: an integer >= 0 (a seed, a count where 0 means 'all' or 'none')."""
    return _int(text, 0, "an integer >= 0")


def port(text: str) -> int:
    """Option type: a TCP port, 0 (any free one) to 65535."""
    value = _int(text, 0, "a TCP port 0..65535")
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 0..65535, got {text!r}")
    return value


def probability(text: str) -> float:
    """Option type: a fraction in [0, 1) (a dropout ratio, a validation split)."""
    try:
        return check_number("value", float(text), 0.0, 1.0, hi_open=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None


def open_probability(text: str) -> float:
    """Option type: a fraction in (0, 1) (a held-out share that must leave data on both sides)."""
    try:
        return check_number("value", float(text), 0.0, 1.0, lo_open=True, hi_open=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None


def nonnegative_float(text: str) -> float:
    """Option type: a finite number >= 0 (a weight decay)."""
    try:
        return check_number("value", float(text), 0.0, math.inf, hi_open=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}") from None


def finite_float(text: str) -> float:
    """Option type: any finite number (a log10 bound of a search range)."""
    try:
        return check_number("value", float(text), -math.inf, math.inf, lo_open=True, hi_open=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}") from None


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
        if len(sizes) > 100 or max(sizes, default=0) > 1_000_000:
            raise argparse.ArgumentTypeError(f"at most 100 hidden layers of at most 1000000 units, got {text!r}")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,128, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


#: the weight-init names the train command accepts besides a number
INIT_NAMES = ("auto", "xavier", "he", "relu", "sigmoid", "tanh")


def init_spec(text: str) -> Any:
    """A weight-init option: a positive finite number (the std) or a name ('xavier', 'he', 'auto', ...)."""
    try:
        value = float(text)
    except ValueError:
        if text.lower() in INIT_NAMES:
            return text.lower()
        raise argparse.ArgumentTypeError(f"expected a std like 0.01 or one of {', '.join(INIT_NAMES)}, "
                                         f"got {text!r}") from None
    try:
        return check_positive("value", value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive finite std like 0.01, got {text!r}") from None


def one_line(exc: BaseException) -> str:
    """The message of an exception on one line (an OSError's strerror and file name, a multi-line
    message's lines joined), for ``nnscratch CMD: error: ...``."""
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


__all__ = ["HelpFormatter", "INIT_NAMES", "Parser", "finite_float", "init_spec", "int_list", "nonnegative_float",
           "nonnegative_int", "one_line", "open_probability", "port", "positive_float", "positive_int", "probability",
           "raw_description", "thread_count", "with_threads"]
