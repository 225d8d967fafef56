"""A training step of the book's conv nets at 1 and 2 threads, nnscratch alone (docs/KERNELS.md, "Threads").

    python bench/step_threads.py                      # DeepConvNet and SimpleConvNet, threads 1 2
    python bench/step_threads.py --chunk-kmacs 1024   # split products of 1 M multiply-adds (4 M now)

Each setting runs in its own process (OpenBLAS's thread state does not carry over), batch 100,
float32, Adam; the median of --steps steps after 3 warm-up steps. Writes
bench/results/step-threads-TAG.json and .md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def child(name: str, threads: int, steps: int, chunk_kmacs: int | None) -> dict[str, float]:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from nnscratch.kernels import conv
    from nnscratch.optimizers import Adam
    from nnscratch.step import train_step
    from run import _median_ms, _ours

    if chunk_kmacs:
        conv.PARALLEL_CHUNK_MACS = chunk_kmacs * 1024
    rng = np.random.default_rng(0)
    x, t = rng.random((100, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 100)
    net, opt = _ours()[name](), Adam()
    with threadpool_limits(threads):
        _median_ms(lambda: train_step(net, opt, x, t), 3)  # warm-up
        times = _median_ms(lambda: train_step(net, opt, x, t), steps)
    return {"median_ms": round(float(np.median(times)), 2), "min_ms": round(min(times), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", default=["DeepConvNet", "SimpleConvNet"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds over the settings")
    ap.add_argument("--chunk-kmacs", type=int, default=None, help="multiply-adds per split product, in units of 1024")
    ap.add_argument("--tag", default="as-is")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        name, threads, steps, chunk = args.child
        print(json.dumps(child(name, int(threads), int(steps), int(chunk) or None)))
        return 0
    from run import environment, write_results

    results: dict[str, Any] = {}
    for r in range(args.rounds):
        for name in args.only:
            for threads in args.threads:
                p = subprocess.run([sys.executable, __file__, "--child", name, str(threads), str(args.steps),
                                    str(args.chunk_kmacs or 0)], capture_output=True, text=True, check=True)
                results.setdefault(f"{name}@{threads}", []).append(json.loads(p.stdout))
                print(name, threads, p.stdout.strip(), flush=True)
    env = environment()
    env.update(chunk_kmacs=args.chunk_kmacs, steps=args.steps, rounds=args.rounds)
    lines = [f"Machine: {env.get('processor')}, {env.get('cores')} cores; DeepConvNet/SimpleConvNet training step, "
             "batch 100, float32, Adam; median per process (ms), one process per round and setting.", "",
             "| network | threads | " + " | ".join(f"round {i + 1}" for i in range(args.rounds)) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in range(args.rounds)) + " |"]
    for key, runs in results.items():
        name, threads = key.split("@")
        lines.append(f"| {name} | {threads} | " + " | ".join(f"{r['median_ms']:.1f}" for r in runs) + " |")
    write_results(Path(args.out), f"step-threads-{args.tag}", env, results, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
