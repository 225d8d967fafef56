"""Peak memory of a DeepConvNet training process on the fast kernels vs today's layers (not a test).

Like bench/memory.py (issue 13 acceptance 4: growth <= 100 MiB over the loaded-data baseline),
for the network of bench/kernels.py: loads MNIST, records the resident set size, resets the
kernel's peak counter, trains --steps batches (Adam), optionally evaluates the 10 000 test images
(batches of 1000), and reports the peak's growth over the baseline. One process per run (a
process has one peak). Linux only.

    python bench/kernels_memory.py --impl kernels --evaluate
    python bench/kernels_memory.py --impl layers
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=("layers", "kernels"), default="kernels")
    ap.add_argument("--model", choices=("simplecnn", "deepcnn"), default="deepcnn")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--evaluate", action="store_true", help="also score the 10 000 test images afterwards")
    ap.add_argument("--out", default=None, help="JSON file (default bench/results/memory-<impl>-<model>.json)")
    args = ap.parse_args(argv)

    from kernels import kernel_model
    from memory import _status_kib
    from nnscratch.datasets import load_mnist
    from nnscratch.fileio import write_json_atomic
    from nnscratch.models import DeepConvNet, SimpleConvNet
    from nnscratch.optimizers import Adam

    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
    baseline = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
    model = {"simplecnn": SimpleConvNet, "deepcnn": DeepConvNet}[args.model](seed=0)
    if args.impl == "kernels":
        model = kernel_model(model, fold=True)
    opt = Adam(lr=0.001)
    t0 = time.perf_counter()
    for i in range(args.steps):
        s = (i * args.batch_size) % len(x_train)
        opt.update(model.params, model.gradient(x_train[s:s + args.batch_size], t_train[s:s + args.batch_size]))
    train_peak = _status_kib("VmHWM")
    result = {"impl": args.impl, "model": args.model, "steps": args.steps, "batch_size": args.batch_size,
              "baseline_rss_mib": round(baseline / 1024, 1), "train_peak_rss_mib": round(train_peak / 1024, 1),
              "train_growth_mib": round((train_peak - baseline) / 1024, 1),
              "train_seconds": round(time.perf_counter() - t0, 2)}
    if args.evaluate:
        result["test_accuracy_after_steps"] = round(model.accuracy(x_test, t_test, batch_size=1000), 4)
        peak = _status_kib("VmHWM")
        result.update(eval_peak_rss_mib=round(peak / 1024, 1), eval_growth_mib=round((peak - baseline) / 1024, 1))
    out = Path(args.out or Path(__file__).parent / "results" / f"memory-{args.impl}-{args.model}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
