"""How fast a training step could be if every product ran at OpenBLAS's best float32 GEMM rate (not a test).

A convolution's and an Affine's forward pass is one matrix product's worth of multiply-adds, their
backward pass two (dW and dx; the first layer needs no dx), whatever the layout. This script counts
those multiply-adds for SimpleConvNet and DeepConvNet at batch 100, measures OpenBLAS's float32 GEMM
rate on this machine at one thread (a 2048-square product: about the best it reaches), and divides:
the result is the least time any implementation built on that GEMM can take for the step's products
alone. Beside it, in the same process, the measured step of nnscratch and of PyTorch at one thread.

OpenBLAS picks its kernel when it loads (OPENBLAS_CORETYPE, else the CPU it finds), so each
configuration runs in its own child process: as the environment is, and, when OPENBLAS_CORETYPE or
OPENBLAS_L2_SIZE is set, with both unset. PyTorch uses its own kernels and is not affected by them.
Writes bench/results/gemm-ceiling-<tag>.json and .md.

    python bench/gemm_ceiling.py
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
NETWORKS = ["SimpleConvNet", "DeepConvNet"]


def step_multiply_adds(model: Any, input_shape: tuple[int, ...], batch: int) -> int:
    """Multiply-adds of one training step's products: forward 1x, backward 2x (1x for the first layer)."""
    from nnscratch.layers import Affine, Convolution

    total, shape, first = 0, tuple(input_shape), True
    for layer in model.layers.values():
        if isinstance(layer, Convolution):
            fn, c, fh, fw = layer.W.shape
            out = layer.output_shape(shape)
            per_pass = batch * out[1] * out[2] * fn * c * fh * fw
        elif isinstance(layer, Affine):
            d_in, d_out = layer.params["W"].shape
            per_pass, out = batch * d_in * d_out, (d_out,)
        else:
            shape = layer.output_shape(shape) if hasattr(layer, "output_shape") else shape
            continue
        total += per_pass * (2 if first else 3)
        shape, first = out, False
    return total


def gemm_gflops(n: int = 2048, seconds: float = 1.5) -> float:
    """Float32 GEMM rate (GFLOP/s, 2 flops per multiply-add) of NumPy's BLAS on an n-square product."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)
    best = float("inf")
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def child(rounds: int, block: int) -> dict[str, Any]:
    """One configuration, measured in this process at one thread."""
    import torch
    from threadpoolctl import threadpool_limits

    from book_compare import _ours, _timed, contestant, data
    from run import openblas_setting

    threadpool_limits(1)
    torch.set_num_threads(1)
    out: dict[str, Any] = {**openblas_setting(), "gemm_gflops": round(gemm_gflops(), 1)}
    for name in NETWORKS:
        x, t = data(name, 100)
        steps = {who: contestant(who, name, x, t, x[:1])[0] for who in ("nnscratch", "pytorch")}
        times: dict[str, list[float]] = {who: [] for who in steps}
        for _ in range(rounds):  # alternating blocks, one untimed step each
            for who, step in steps.items():
                step()
                times[who] += [w for w, _ in _timed(step, block)]
        macs = step_multiply_adds(_ours(name), (1, 28, 28), 100)
        floor_ms = 2 * macs / (out["gemm_gflops"] * 1e9) * 1e3
        ours, torch_ms = statistics.median(times["nnscratch"]), statistics.median(times["pytorch"])
        out[name] = {"step_gflop": round(2 * macs / 1e9, 3), "floor_ms": round(floor_ms, 1),
                     "nnscratch_ms": round(ours, 1), "pytorch_ms": round(torch_ms, 1),
                     "floor_over_pytorch": round(floor_ms / torch_ms, 3),
                     "nnscratch_over_pytorch": round(ours / torch_ms, 3),
                     "nnscratch_gflops": round(2 * macs / ours / 1e6, 1)}
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    from run import setting_label

    lines = ["| OpenBLAS settings | kernel | GEMM GFLOP/s (1 thread) | network | step GFLOP | floor at that rate "
             "| nnscratch | PyTorch | floor ÷ PyTorch | nnscratch ÷ PyTorch | nnscratch's GFLOP/s |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        env = setting_label(r)
        for name in NETWORKS:
            n = r[name]
            lines.append(f"| {env} | {r['openblas_kernel']} | {r['gemm_gflops']} | {name} | {n['step_gflop']} "
                         f"| {n['floor_ms']} ms | {n['nnscratch_ms']} ms | {n['pytorch_ms']} ms "
                         f"| {n['floor_over_pytorch']} | {n['nnscratch_over_pytorch']} | {n['nnscratch_gflops']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=4, help="alternation rounds of nnscratch and PyTorch steps")
    p.add_argument("--block", type=int, default=5, help="timed steps per contestant and round")
    p.add_argument("--tag", default="latest")
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.rounds, args.block)))
        return 0
    from run import environment, per_openblas_setting, write_results

    runs = per_openblas_setting(__file__, ["--rounds", str(args.rounds), "--block", str(args.block)])
    env = environment()
    env.update(rounds=args.rounds, block=args.block, threads=1)
    write_results(Path(args.out), f"gemm-ceiling-{args.tag}", env, {"configurations": runs}, markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
