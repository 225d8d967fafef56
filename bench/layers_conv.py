"""Micro-benchmark: nnscratch Convolution / Pooling vs torch.nn.functional, float32, forward + backward.

Layers: SimpleConvNet's conv (30x1x5x5 on 28x28) + 2x2 max pool, and DeepConvNet's 3x3 pad-1 convs
(16, 16, 32, 32, 64, 64 filters on 28 -> 14 -> 7 maps) with their 2x2 max pools. torch runs with
torch.set_num_threads(2); both sides compute dx, dW, db (the "+in" rows: no dx, as for a
network's input). Each side runs in blocks of calls, three rounds; the table shows medians in ms.
On a shared machine, ``--threads 1`` (OpenBLAS limited through threadpoolctl, torch to 1 thread,
timed in thread CPU time) compares the work done, which other processes barely disturb.

    python bench/layers_conv.py [--batch 100] [--repeat 30] [--warmup 5] [--threads 2] [--stat median]
                                [--only conv2]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import numpy as np

from nnscratch.layers import Convolution, MaxPooling

# (name, kind, C, H, FN, K, pad): per-sample input (C, H, H); pools are 2x2 stride 2.
# "+in" rows are a network's first layer as trained: no gradient for the input images (both sides).
LAYERS = [
    ("simple.conv1", "conv", 1, 28, 30, 5, 0),
    ("simple.conv1+in", "conv", 1, 28, 30, 5, 0),
    ("simple.pool1", "pool", 30, 24, 0, 2, 0),
    ("deep.conv1", "conv", 1, 28, 16, 3, 1),
    ("deep.conv1+in", "conv", 1, 28, 16, 3, 1),
    ("deep.conv2", "conv", 16, 28, 16, 3, 1),
    ("deep.pool1", "pool", 16, 28, 0, 2, 0),
    ("deep.conv3", "conv", 16, 14, 32, 3, 1),
    ("deep.conv4", "conv", 32, 14, 32, 3, 1),
    ("deep.pool2", "pool", 32, 14, 0, 2, 0),
    ("deep.conv5", "conv", 32, 7, 64, 3, 1),
    ("deep.conv6", "conv", 64, 7, 64, 3, 1),
    ("deep.pool3", "pool", 64, 7, 0, 2, 0),
]


CLOCK = time.perf_counter


def timed(fn) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def bench_layer(spec, batch: int, repeat: int, warmup: int, rng: np.random.Generator,
                stat: str = "median") -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    name, kind, c, h, fn, k, pad = spec
    x = rng.standard_normal((batch, c, h, h), dtype=np.float32)
    input_grad = not name.endswith("+in")
    xt = torch.from_numpy(x.copy()).requires_grad_(input_grad)
    if kind == "conv":
        W = (rng.standard_normal((fn, c, k, k), dtype=np.float32) * 0.1)
        b = rng.standard_normal(fn, dtype=np.float32)
        layer = Convolution(W, b, stride=1, pad=pad)
        layer.input_grad = input_grad
        Wt = torch.from_numpy(W.copy()).requires_grad_()
        bt = torch.from_numpy(b.copy()).requires_grad_()
        inputs = (xt, Wt, bt) if input_grad else (Wt, bt)

        def torch_forward():
            return F.conv2d(xt, Wt, bt, stride=1, padding=pad)
    else:
        layer = MaxPooling(k, k, stride=k)
        inputs = (xt,)

        def torch_forward():
            return F.max_pool2d(xt, k, stride=k)

    out = layer.forward(x)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    dout_t = torch.from_numpy(dout.copy())

    def ours_fwd():
        layer.forward(x)

    def ours_step():
        layer.forward(x)
        layer.backward(dout)

    def torch_fwd():
        with torch.no_grad():
            torch_forward()

    def torch_step():
        torch.autograd.grad(torch_forward(), inputs, dout_t)

    # sanity: same numbers as torch before timing them
    ref = torch_forward()
    grads = torch.autograd.grad(ref, inputs, dout_t)
    np.testing.assert_allclose(layer.forward(x), ref.detach().numpy(), rtol=1e-3, atol=1e-3)
    dx = layer.backward(dout)
    if input_grad:
        np.testing.assert_allclose(dx, grads[0].numpy(), rtol=1e-3, atol=1e-3)
    if kind == "conv":
        np.testing.assert_allclose(layer.grads["W"], grads[-2].numpy(), rtol=1e-3, atol=1e-2)

    # Blocks, not interleaved calls: torch's OpenMP threads and OpenBLAS's threads both spin for a
    # while after each call, and alternating the two libraries call by call makes each wait for the
    # other. Three rounds of blocks spread any load from other processes over both sides.
    runs = (("ours_fwd", ours_fwd), ("ours_step", ours_step), ("torch_fwd", torch_fwd), ("torch_step", torch_step))
    times: dict[str, list[float]] = {key: [] for key, _ in runs}
    rounds = 3
    for r in range(rounds):
        for key, fn in runs:
            time.sleep(0.02)
            for _ in range(warmup if r == 0 else 1):
                fn()
            times[key] += [timed(fn) for _ in range(-(-repeat // rounds))]
    summary = statistics.median if stat == "median" else min
    return {key: 1e3 * summary(vals) for key, vals in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, choices=(1, 2),
                        help="2: wall time, torch with 2 threads; 1: CPU time, one thread each")
    parser.add_argument("--stat", default="median", choices=("median", "min"),
                        help="min: the least disturbed call, for a machine shared with other work")
    parser.add_argument("--only", default="", help="run only layers whose name contains this text")
    args = parser.parse_args(argv)
    import torch

    global CLOCK
    torch.set_num_threads(args.threads)
    limits: contextlib.AbstractContextManager = contextlib.nullcontext()
    if args.threads == 1:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(1)  # in force from here until the with-block below ends
        CLOCK = time.thread_time
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    clock = "wall time" if args.threads == 2 else "thread CPU time, numpy's BLAS limited to 1 thread"
    print(f"batch {args.batch}, float32, {args.stat} of {args.repeat} after {args.warmup} warm-up, {clock}; "
          f"torch {torch.__version__} with {args.threads} thread(s); load average {load:.2f}")
    header = row("layer", "input", "ours fwd", "torch fwd", "ours f+b", "torch f+b", "f+b ratio")
    print(header)
    print("-" * len(header))
    total = {"ours_fwd": 0.0, "torch_fwd": 0.0, "ours_step": 0.0, "torch_step": 0.0}
    with limits:
        for spec in LAYERS:
            if args.only not in spec[0]:
                continue
            t = bench_layer(spec, args.batch, args.repeat, args.warmup, rng, args.stat)
            if not any(other[0] == spec[0] + "+in" for other in LAYERS):  # total: layers as trained
                for key in total:
                    total[key] += t[key]
            print(row(spec[0], f"{spec[2]}x{spec[3]}x{spec[3]}", *numbers(t)), flush=True)
    print("-" * len(header))
    print(row("total, +in rows", "", *numbers(total)))


def numbers(t: dict[str, float]) -> list[str]:
    ratio = t["ours_step"] / max(t["torch_step"], 1e-12)
    return [f"{t[k]:.2f}" for k in ("ours_fwd", "torch_fwd", "ours_step", "torch_step")] + [f"{ratio:.2f}"]


def row(*cells: str) -> str:
    return f"{cells[0]:<16} {cells[1]:>9} " + " ".join(f"{c:>9}" for c in cells[2:])


if __name__ == "__main__":
    main()
