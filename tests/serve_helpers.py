"""A real `nnscratch serve` server on 127.0.0.1 at a free port, in a thread, and a small HTTP client."""
from __future__ import annotations

import contextlib
import http.client
import io
import json
import threading
from typing import Any, Iterator

import numpy as np

from nnscratch.serve import App, build_registry, make_server


@contextlib.contextmanager
def running_server(files: list[Any], pretrained: list[str] | None = None,
                   **app_options: Any) -> Iterator[tuple[str, int, App]]:
    """Serve ``files`` (model paths or NAME=PATH) and shipped models named in ``pretrained`` until the
    block ends; yields (host, port, app)."""
    registry = build_registry([str(f) for f in files], pretrained, all_shipped=False)
    app = App(registry, quiet=True, **app_options)
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield host, port, app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def request(address: tuple[str, int], method: str, path: str, body: bytes | str | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> Response:
    """One request on a fresh connection; ``path`` is sent exactly as given (no normalisation)."""
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        data = body.encode("utf-8") if isinstance(body, str) else body
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def predict_pixels(address: tuple[str, int], pixels: np.ndarray, model: str | None = None) -> Response:
    path = "/api/predict" + (f"?model={model}" if model else "")
    body = json.dumps({"pixels": np.asarray(pixels).reshape(28, 28).tolist()})
    return request(address, "POST", path, body, {"Content-Type": "application/json"})


def png_bytes(digit28: np.ndarray, size: int = 200, dark_on_light: bool = True, fmt: str = "PNG") -> bytes:
    """An MNIST digit rendered as a picture file of ``size`` pixels (black on white by default)."""
    from PIL import Image

    a = np.asarray(digit28, dtype=np.float32).reshape(28, 28)
    a = 1.0 - a if dark_on_light else a
    img = Image.fromarray(np.round(255 * a).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()
