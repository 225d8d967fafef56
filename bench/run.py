"""Speed of nnscratch against PyTorch CPU, in one run (not a test).

For TwoLayerNet, MultiLayerNet (784-100x4-10), SimpleConvNet and DeepConvNet: the median time
of a training step (forward + backward + Adam, batch 100, float32) and of an inference pass
over 10 000 images, nnscratch and PyTorch alternating, after warm-up. Writes JSON and a
Markdown table (ratios = nnscratch / PyTorch, lower is better) into bench/results/.

    python bench/run.py                    # as the environment is
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/run.py --tag unset
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

THREADS = 2
BLOCK = 10
BOOK_STEP_MS = {"SimpleConvNet": 54.5, "DeepConvNet": 304.0}  # the book's code on this machine (issue 4)


def _torch_models(torch: Any) -> dict[str, Callable[[], Any]]:
    nn = torch.nn

    def deep() -> Any:
        layers: list[Any] = []
        c = 1
        for i, (fn, pad) in enumerate([(16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)]):
            layers += [nn.Conv2d(c, fn, 3, padding=pad), nn.ReLU()]
            c = fn
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2, 2))
        layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10), nn.Dropout(0.5)]
        return nn.Sequential(*layers)

    return {
        "TwoLayerNet": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10)),
        "MultiLayerNet": lambda: nn.Sequential(
            nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
            nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)),
        "SimpleConvNet": lambda: nn.Sequential(
            nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
            nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10)),
        "DeepConvNet": deep,
    }


def _ours() -> dict[str, Callable[[], Any]]:
    from nnscratch.models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet

    return {
        "TwoLayerNet": lambda: TwoLayerNet(784, 50, 10, seed=0),
        "MultiLayerNet": lambda: MultiLayerNet(784, [100] * 4, 10, seed=0),
        "SimpleConvNet": lambda: SimpleConvNet(seed=0),
        "DeepConvNet": lambda: DeepConvNet(seed=0),
    }


def _median_ms(fn: Callable[[], None], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return times


def bench(steps: int, warmup: int, infer_n: int, only: list[str] | None) -> dict[str, Any]:
    import torch
    from nnscratch.optimizers import Adam

    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    xi = rng.random((infer_n, 1, 28, 28), dtype=np.float32)
    xt, tt, xit = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(xi)
    results: dict[str, Any] = {}
    for name, make in _ours().items():
        if only and name not in only:
            continue
        ours, opt = make(), Adam(lr=0.001)
        tm = _torch_models(torch)[name]()
        topt = torch.optim.Adam(tm.parameters(), lr=0.001)
        loss_fn = torch.nn.CrossEntropyLoss()

        def our_step() -> None:
            opt.update(ours.params, ours.gradient(x, t))

        def torch_step() -> None:
            topt.zero_grad(set_to_none=True)
            loss_fn(tm(xt), tt).backward()
            topt.step()

        def our_infer() -> None:
            for i in range(0, infer_n, 1000):
                ours.predict(xi[i : i + 1000])

        def torch_infer() -> None:
            tm.eval()
            with torch.inference_mode():
                for i in range(0, infer_n, 1000):
                    tm(xit[i : i + 1000])
            tm.train()

        for _ in range(warmup):
            our_step(), torch_step()
        ours_t, torch_t = [], []
        # alternate in blocks of BLOCK steps, so both see the same machine state while neither
        # pays for the other's thread pool spinning down after every single call
        for _ in range(-(-steps // BLOCK)):
            ours_t += _median_ms(our_step, BLOCK)
            torch_t += _median_ms(torch_step, BLOCK)
        our_infer(), torch_infer()
        oi, ti = [], []
        for _ in range(3):
            oi += _median_ms(our_infer, 1)
            ti += _median_ms(torch_infer, 1)
        step_o, step_t = statistics.median(ours_t), statistics.median(torch_t)
        inf_o, inf_t = statistics.median(oi), statistics.median(ti)
        results[name] = {
            "train_step_ms": {"nnscratch": round(step_o, 3), "pytorch": round(step_t, 3), "ratio": round(step_o / step_t, 3)},
            "inference_ms": {"nnscratch": round(inf_o, 1), "pytorch": round(inf_t, 1), "ratio": round(inf_o / inf_t, 3),
                             "images": infer_n},
        }
        if name in BOOK_STEP_MS:
            results[name]["train_step_ms"]["book"] = BOOK_STEP_MS[name]
            results[name]["train_step_ms"]["speedup_vs_book"] = round(BOOK_STEP_MS[name] / step_o, 1)
        print(f"{name:14s} step {step_o:7.2f} ms vs torch {step_t:7.2f} ms (x{step_o / step_t:.2f}); "
              f"inference {inf_o:7.1f} ms vs {inf_t:7.1f} ms (x{inf_o / inf_t:.2f})", flush=True)
    return results


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs since boot from /proc/stat, or None off Linux. Steal is time
    the hypervisor ran other guests on this machine's virtual CPUs: on a shared cloud machine the
    2-thread timings are only as good as the share it left."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def stolen_share(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float | None:
    """The fraction of all CPU time between two :func:`cpu_ticks` readings that was stolen."""
    if start is None or end is None or end[1] <= start[1]:
        return None
    return round((end[0] - start[0]) / (end[1] - start[1]), 3)


def environment() -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "threads": THREADS,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                       for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        env["blas"] = "threadpoolctl not installed"
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def markdown(res: dict[str, Any], env: dict[str, Any]) -> str:
    blas = env["blas"][0] if isinstance(env["blas"], list) and env["blas"] else {}
    lines = [
        f"Machine: {env['processor']}, {env['cores']} cores, {THREADS} threads; numpy {env['numpy']} "
        f"(BLAS {blas.get('internal_api')} {blas.get('version')}, kernel {blas.get('architecture')}), torch {env['torch']}; "
        f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}; "
        f"peak RSS {env.get('peak_rss_mib', '?')} MiB.",
        "",
        "| network | train step nnscratch (ms) | PyTorch (ms) | ratio | book's code (ms) | inference 10k nnscratch (ms) | PyTorch (ms) | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in res.items():
        s, i = r["train_step_ms"], r["inference_ms"]
        lines.append(f"| {name} | {s['nnscratch']:.2f} | {s['pytorch']:.2f} | {s['ratio']:.2f} | {s.get('book', '–')} | "
                     f"{i['nnscratch']:.0f} | {i['pytorch']:.0f} | {i['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


#: the variables that choose OpenBLAS's kernel when it loads; benchmarks also report a run with them unset
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def per_openblas_setting(script: str, args: list[str]) -> list[dict[str, Any]]:
    """``script --child *args`` in a child process as the environment is and, when an OPENBLAS_VARS
    variable is set, once more with them unset (OpenBLAS picks its kernel when it loads, so each
    setting needs its own process); the JSON object each child prints last, in that order."""
    configs = [dict(os.environ)]
    if any(os.environ.get(k) for k in OPENBLAS_VARS):
        configs.append({k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS})
    runs = []
    for env in configs:
        res = subprocess.run([sys.executable, script, "--child", *args], env=env, capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
    return runs


def openblas_setting() -> dict[str, Any]:
    """This process's OpenBLAS setting, for a child of :func:`per_openblas_setting` to report."""
    from threadpoolctl import threadpool_info

    blas = next((i for i in threadpool_info() if i.get("internal_api") == "openblas"), {})
    return {"env": {k: os.environ.get(k) for k in OPENBLAS_VARS}, "openblas_kernel": blas.get("architecture")}


