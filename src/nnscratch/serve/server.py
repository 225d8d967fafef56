"""The HTTP side of `nnscratch serve`: the standard library's ThreadingHTTPServer, one thread per connection.

Routes: ``GET /`` (the page), ``GET /static/NAME`` (its files), ``GET /api/models``,
``GET /api/test-digit[?index=N]``, ``POST /api/predict[?model=NAME&layers=all|none&values=base64|lists]``.
Static files are read from the package into memory at start-up and served by exact name, so
no request path can reach a file outside the package. Every error is a JSON body with
``error`` (what went wrong) and, for bad bodies, ``expected``; an unexpected exception is logged
here with its traceback and the client gets a plain 500.
"""
from __future__ import annotations

import ipaddress
import socket
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .inference import ENCODINGS, prediction, to_json_bytes
from .payload import MAX_BODY, ApiError, input_from_body
from .registry import ModelRegistry
from .testdigits import TestDigits

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body up to this is read and dropped, so the client sees the 413


def load_static() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, content type) for every file shipped in ``nnscratch/serve/static``."""
    files = {}
    for item in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
        if item.is_file() and suffix in CONTENT_TYPES:
            files[item.name] = (item.read_bytes(), CONTENT_TYPES[suffix])
    if "index.html" not in files:
        raise RuntimeError("the page is missing from the installation (nnscratch/serve/static/index.html)")
    return files


class App:
    """Everything a request handler needs: the models, the test digits, the page's files."""

    def __init__(self, registry: ModelRegistry, digits: TestDigits | None = None, quiet: bool = False,
                 allowed_hosts: set[str] | None = None) -> None:
        self.registry = registry
        self.digits = digits or TestDigits()
        self.static = load_static()
        self.quiet = quiet
        self.allowed_hosts = allowed_hosts  # None: any Host header (the server is not on loopback)


