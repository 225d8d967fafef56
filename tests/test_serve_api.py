"""The JSON API of `nnscratch serve` against a real server on 127.0.0.1 at a free port."""
from __future__ import annotations

import base64
import json
import socket
import threading

import numpy as np
import pytest

from nnscratch import serialization
from nnscratch.datasets import load_mnist_sample
from nnscratch.models import DeepConvNet
from nnscratch.serve import inference
from serve_helpers import png_bytes, predict_pixels, request, running_server

pytest.importorskip("PIL.Image")
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(small_models):
    with running_server([small_models["cnn"], small_models["mlp"]]) as (host, port, app):
        yield (host, port), app


@pytest.fixture(scope="module")
def digits(small_models):
    """Test digits of the shipped sample that both small models classify right: (images, labels)."""
    _, (x, t) = load_mnist_sample(flatten=False)
    ok = np.ones(len(t), dtype=bool)
    for path in small_models.values():
        ok &= serialization.load(path).predict(x).argmax(axis=1) == t
    return x[ok][:40, 0], t[ok][:40].astype(int)


def _good(address, digits, i=0, model=None):
    """A good request answered right: the class of a test digit the models know."""
    r = predict_pixels(address, digits[0][i], model)
    assert r.status == 200, r.body[:300]
    assert r.json()["top"][0][0] == digits[1][i]


def test_models_lists_each_model_with_its_layers(server, small_models):
    r = request(server[0], "GET", "/api/models")
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    info = r.json()
    assert info["default"] == "cnn"
    names = [m["name"] for m in info["models"]]
    assert names == ["cnn", "mlp"]
    cnn = info["models"][0]
    assert cnn["architecture"] == "SimpleConvNet" and cnn["source"] == "file" and cnn["file"] == "cnn.npz"
    assert cnn["class_names"] == [str(i) for i in range(10)] and 0.9 <= cnn["test_acc"] <= 1
    model = serialization.load(small_models["cnn"])
    assert [l["name"] for l in cnn["layers"]] == list(model.layers)
    assert cnn["layers"][0] == {"name": "conv1", "type": "Convolution", "shape": [30, 24, 24]}
    assert cnn["layers"][-1]["shape"] == [10]


def test_predict_json_pixels_gives_probabilities_top_input_and_every_layer(server, digits, small_models):
    x, t = digits
    r = predict_pixels(server[0], x[0])
    assert r.status == 200
    body = r.json()
    assert body["model"] == "cnn"
    p = np.array(body["probabilities"])
    assert p.shape == (10,) and abs(p.sum() - 1) < 1e-4 and p.min() >= 0
    assert body["top"][0][0] == t[0] == int(p.argmax())
    assert [c for c, _ in body["top"]] == list(np.argsort(-p)[:3])
    assert np.abs(np.array(body["input"]) - x[0]).max() <= 0.0005  # JSON pixels go in as they are
    model = serialization.load(small_models["cnn"])
    ref = {}
    h = x[0].reshape(1, 1, 28, 28)
    for name, layer in model.layers.items():
        h = layer.forward(h, False)
        ref[name] = h[0]
    assert [l["name"] for l in body["layers"]] == list(model.layers)
    for layer in body["layers"]:
        assert layer["encoding"] == "uint8-base64"
        q = np.frombuffer(base64.b64decode(layer["values"]), np.uint8).reshape(layer["shape"])
        assert list(q.shape) == layer["shape"] == list(ref[layer["name"]].shape)
        assert q.min() >= 0 and q.max() <= 255
        decoded = layer["min"] + q / 255 * (layer["max"] - layer["min"])
        span = layer["max"] - layer["min"]
        assert np.abs(decoded - ref[layer["name"]]).max() <= span / 255 + 1e-5  # 8-bit quantisation, no more
    assert np.allclose(np.array(body["probabilities"]),
                       np.exp(ref["affine2"] - ref["affine2"].max()) / np.exp(ref["affine2"] - ref["affine2"].max()).sum(),
                       atol=1e-5)


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_predict_image_body_goes_through_the_predict_preprocessing(server, digits, fmt, mime):
    from nnscratch.images import load_digit

    x, t = digits
    for i in range(5):
        data = png_bytes(x[i], 200, fmt=fmt)
        r = request(server[0], "POST", "/api/predict", data, {"Content-Type": mime})
        assert r.status == 200, r.body[:300]
        body = r.json()
        assert body["top"][0][0] == t[i]
        assert np.abs(np.array(body["input"]) - load_digit(data)).max() <= 0.0005