def setting_label(run: dict[str, Any]) -> str:
    """'OPENBLAS_CORETYPE=Haswell, ...' or 'unset', for a table row of an :func:`openblas_setting` result."""
    return ", ".join(f"{k}={v}" for k, v in run["env"].items() if v) or "unset"


def write_results(out: Path, stem: str, env: dict[str, Any], results: dict[str, Any], md: str) -> None:
    """STEM.json (environment, results, date) and STEM.md (the table) in ``out``, each written
    atomically; the table is printed too. Shared by every script in bench/."""
    from nnscratch.fileio import atomic_write, write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"{stem}.json", {"environment": env, "results": results,
                                             "date": time.strftime("%Y-%m-%d %H:%M:%S")})
    atomic_write(out / f"{stem}.md", lambda p: p.write_text(md))
    print(md)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40, help="timed training steps per framework (median reported)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps")
    ap.add_argument("--inference-images", type=int, default=10000, help="images per inference pass")
    ap.add_argument("--only", nargs="*", default=None, help="subset of networks")
    ap.add_argument("--tag", default="as-is", help="label for the output files (e.g. 'unset')")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output directory")
    args = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("bench needs PyTorch: pip install 'nnscratch[bench]'", file=sys.stderr)
        return 2
    env = environment()
    res = bench(args.steps, args.warmup, args.inference_images, args.only)
    import resource

    env["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    write_results(Path(args.out), f"speed-{args.tag}", env, res, markdown(res, env))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
