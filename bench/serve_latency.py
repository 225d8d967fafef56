"""Latency of POST /api/predict of `nnscratch serve` with every layer's output (a benchmark, not a test).

Starts `nnscratch serve` as a user would (a subprocess on 127.0.0.1, a free port) once with the
environment as it is and once with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, and sends each
the same requests, alternating in blocks of 10 over one keep-alive connection per server (as
the page does): a 280x280 PNG of a drawn digit (what the page sends), JSON pixels, and the
PNG without layer outputs. Reports the median over ``--requests`` per kind after warm-up, the
response size, and an in-process breakdown (decode + preprocessing, forward + quantisation,
JSON encoding). Writes bench/results/serve-latency.json.

    python bench/serve_latency.py                       # the shipped DeepConvNet, else a fresh one
    python bench/serve_latency.py --model runs/deep/model.npz
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import _cpu_name  # noqa: E402

BLOCK = 10
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def drawn_digit_png() -> bytes:
    """A 7 as the page sends it: black marker strokes on a white 280x280 pad, PNG."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (280, 280), 255)
    d = ImageDraw.Draw(img)
    d.line([(60, 55), (222, 55), (130, 240)], fill=0, width=22, joint="curve")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def mnist_pixels() -> list[list[float]]:
    from nnscratch.datasets import load_mnist_sample

    _, (x, _) = load_mnist_sample(flatten=False)
    return np.round(x[0, 0].astype(np.float64), 3).tolist()


def model_source(args: argparse.Namespace, tmp: Path) -> tuple[list[str], str]:
    """Arguments for `nnscratch serve` and a description of the model."""
    if args.model:
        return [args.model, "--no-shipped"], f"model file {args.model}"
    from nnscratch.serve import shipped_models

    if any(m.get("name") == "deepcnn" for m in shipped_models()):
        return ["--pretrained", "deepcnn", "--no-shipped"], "the shipped DeepConvNet (nnscratch.pretrained)"
    from nnscratch import serialization
    from nnscratch.models import DeepConvNet

    path = serialization.save(DeepConvNet(seed=0), tmp / "deepcnn-fresh.npz")
    return [str(path), "--no-shipped"], "a freshly initialised DeepConvNet (seed 0; no shipped weights yet)"


def start(serve_args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, tuple[str, int]]:
    proc = subprocess.Popen([sys.executable, "-m", "nnscratch", "serve", *serve_args, "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, text=True, env={**env, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        m = re.search(r"serving on http://([\d.]+):(\d+)/", line)
        if m:
            return proc, (m.group(1), int(m.group(2)))
    raise RuntimeError("the server did not start")


def timed(conn: http.client.HTTPConnection, path: str, body: bytes, ctype: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    resp = conn.getresponse()
    data = resp.read()
    dt = 1000 * (time.perf_counter() - t0)
    if resp.status != 200:
        raise RuntimeError(f"{path}: {resp.status} {data[:200]!r}")
    return dt, len(data)


def breakdown(serve_args: list[str], png: bytes, repeats: int) -> dict[str, float]:
    """Median ms of each server-side stage, in this process."""
    from nnscratch.serve import build_registry, input_from_body
    from nnscratch.serve.inference import prediction, run_layers, to_json_bytes

    files = [a for a in serve_args if a.endswith(".npz")]
    pretrained = [serve_args[i + 1] for i, a in enumerate(serve_args) if a == "--pretrained"]
    entry = build_registry(files, pretrained, all_shipped=False).get(None)
    from threadpoolctl import threadpool_limits

    limit = threadpool_limits(limits=1, user_api="blas")  # as `nnscratch serve` runs (--blas-threads 1)
    stages: dict[str, list[float]] = {"decode_and_preprocess_ms": [], "forward_and_quantise_ms": [], "json_encode_ms": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = input_from_body("image/png", png)
        t1 = time.perf_counter()
        run_layers(entry, x)
        t2 = time.perf_counter()
        body = prediction(entry, x)
        t3 = time.perf_counter()
        to_json_bytes(body)
        t4 = time.perf_counter()
        stages["decode_and_preprocess_ms"].append(1000 * (t1 - t0))
        stages["forward_and_quantise_ms"].append(1000 * (t2 - t1))
        stages["json_encode_ms"].append(1000 * (t4 - t3))
    limit.restore_original_limits()
    return {k: round(statistics.median(v), 2) for k, v in stages.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="a model file (default: the shipped DeepConvNet, else a fresh one)")
    ap.add_argument("--requests", type=int, default=100, help="timed requests per kind and environment")
    ap.add_argument("--warmup", type=int, default=10, help="untimed requests first")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "serve-latency.json"))
    args = ap.parse_args(argv)

    png = drawn_digit_png()
    kinds = {
        "png_all_layers": ("/api/predict", png, "image/png"),
        "json_pixels_all_layers": ("/api/predict", json.dumps({"pixels": mnist_pixels()}).encode(), "application/json"),
        "png_no_layers": ("/api/predict?layers=none", png, "image/png"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        serve_args, described = model_source(args, Path(tmp))
        envs = {"as-is": dict(os.environ), "unset": {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}}
        servers = {tag: start(serve_args, env) for tag, env in envs.items()}
        try:
            conns = {tag: http.client.HTTPConnection(*addr, timeout=60) for tag, (_, addr) in servers.items()}
            times: dict[str, dict[str, list[float]]] = {tag: {k: [] for k in kinds} for tag in servers}
            sizes: dict[str, int] = {}
            for kind, (path, body, ctype) in kinds.items():
                for conn in conns.values():
                    for _ in range(args.warmup):
                        timed(conn, path, body, ctype)
                done = 0
                while done < args.requests:
                    n = min(BLOCK, args.requests - done)
                    for tag, conn in conns.items():  # alternate the two servers in blocks of 10
                        for _ in range(n):
                            dt, size = timed(conn, path, body, ctype)
                            times[tag][kind].append(dt)
                            sizes[kind] = size
                    done += n
            for conn in conns.values():
                conn.close()
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
        stages = breakdown(serve_args, png, max(20, args.requests // 2))

    result: dict[str, Any] = {
        "benchmark": "POST /api/predict latency of nnscratch serve (client and server on this machine, keep-alive)",
        "model": described,
        "requests_per_kind": args.requests,
        "server": "nnscratch serve --blas-threads 1 (the default), one keep-alive connection, PNG of 280x280",
        "median_ms": {tag: {k: round(statistics.median(v), 2) for k, v in t.items()} for tag, t in times.items()},
        "p90_ms": {tag: {k: round(float(np.percentile(v, 90)), 2) for k, v in t.items()} for tag, t in times.items()},
        "response_bytes": sizes,
        "in_process_breakdown_ms": stages,
        "environment": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "processor": _cpu_name(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            **{k: os.environ.get(k) for k in (*OPENBLAS_VARS, "OPENBLAS_NUM_THREADS")},
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from nnscratch.fileio import write_json_atomic

    write_json_atomic(args.out, result)
    print(json.dumps(result, indent=2))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
