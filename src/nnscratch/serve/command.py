"""The `nnscratch serve` subcommand: ``add_parser(subparsers, formatter_class)`` and ``run(args)``."""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import webbrowser
from typing import Any

from ..argtypes import port as port_number, positive_int
from .registry import build_registry
from .server import App, is_loopback, make_server

DESCRIPTION = """\
Open a local web page where you draw a digit (mouse, pen or touch) and watch the network read
it: the ten class probabilities, the 28x28 input exactly as the network receives it, and every
layer's output (feature maps as tiles, dense layers as strips). Switch between models, show a
random MNIST test digit, or upload a PNG/JPEG photo of a digit (it goes through the same
preprocessing as `nnscratch predict`). The page talks to a JSON API that scripts can use too:
GET /api/models, POST /api/predict (an image body or JSON {"pixels": 28x28}), GET /api/test-digit.
Everything is served from the package: it works offline. Ctrl-C stops the server."""


def add_parser(subparsers: Any, formatter_class: Any = argparse.ArgumentDefaultsHelpFormatter) -> argparse.ArgumentParser:
    """Register ``serve`` on the main parser's subparsers."""
    p = subparsers.add_parser("serve", help="a local web page: draw a digit, see every layer's output",
                              formatter_class=formatter_class, description=DESCRIPTION)
    p.add_argument("models", nargs="*", metavar="MODEL.npz",
                   help="model files written by `nnscratch train` (NAME=PATH chooses the name in the picker); "
                        "the first is shown first")
    p.add_argument("--pretrained", action="append", default=None, metavar="NAME",
                   help="a shipped trained model to show first (repeatable); the shipped models are in the "
                        "picker anyway")
    p.add_argument("--no-shipped", action="store_true", help="offer only the models named here, not every shipped one")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but loopback makes the page reachable from other machines")
    p.add_argument("--port", type=port_number, default=8000, help="TCP port (0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.add_argument("--blas-threads", type=positive_int, default=1,
                   help="BLAS threads per forward pass (0 = leave as is); one image gains nothing from more, and on "
                        "a busy machine extra BLAS threads make it up to 100x slower")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    p.set_defaults(func=run)
    return p


def _blas_threads(n: int) -> Any:
    """A context limiting BLAS to ``n`` threads (threadpoolctl), or nothing when n == 0 or it is missing."""
    if n <= 0:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - optional dependency
    except ImportError:
        print("note: threadpoolctl is not installed, so BLAS keeps its own thread count; "
              "pip install 'nnscratch[serve]' for faster answers on a busy machine", file=sys.stderr)
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    """Load the models, listen, serve until Ctrl-C (or SIGTERM), then close the socket and return 0."""
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    try:
        import PIL.Image  # noqa: F401, PLC0415 - the drawing pad sends PNGs
    except ImportError:
        raise ImportError("nnscratch serve reads the drawing pad's PNGs with Pillow: "
                          "pip install 'nnscratch[serve]'") from None
    registry = build_registry(args.models, args.pretrained, all_shipped=not args.no_shipped)
    app = App(registry, quiet=args.quiet)
    server = make_server(app, args.host, args.port)
    host, port = server.server_address[:2]
    local = host if is_loopback(host) else "127.0.0.1" if ":" not in host else "::1"
    url = f"http://{f'[{local}]' if ':' in local else local}:{port}/"
    for entry in registry.info()["models"]:
        acc = f", test accuracy {100 * entry['test_acc']:.2f} %" if entry["test_acc"] is not None else ""
        mark = " (shown first)" if entry["name"] == registry.default else ""
        print(f"model {entry['name']}: {entry['architecture']}, {entry['params']:,} parameters{acc}{mark}")
    if not is_loopback(args.host):
        print(f"warning: listening on {host}, not on loopback: anyone who can reach this machine on port {port} "
              "can use this page and its API (there is no login); use --host 127.0.0.1 to keep it local",
              file=sys.stderr, flush=True)
    print(f"serving on {url} (press Ctrl-C to stop)", flush=True)
    threading.Thread(target=len, args=(app.digits,), daemon=True).start()  # load the test digits now
    if args.open:
        opener = threading.Timer(0.3, webbrowser.open, (url,))
        opener.daemon = True
        opener.start()
    _stop_on_sigterm()
    try:
        with _blas_threads(args.blas_threads):
            server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("stopped", flush=True)
    return 0
