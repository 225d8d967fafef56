"""Where a training step's time goes, layer by layer (not a test).

    python bench/profile_layers.py --model deepcnn
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("simplecnn", "deepcnn", "mlp"), default="deepcnn")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    from nnscratch.models import DeepConvNet, MultiLayerNet, SimpleConvNet
    from nnscratch.optimizers import Adam

    model = {"simplecnn": SimpleConvNet, "deepcnn": DeepConvNet,
             "mlp": lambda seed: MultiLayerNet(784, [100] * 4, 10, seed=seed)}[args.model](seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.random((100, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 100)
    times: dict[str, list[float]] = defaultdict(list)
    for name, layer in model.layers.items():
        for phase in ("forward", "backward"):
            fn = getattr(layer, phase)

            def timed(*a, _fn=fn, _key=f"{name}.{phase}", **k):
                t0 = time.perf_counter()
                out = _fn(*a, **k)
                times[_key].append(1000 * (time.perf_counter() - t0))
                return out

            setattr(layer, phase, timed)
    opt = Adam(lr=0.001)
    for i in range(args.steps + 5):
        if i == 5:
            times.clear()
        t0 = time.perf_counter()
        g = model.gradient(x, t)
        t1 = time.perf_counter()
        opt.update(model.params, g)
        times["adam.update"].append(1000 * (time.perf_counter() - t1))
        times["step.total"].append(1000 * (time.perf_counter() - t0))
    print(f"{'layer.phase':28s} median ms")
    for k, v in times.items():
        print(f"{k:28s} {statistics.median(v):8.2f}")


if __name__ == "__main__":
    main()
