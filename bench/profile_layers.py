"""Where a training step's time goes, layer by layer (not a test).

    python bench/profile_layers.py --model deepcnn --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from typing import Any

import numpy as np


def layer_times(model: Any, x: Any, t: Any, steps: int, warmup: int = 5) -> dict[str, float]:
    """Median ms of each layer's forward and backward (and Adam, and the whole step) over ``steps``;
    the passes a network runs as one (its fused front) are timed as one."""
    from nnscratch.optimizers import Adam

    times: dict[str, list[float]] = defaultdict(list)
    names = {id(layer): name for name, layer in model.layers.items()}
    passes = [("-".join(names[id(l)] for l in p.layers) if hasattr(p, "layers") else names[id(p)], p)
              for p in model._passes()]  # a fused front (conv1-relu1-pool1) is timed as one
    for name, layer in [*passes, ("loss", model.last_layer)]:
        for phase in ("forward", "backward"):
            fn = getattr(layer, phase)

            def timed(*a, _fn=fn, _key=f"{name}.{phase}", **k):
                t0 = time.perf_counter()
                out = _fn(*a, **k)
                times[_key].append(1000 * (time.perf_counter() - t0))
                return out

            setattr(layer, phase, timed)
    opt = Adam(lr=0.001)
    for i in range(steps + warmup):
        if i == warmup:
            times.clear()
        t0 = time.perf_counter()
        g = model.gradient(x, t)
        t1 = time.perf_counter()
        opt.update(model.params, g)
        times["adam.update"].append(1000 * (time.perf_counter() - t1))
        times["step.total"].append(1000 * (time.perf_counter() - t0))
    return {k: round(statistics.median(v), 3) for k, v in times.items()}


def main() -> None:
    from nnscratch.argtypes import thread_count

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("simplecnn", "deepcnn", "mlp"), default="deepcnn")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--threads", type=thread_count, default=None,
                    help="BLAS and kernel threads (threadpoolctl; default: what the environment sets)")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from nnscratch.kernels import threads
    from nnscratch.models import DeepConvNet, MultiLayerNet, SimpleConvNet

    model = {"simplecnn": SimpleConvNet, "deepcnn": DeepConvNet,
             "mlp": lambda seed: MultiLayerNet(784, [100] * 4, 10, seed=seed)}[args.model](seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.random((args.batch_size, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, args.batch_size)
    with threadpool_limits(args.threads):
        print(f"{'layer.phase':28s} median ms at {threads.workers()} thread(s)")
        for k, v in layer_times(model, x, t, args.steps).items():
            print(f"{k:28s} {v:8.2f}")


if __name__ == "__main__":
    main()