class Handler(BaseHTTPRequestHandler):
    server_version = "nnscratch-serve"
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    default_request_version = "HTTP/1.0"  # a garbled request line still gets a status line and JSON, not HTTP/0.9
    timeout = 30  # seconds a connection may sit idle or trickle its body
    disable_nagle_algorithm = True  # headers and body go out as two writes: without this a small answer waits ~40 ms
    app: App  # set on the subclass that make_server builds

    # ---- responses ---------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store" if content_type.startswith("application/json") else "no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, to_json_bytes(obj), "application/json", headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, header too long, ...) as JSON, not HTML."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        if not hasattr(self, "command") or self.command is None:
            self.command = "GET"
        self._json(code, {"error": message or phrase, "status": code})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if not self.app.quiet:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    # ---- dispatch ----------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        self._consumed = False  # whether this request's body has been read off the connection
        try:
            self._check_host()
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            self._route(method, url.path, query)
        except ApiError as exc:
            length = self.headers.get("Content-Length", "0").strip()
            if not self._consumed and (length != "0" or "Transfer-Encoding" in self.headers):
                self.close_connection = True  # unread bytes would be taken for the next request
            allow = exc.extra.get("allow")
            self._json(exc.status, exc.body(), {"Allow": allow} if allow else None)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - the client gets no traceback, the log gets it all
            sys.stderr.write(f"nnscratch serve: error handling {method} {self.path!r}:\n{traceback.format_exc()}")
            self.close_connection = True
            try:
                self._json(500, {"error": "internal server error (the traceback is in the server's log)", "status": 500})
            except OSError:
                pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _not_allowed(self) -> None:
        self._handle("OTHER")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _check_host(self) -> None:
        """On loopback, refuse Host names other than this machine's (DNS rebinding from a web page)."""
        if self.app.allowed_hosts is None:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
        if host and name not in self.app.allowed_hosts:  # browsers always send Host; bare HTTP/1.0 tools may not
            raise ApiError(403, f"Host {host!r} is not allowed: this server answers requests addressed to "
                                f"{', '.join(sorted(self.app.allowed_hosts))}")

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        api = {"/api/models": ("GET", self._models), "/api/test-digit": ("GET", self._test_digit),
               "/api/predict": ("POST", self._predict)}
        if path in api:
            want, handler = api[path]
            if method != want:
                self._discard_body()
                raise ApiError(405, f"{path} answers {want} only, not {self.command}", allow=want)
            handler(query)
            return
        if method != "GET":
            self._discard_body()
            if method == "POST":
                raise ApiError(404, f"no POST route {path!r}; POST goes to /api/predict")
            raise ApiError(405, f"{self.command} is not supported here; use GET", allow="GET, HEAD")
        name = "index.html" if path in ("/", "/index.html") else path[len("/static/"):] if path.startswith("/static/") else None
        if name is None or name not in self.app.static:  # exact names only: no '..', no absolute paths
            raise ApiError(404, f"not found: {path!r}")
        body, ctype = self.app.static[name]
        self._send(200, body, ctype, {"Content-Security-Policy": CSP} if name == "index.html" else None)

    # ---- request bodies ------------------------------------------------------------------
    def _content_length(self) -> int:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise ApiError(411, "chunked bodies are not supported; send Content-Length")
        text = self.headers.get("Content-Length")
        if text is None:
            return 0
        try:
            n = int(text)
        except ValueError:
            n = -1
        if n < 0:
            raise ApiError(400, f"Content-Length {text!r} is not a byte count")
        return n

    def _discard_body(self) -> None:
        """Read and drop a body we will not use, so the client can read our answer; give up after
        DRAIN_LIMIT bytes or a second of silence (then the connection closes)."""
        n = self._content_length()
        if n > DRAIN_LIMIT:
            self.close_connection = True
            return
        self.connection.settimeout(1.0)
        try:
            while n > 0:
                chunk = self.rfile.read1(min(n, 1 << 16))
                if not chunk:
                    break
                n -= len(chunk)
        except (socket.timeout, OSError):
            self.close_connection = True
        finally:
            self.connection.settimeout(self.timeout)
        if n > 0:
            self.close_connection = True
        else:
            self._consumed = True

    def _read_body(self) -> bytes:
        n = self._content_length()
        if n > MAX_BODY:
            self._discard_body()
            raise ApiError(413, f"the body is {n} bytes; at most {MAX_BODY} (5 MB)")
        body = self.rfile.read(n) if n else b""
        if len(body) < n:
            raise ApiError(400, f"the body ended after {len(body)} of {n} bytes")
        self._consumed = True
        return body

    # ---- API -----------------------------------------------------------------------------
    def _entry(self, query: dict[str, list[str]]) -> Any:
        name = query.get("model", [None])[-1] or None
        try:
            return self.app.registry.get(name)
        except KeyError as exc:
            raise ApiError(404, exc.args[0], available=self.app.registry.names()) from None

    def _models(self, query: dict[str, list[str]]) -> None:
        self._json(200, self.app.registry.info())

    def _test_digit(self, query: dict[str, list[str]]) -> None:
        text = query.get("index", [""])[-1]
        try:
            index = int(text) if text else None
            self._json(200, self.app.digits.pick(index))
        except ValueError:
            raise ApiError(400, f"index must be an integer, got {text!r}") from None
        except IndexError as exc:
            raise ApiError(400, str(exc)) from None

    def _predict(self, query: dict[str, list[str]]) -> None:
        body = self._read_body()
        entry = self._entry(query)
        layers = query.get("layers", ["all"])[-1].lower()
        if layers not in ("all", "none"):
            raise ApiError(400, f"layers must be 'all' or 'none', got {layers!r}")
        values = query.get("values", ["base64"])[-1].lower()
        if values not in ENCODINGS:
            raise ApiError(400, f"values must be one of {', '.join(ENCODINGS)}, got {values!r}")
        x = input_from_body(self.headers.get("Content-Type"), body)
        self._json(200, prediction(entry, x, keep_layers=layers == "all", encoding=values))


class Server(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for idle keep-alive connections
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, socket.timeout)):
            super().handle_error(request, client_address)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_server(app: App, host: str = "127.0.0.1", port: int = 8000) -> Server:
    """A bound, listening server (port 0: any free port; ``server.server_address`` says which)."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("BoundServer", (Server,), {"address_family": family})
    try:
        server = server_class((host.strip("[]"), port), handler)
    except OSError as exc:
        hint = " (in use? pass --port N, or --port 0 for any free port)" if port else ""
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    if app.allowed_hosts is None and is_loopback(host):
        app.allowed_hosts = LOOPBACK_NAMES | {host.lower()}
    return server
