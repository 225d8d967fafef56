"""`nnscratch serve` as a user starts and stops it, and its hook for shipped (pretrained) models."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import types

import pytest

from nnscratch import serialization
from nnscratch.cli import main
from nnscratch.models import DeepConvNet, TwoLayerNet
from nnscratch.serve import build_registry, registry
from serve_helpers import request


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    """Start `python -m nnscratch serve ARGS` and wait for its 'serving on URL' line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1"}
    # as in a terminal: a shell's background job (make test &, CI runners) may pass SIGINT on as ignored,
    # and Python then never turns Ctrl-C into KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "nnscratch", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"serving on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError(f"no 'serving on' line; stdout {lines}, stderr {proc.stderr.read()}")


def _address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    return host.strip("[]"), int(port)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_answers_then_stops_cleanly_on_ctrl_c(small_models, sig):
    proc, url = _start(str(small_models["cnn"]), "--port", "0", "--quiet")
    try:
        assert url.startswith("http://127.0.0.1:")
        r = request(_address(url), "GET", "/api/models")
        assert r.status == 200 and r.json()["default"] == "cnn"
        keep_alive = socket.create_connection(_address(url))  # an idle client must not hold the shutdown
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        keep_alive.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_serve_warns_when_not_on_loopback(small_models):
    proc, url = _start(str(small_models["mlp"]), "--host", "0.0.0.0", "--port", "0", "--quiet")
    try:
        assert url.startswith("http://127.0.0.1:")  # the address to open here
        r = request(_address(url), "GET", "/api/models", headers={"Host": "some-laptop.local"})
        assert r.status == 200  # not on loopback: any Host name is fine
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "warning" in err and "0.0.0.0" in err and "--host 127.0.0.1" in err


def test_serve_errors_are_clear(small_models, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing.npz"), "--port", "0"]) == 2
    assert "missing.npz" in capsys.readouterr().err
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        assert main(["serve", str(small_models["mlp"]), "--port", str(port), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"127.0.0.1:{port}" in err and "--port 0" in err
    finally:
        busy.close()
    assert main(["serve", str(small_models["mlp"]), "--port", "70000"]) == 2
    assert "0..65535" in capsys.readouterr().err


def test_no_model_and_no_shipped_weights_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(registry, "_pretrained_module", lambda: None)
    assert main(["serve", "--port", "0"]) == 2
    assert "nnscratch train" in capsys.readouterr().err
    assert main(["serve", "--pretrained", "deepcnn", "--port", "0"]) == 2
    assert "ships no trained weights" in capsys.readouterr().err


def test_model_names_from_files(small_models, tmp_path):
    run = tmp_path / "runs" / "deep"
    serialization.save(TwoLayerNet(seed=0), run / "model.npz")
    reg = build_registry([str(run / "model.npz"), f"mine={small_models['mlp']}", str(small_models["mlp"]),
                          str(small_models["mlp"])], all_shipped=False)
    assert reg.names() == ["deep", "mine", "mlp", "mlp-2"] and reg.default == "deep"


@pytest.fixture
def fake_pretrained(monkeypatch, tmp_path):
    """Stands in for nnscratch.pretrained with the API serve relies on (two untrained networks)."""
    shipped = {"twolayer": TwoLayerNet(seed=1), "deepcnn": DeepConvNet(seed=2)}
    module = types.ModuleType("nnscratch.pretrained")
    module.list_pretrained = lambda: [
        {"name": n, "description": f"the book's {type(m).__name__}", "test_acc": 0.99, "file": f"{n}.npz"}
        for n, m in shipped.items()]
    module.load_pretrained = lambda name: shipped[name]
    monkeypatch.setattr(registry, "_pretrained_module", lambda: module)
    return shipped


def test_shipped_models_join_the_picker_and_deepcnn_is_shown_first(fake_pretrained, small_models):
    reg = build_registry([])
    assert reg.names() == ["twolayer", "deepcnn"] and reg.default == "deepcnn"
    info = {m["name"]: m for m in reg.info()["models"]}
    assert info["deepcnn"]["source"] == "pretrained" and info["deepcnn"]["test_acc"] == 0.99
    assert info["deepcnn"]["description"] == "the book's DeepConvNet" and len(info["deepcnn"]["layers"]) == 20
    reg = build_registry([str(small_models["mlp"])])
    assert reg.names() == ["mlp", "twolayer", "deepcnn"] and reg.default == "mlp"  # the file given comes first
    reg = build_registry([str(small_models["mlp"])], pretrained=["twolayer"])
    assert reg.names() == ["twolayer", "mlp", "deepcnn"] and reg.default == "twolayer"
    assert build_registry([str(small_models["mlp"])], all_shipped=False).names() == ["mlp"]
    with pytest.raises(ValueError, match="unknown pretrained model 'nope'; shipped: twolayer, deepcnn"):
        build_registry([], pretrained=["nope"])
