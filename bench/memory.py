"""Peak memory growth of a training process over its loaded-data baseline (not a test).

Loads MNIST, records the resident set size, resets the kernel's peak counter, trains
--steps mini-batches of the chosen network (batch 100, Adam) and reports how far the peak
RSS grew over the baseline. ``--impl kernels`` trains the same network on the fast kernels
(bench/kernels.py's drop-in layers, ReLUs folded); ``--evaluate`` then also scores the 10 000
test images (batches of 1000) and reports that peak too. Linux only (/proc/self/status,
/proc/self/clear_refs); one process per measurement (a process has one peak).

    python bench/memory.py --model deepcnn --steps 50
    python bench/memory.py --model deepcnn --impl kernels --evaluate --out bench/results/memory-kernels.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("mlp", "simplecnn", "deepcnn"), default="deepcnn")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--impl", choices=("layers", "reference", "kernels"), default="layers",
                    help="the layers (on the fast kernels since issue 13), the reference im2col layers "
                         "(fast = False), or bench/kernels.py's drop-in kernel layers")
    ap.add_argument("--evaluate", action="store_true", help="also score the 10 000 test images afterwards")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "memory.json"))
    args = ap.parse_args(argv)

    from nnscratch.datasets import load_mnist
    from nnscratch.models import DeepConvNet, MultiLayerNet, SimpleConvNet
    from nnscratch.optimizers import Adam

    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
    baseline = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
    model = {"mlp": lambda: MultiLayerNet(784, [100] * 4, 10, seed=0),
             "simplecnn": lambda: SimpleConvNet(seed=0), "deepcnn": lambda: DeepConvNet(seed=0)}[args.model]()
    if args.impl == "reference":
        for layer in model.layers.values():
            layer.fast, layer.relu, layer.folded = False, False, False
    if args.impl == "kernels":
        sys.path.insert(0, str(Path(__file__).parent))
        from kernels import kernel_model

        model = kernel_model(model, fold=True)
    opt = Adam(lr=0.001)
    t0 = time.perf_counter()
    for i in range(args.steps):
        s = (i * args.batch_size) % len(x_train)
        opt.update(model.params, model.gradient(x_train[s : s + args.batch_size], t_train[s : s + args.batch_size]))
    peak = _status_kib("VmHWM")
    result = {
        "model": args.model, "impl": args.impl, "steps": args.steps, "batch_size": args.batch_size,
        "baseline_rss_mib": round(baseline / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
        "growth_mib": round((peak - baseline) / 1024, 1), "seconds": round(time.perf_counter() - t0, 2),
    }
    if args.evaluate:
        result["test_accuracy"] = round(model.accuracy(x_test, t_test, batch_size=1000), 4)
        peak = _status_kib("VmHWM")
        result.update(eval_peak_rss_mib=round(peak / 1024, 1), eval_growth_mib=round((peak - baseline) / 1024, 1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from nnscratch.fileio import write_json_atomic

    write_json_atomic(out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
