"""Would Winograd's F(2x2, 3x3) make DeepConvNet's convolutions faster here? A forward-pass probe (not a test).

Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks": a 2x2 block of a 3x3
convolution's output is Y = A^T [(G g G^T) . (B^T d B)] A over a 4x4 input tile d, so the products
become 16 matrix products (one per tile position) over the tiles, (tiles x C) @ (C x FN): 16 multiply-
adds per 4 outputs instead of 36, 2.25x fewer. The price is the tile transforms B^T d B and A^T M A,
passes of additions over arrays 4x the output's size, which NumPy runs as separate element-wise
operations. Forward is the deciding pass: backward is the same transforms around the same kind of
products (dx with the flipped kernel; dW from the forward's B^T d B and the transformed dout).

This script runs that forward, in the kernels' (H, W, N, C) memory and one tile row at a time (so
the transforms stay in cache), against ``nnscratch.kernels.conv2d_forward`` for the shapes of
DeepConvNet's 3x3 convolutions with 16 or more input channels, at batch 100 and one thread, and
reports each one's time and Winograd's split between transforms and products. As the other
scripts here, it runs once as the environment is and once with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
unset, when they are set. Writes bench/results/winograd-probe-<tag>.json and .md.

    python bench/winograd_probe.py
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

#: (C, FN, H = W, pad) of DeepConvNet's conv2 .. conv6 (conv1 has one input channel: the column path)
SHAPES = [(16, 16, 28, 1), (16, 32, 14, 1), (32, 32, 14, 2), (32, 64, 8, 1), (64, 64, 8, 1)]
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def filter_transform(W: Any) -> Any:
    """U (16, C, FN): G g G^T of every (filter, channel) 3x3 kernel g, tile position (a, b) first."""
    u = np.einsum("ai,fcij,bj->abcf", G, W.astype(np.float64), G)
    return np.ascontiguousarray(u.reshape(16, W.shape[1], W.shape[0]).astype(W.dtype))


def _bt(p: list[Any], out: Any) -> None:
    """B^T along the first axis: out[0..3] from the four stride-2 views p[0..3] of the input."""
    np.subtract(p[0], p[2], out=out[0])
    np.add(p[1], p[2], out=out[1])
    np.subtract(p[2], p[1], out=out[2])
    np.subtract(p[1], p[3], out=out[3])


def winograd_forward(xh: Any, W: Any, b: Any, pad: int, clock: dict[str, float]) -> Any:
    """The stride-1 3x3 convolution of xh (H, W, N, C) by F(2x2, 3x3): (OH, OW, N, FN); adds the seconds
    spent in transforms and in products to ``clock``."""
    h, w, n, c = xh.shape
    f, oh, ow = W.shape[0], h + 2 * pad - 2, w + 2 * pad - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    t0 = time.perf_counter()
    img = np.zeros((2 * th + 2, 2 * tw + 2, n, c), xh.dtype)
    img[pad:pad + h, pad:pad + w] = xh
    u = filter_transform(W)
    out = np.empty((2 * th, 2 * tw, n, f), xh.dtype)
    z = np.empty((4, 1, img.shape[1], n, c), xh.dtype)
    v = np.empty((4, 4, 1, tw, n, c), xh.dtype)
    m = np.empty((16, tw * n, f), xh.dtype)
    r = np.empty((2, 4, 1, tw, n, f), xh.dtype)
    for t in range(th):  # one row of tiles
        rows = img[2 * t:2 * t + 4]
        _bt([rows[k:k + 1] for k in range(4)], z)  # B^T d: along H
        for a in range(4):  # (B^T d) B: along W
            za = z[a].transpose(1, 0, 2, 3)
            _bt([za[k:k + 2 * tw:2] for k in range(4)], v[a].transpose(0, 2, 1, 3, 4))
        t1 = time.perf_counter()
        np.matmul(v.reshape(16, tw * n, c), u, out=m)
        t2 = time.perf_counter()
        m4 = m.reshape(4, 4, 1, tw, n, f)
        np.add(m4[0], m4[1], out=r[0])  # A^T M: along H
        r[0] += m4[2]
        np.subtract(m4[1], m4[2], out=r[1])
        r[1] -= m4[3]
        o = out[2 * t:2 * t + 2].reshape(2, tw, 2, n, f)
        for i in range(2):  # (A^T M) A: along W, and the bias
            ri, o0, o1 = r[i], o[i, :, 0], o[i, :, 1]
            np.add(ri[0, 0], ri[1, 0], out=o0)
            o0 += ri[2, 0]
            o0 += b
            np.subtract(ri[1, 0], ri[2, 0], out=o1)
            o1 -= ri[3, 0]
            o1 += b
        clock["products"] += t2 - t1
        clock["transforms"] += time.perf_counter() - t2 + t1 - t0
        t0 = time.perf_counter()
    return out[:oh, :ow]


def child(reps: int) -> dict[str, Any]:
    """Every shape, in this process at one thread: median ms of both forwards, and the largest error."""
    from threadpoolctl import threadpool_limits

    from nnscratch import kernels
    from run import openblas_setting

    threadpool_limits(1)
    out: dict[str, Any] = {**openblas_setting(), "layers": []}
    rng = np.random.default_rng(0)
    for c, f, hw, pad in SHAPES:
        xh = rng.standard_normal((hw, hw, 100, c), dtype=np.float32)
        W = (rng.standard_normal((f, c, 3, 3)) * 0.1).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        x, ws = xh.transpose(2, 3, 0, 1), kernels.Workspace()
        direct = kernels.conv2d_forward(x, W, b, 1, pad, workspace=ws)[0].transpose(2, 3, 0, 1)
        clock = {"transforms": 0.0, "products": 0.0}
        err = float(np.abs(winograd_forward(xh, W, b, pad, clock) - direct).max() / np.abs(direct).max())
        times: dict[str, list[float]] = {"direct": [], "winograd": []}
        clock = {"transforms": 0.0, "products": 0.0}
        for _ in range(reps):  # alternating
            t0 = time.perf_counter()
            kernels.conv2d_forward(x, W, b, 1, pad, workspace=ws)
            t1 = time.perf_counter()
            winograd_forward(xh, W, b, pad, clock)
            times["direct"].append(t1 - t0)
            times["winograd"].append(time.perf_counter() - t1)
        d, wg = (1e3 * statistics.median(times[k]) for k in ("direct", "winograd"))
        out["layers"].append({"shape": f"{c}->{f}, {hw}x{hw}, pad {pad}", "direct_ms": round(d, 2),
                              "winograd_ms": round(wg, 2), "winograd_over_direct": round(wg / d, 2),
                              "winograd_transforms_ms": round(1e3 * clock["transforms"] / reps, 2),
                              "winograd_products_ms": round(1e3 * clock["products"] / reps, 2),
                              "max_relative_error": float(f"{err:.1e}")})
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    from run import setting_label

    lines = ["| OpenBLAS settings | kernel | layer (batch 100, forward, 1 thread) | nnscratch direct | Winograd F(2x2,3x3) "
             "| of which transforms / products | Winograd ÷ direct | max relative difference |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        env = setting_label(r)
        for layer in r["layers"]:
            lines.append(f"| {env} | {r['openblas_kernel']} | {layer['shape']} | {layer['direct_ms']} ms "
                         f"| {layer['winograd_ms']} ms | {layer['winograd_transforms_ms']} / "
                         f"{layer['winograd_products_ms']} ms | {layer['winograd_over_direct']} "
                         f"| {layer['max_relative_error']:.1e} |")
        total = [sum(layer[k] for layer in r["layers"]) for k in ("direct_ms", "winograd_ms")]
        lines.append(f"| {env} | {r['openblas_kernel']} | all five | {total[0]:.2f} ms | {total[1]:.2f} ms | "
                     f"| {total[1] / total[0]:.2f} | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from nnscratch.argtypes import positive_int

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=positive_int, default=30, help="timed forwards of each kind per layer (alternating)")
    p.add_argument("--tag", default="latest")
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.reps)))
        return 0
    from run import environment, per_openblas_setting, write_results

    runs = per_openblas_setting(__file__, ["--reps", str(args.reps)])
    env = environment()
    env.update(reps=args.reps, threads=1, batch=100)
    write_results(Path(args.out), f"winograd-probe-{args.tag}", env, {"configurations": runs}, markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