def test_values_as_nested_lists_match_the_base64_default(server, digits):
    body = json.dumps({"pixels": digits[0][2].tolist()})
    packed = request(server[0], "POST", "/api/predict", body, JSON).json()
    lists = request(server[0], "POST", "/api/predict?values=lists", body, JSON).json()
    assert packed["probabilities"] == lists["probabilities"]
    for a, b in zip(packed["layers"], lists["layers"]):
        assert b["encoding"] == "uint8-lists" and (a["min"], a["max"]) == (b["min"], b["max"])
        q = np.frombuffer(base64.b64decode(a["values"]), np.uint8).reshape(a["shape"])
        assert np.array_equal(np.array(b["values"]), q)


def test_model_query_and_layers_none(server, digits):
    r = predict_pixels(server[0], digits[0][1], model="mlp")
    assert r.status == 200 and r.json()["model"] == "mlp"
    assert [l["name"] for l in r.json()["layers"]] == ["affine1", "relu1", "affine2"]
    body = json.dumps({"pixels": digits[0][1].tolist()})
    r = request(server[0], "POST", "/api/predict?model=mlp&layers=none", body, JSON)
    assert r.status == 200 and r.json()["layers"] == [] and r.json()["top"][0][0] == digits[1][1]


def test_static_files_and_security_headers(server):
    page = request(server[0], "GET", "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert b'<canvas id="pad"' in page.body
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp  # nothing from another origin
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, ctype in [("app.js", "text/javascript"), ("pad.js", "text/javascript"), ("views.js", "text/javascript"),
                        ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")]:
        r = request(server[0], "GET", f"/static/{name}")
        assert r.status == 200 and r.headers["content-type"].startswith(ctype) and r.body
        text = r.body.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")  # a namespace, not a fetch
        assert b"http://" not in text and b"https://" not in text  # no CDN, works offline
    head = request(server[0], "HEAD", "/static/app.js")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0


def _raw(address, data: bytes) -> tuple[int, dict]:
    """Send raw bytes, read one response: (status, JSON body)."""
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body.decode())


BIG = b"\x89PNG\r\n\x1a\n" + bytes(6 * 1024 * 1024)
TRUNCATED_PNG = png_bytes(np.eye(28), 100)[:200]
TRAVERSALS = ["/static/../pyproject.toml", "/static/../registry.py", "/static/%2e%2e/registry.py",
              "/static/..%2fserver.py", "/static//etc/passwd", "/static/%2Fetc%2Fpasswd",
              "/static/../../../../../../etc/passwd", "/../../etc/passwd", "/static/C:%5CWindows%5Cwin.ini",
              "/static/", "/static/static/app.js", "/static/app.js/", "/static/./app.js"]
BAD_REQUESTS = [  # (what, method, path, body, headers, status, words in the error)
    ("6 MB body", "POST", "/api/predict", BIG, {"Content-Type": "image/png"}, 413, "at most"),
    ("not an image", "POST", "/api/predict", b"hello there", {"Content-Type": "image/png"}, 400, "cannot read"),
    ("truncated PNG", "POST", "/api/predict", TRUNCATED_PNG, {"Content-Type": "image/png"}, 400, "cannot read"),
    ("invalid JSON", "POST", "/api/predict", b'{"pixels": [[0.1, ', JSON, 400, "not valid JSON"),
    ("JSON without pixels", "POST", "/api/predict", b'{"image": 1}', JSON, 400, '"pixels"'),
    ("JSON list", "POST", "/api/predict", b"[1, 2, 3]", JSON, 400, '"pixels"'),
    ("wrong shape", "POST", "/api/predict", json.dumps({"pixels": np.zeros((28, 27)).tolist()}), JSON, 400, "[28, 28]"),
    ("ragged rows", "POST", "/api/predict", json.dumps({"pixels": [[0.0] * 28] * 27 + [[0.0] * 5]}), JSON, 400, "28"),
    ("strings", "POST", "/api/predict", json.dumps({"pixels": [["a"] * 28] * 28}), JSON, 400, "numbers"),
    ("out of range", "POST", "/api/predict", json.dumps({"pixels": np.full((28, 28), 3.0).tolist()}), JSON, 400, "0..1"),
    ("empty body", "POST", "/api/predict", b"", JSON, 400, "empty"),
    ("blank image", "POST", "/api/predict", png_bytes(np.zeros((28, 28)), 64), {"Content-Type": "image/png"}, 400, "blank"),
    ("unsupported type", "POST", "/api/predict", b"plain words", {"Content-Type": "text/plain"}, 415, "not supported"),
    ("unknown model", "POST", "/api/predict?model=nope", json.dumps({"pixels": np.zeros((28, 28)).tolist()}), JSON,
     404, "unknown model"),
    ("bad values option", "POST", "/api/predict?values=floats", json.dumps({"pixels": np.zeros((28, 28)).tolist()}),
     JSON, 400, "base64, lists"),
    ("bad layers option", "POST", "/api/predict?layers=some", json.dumps({"pixels": np.zeros((28, 28)).tolist()}),
     JSON, 400, "layers"),
    ("GET predict", "GET", "/api/predict", None, {}, 405, "POST"),
    ("PUT models", "PUT", "/api/models", b"x", {}, 405, "GET"),
    ("unknown API path", "GET", "/api/nothing", None, {}, 404, "not found"),
    ("unknown POST path", "POST", "/upload", b"x", {}, 404, "/api/predict"),
    ("test digit out of range", "GET", "/api/test-digit?index=99999999", None, {}, 400, "out of range"),
    ("test digit not a number", "GET", "/api/test-digit?index=seven", None, {}, 400, "integer"),
    ("foreign Host (DNS rebinding)", "GET", "/api/models", None, {"Host": "evil.example:8000"}, 403, "not allowed"),
] + [(f"static {p}", "GET", p, None, {}, 404, "not found") for p in TRAVERSALS]


@pytest.mark.parametrize("what,method,path,body,headers,status,words", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_gets_its_status_then_a_good_request_is_answered_right(server, digits, what, method, path, body,
                                                                            headers, status, words):
    r = request(server[0], method, path, body, headers)
    assert r.status == status, (what, r.status, r.body[:300])
    if method != "HEAD":
        err = r.json()
        assert err["status"] == status and words in (err["error"] + " " + err.get("expected", "")), err
        assert "Traceback" not in r.body.decode() and "File \"" not in r.body.decode()
        assert b"root:" not in r.body and b"[tool.setuptools" not in r.body and b"import" not in r.body
    _good(server[0], digits)


def test_every_bad_request_in_sequence_keeps_the_server_serving(server, digits):
    """Acceptance 4: the whole list in one go, each answered with its code and followed by a good answer."""
    seen = []
    for i, (what, method, path, body, headers, status, _) in enumerate(BAD_REQUESTS):
        seen.append((what, request(server[0], method, path, body, headers).status))
        _good(server[0], digits, i % len(digits[1]))
    assert [s for _, s in seen] == [b[5] for b in BAD_REQUESTS]


def test_protocol_level_errors_are_json_and_the_server_goes_on(server, digits):
    address = server[0]
    status, body = _raw(address, b"GET / HTTP/1.1 and some words\r\n\r\n")
    assert status == 400 and "error" in body
    _good(address, digits)
    status, body = _raw(address, b"BREW /pot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 501 and "BREW" in body["error"]
    _good(address, digits)
    status, body = _raw(address, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n")
    assert status == 400 and "Content-Length" in body["error"]
    _good(address, digits)
    # a client that announces 6 MB and sends nothing gets its 413 without the server waiting for the bytes
    status, body = _raw(address, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                                 b"Content-Length: 6291456\r\n\r\n\x89PNG")
    assert status == 413
    _good(address, digits)
    status, body = _raw(address, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"5\r\nhello\r\n0\r\n\r\n")
    assert status == 411 and "Content-Length" in body["error"]
    _good(address, digits)


def test_internal_error_gives_500_without_traceback_and_the_server_goes_on(server, digits, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("nnscratch.serve.server.prediction", boom)
    r = predict_pixels(server[0], digits[0][0])
    assert r.status == 500
    assert "secret" not in r.body.decode() and "Traceback" not in r.body.decode()
    assert "traceback is in the server's log" in r.json()["error"]
    assert "secret internals" in capsys.readouterr().err  # logged on the server side
    monkeypatch.undo()
    _good(server[0], digits)


def test_keep_alive_connection_serves_several_requests(server, digits):
    import http.client

    conn = http.client.HTTPConnection(*server[0], timeout=10)
    try:
        for i in range(5):
            conn.request("POST", "/api/predict?layers=none", json.dumps({"pixels": digits[0][i].tolist()}), JSON)
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["top"][0][0] == digits[1][i]
        conn.request("POST", "/api/predict", b"{", JSON)  # a bad one in the middle of the connection
        resp = conn.getresponse()
        assert resp.status == 400
        resp.read()
        conn.request("GET", "/api/models")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_concurrent_requests_from_several_threads_get_the_sequential_answers(server, digits):
    x, t = digits
    jobs = [(i % 12, "cnn" if i % 3 else "mlp", i % 2 == 0) for i in range(48)]
    expected = {}
    for i, model, as_png in set(jobs):
        body, headers = (png_bytes(x[i]), {"Content-Type": "image/png"}) if as_png else \
            (json.dumps({"pixels": x[i].tolist()}), JSON)
        r = request(server[0], "POST", f"/api/predict?model={model}", body, headers)
        expected[(i, model, as_png)] = (body, headers, r.json())
    results, errors = {}, []

    def worker(chunk):
        try:
            for key in chunk:
                body, headers, _ = expected[key]
                r = request(server[0], "POST", f"/api/predict?model={key[1]}", body, headers)
                results.setdefault(key, []).append(r.json() if r.status == 200 else r.status)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(jobs[k::8],)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    assert sum(len(v) for v in results.values()) == len(jobs)
    for key, answers in results.items():
        for answer in answers:
            assert answer == expected[key][2]  # identical, layers included: no interleaving inside a model
            assert answer["top"][0][0] == t[key[0]]


def test_test_digit_endpoint(server):
    r = request(server[0], "GET", "/api/test-digit?index=3")
    assert r.status == 200
    d = r.json()
    _, (x, t) = load_mnist_sample(flatten=False)
    assert d["index"] == 3 and "MNIST" in d["source"]
    if "sample" in d["source"]:
        assert d["label"] == t[3] and np.abs(np.array(d["pixels"]) - x[3, 0]).max() <= 0.0005
    r = request(server[0], "GET", "/api/test-digit")
    assert r.status == 200 and np.array(r.json()["pixels"]).shape == (28, 28) and 0 <= r.json()["label"] <= 9


def test_deep_conv_net_response_with_all_layers_stays_under_1_mb(tmp_path, digits):
    path = serialization.save(DeepConvNet(seed=0), tmp_path / "deep.npz")
    with running_server([path]) as (host, port, _):
        r = request((host, port), "POST", "/api/predict", png_bytes(digits[0][0]), {"Content-Type": "image/png"})
    assert r.status == 200
    body = r.json()
    assert len(body["layers"]) == 20 and body["layers"][0]["shape"] == [16, 28, 28]
    assert len(r.body) < 1_000_000, len(r.body)
    with running_server([path]) as (host, port, _):
        r = request((host, port), "POST", "/api/predict?values=lists", png_bytes(digits[0][0]),
                    {"Content-Type": "image/png"})
    assert r.status == 200 and len(r.body) < 1_000_000, len(r.body)


def test_quantise_is_exact_at_the_ends_and_handles_constant_layers():
    a = np.array([[-2.0, 0.0], [1.0, 3.0]], dtype=np.float32)
    q = inference.quantise(a, "lists")
    assert q["min"] == -2.0 and q["max"] == 3.0 and q["values"] == [[0, 102], [153, 255]]
    assert base64.b64decode(inference.quantise(a)["values"]) == bytes([0, 102, 153, 255])
    assert inference.quantise(np.zeros(4), "lists")["values"] == [0, 0, 0, 0]


def test_loopback_host_names_are_accepted(server):
    port = server[0][1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert request(server[0], "GET", "/api/models", headers={"Host": host}).status == 200, host
    for host in (f"attacker.example:{port}", f"127.0.0.1.attacker.example:{port}"):
        assert request(server[0], "GET", "/", headers={"Host": host}).status == 403, host
