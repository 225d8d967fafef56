"""Whole training steps with the fast kernels (nnscratch.kernels) against today's layers and PyTorch.

Builds SimpleConvNet and DeepConvNet (seed 0), then the same network with its Convolution and
Pooling layers swapped for thin subclasses that call the kernels (what the layers will become
when the kernels are integrated), optionally with each ReLU folded into the convolution or max
pool before it, and the torch network with the same weights. Times the training step (forward,
backward, Adam; batch 100, float32) and inference over 10 000 images (batches of 1000), the
contestants alternating in blocks of steps in one process, at each --threads count (OpenBLAS
through threadpoolctl, torch.set_num_threads). Medians of wall time; at 1 thread also of thread
CPU time, which other processes on a shared machine disturb less. Then a per-layer breakdown of
the fastest kernel network. Writes bench/results/kernels-<tag>.json.

    python bench/kernels.py --threads 1 2
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/kernels.py --tag unset
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from nnscratch import kernels  # noqa: E402
from nnscratch.kernels import blas as gemm_module  # noqa: E402
from nnscratch.kernels import cblas as cblas_module  # noqa: E402
from nnscratch.kernels import conv as conv_module  # noqa: E402
from nnscratch.layers import Convolution, Pooling, Relu  # noqa: E402
from nnscratch.models import DeepConvNet, Sequential, SimpleConvNet  # noqa: E402
from nnscratch.optimizers import Adam  # noqa: E402


class KernelConvolution(Convolution):
    """Convolution whose forward/backward are the kernels' (the integration to come, in 2 lines each)."""

    relu = False  # True: max(0, .) folded in, the following Relu layer dropped

    def forward(self, x: Any, train: bool = True) -> Any:
        ws = self.__dict__.setdefault("_ws", kernels.Workspace())
        out, self._saved = kernels.conv2d_forward(x, self.W, self.b, self.stride, self.pad, relu=self.relu,
                                                  workspace=ws, keep=train)
        return out

    def backward(self, dout: Any) -> Any:
        dx, self.grads["W"], self.grads["b"] = kernels.conv2d_backward(
            dout, self._saved, self.W, input_grad=self.input_grad, workspace=self._ws)
        return dx


class KernelPooling(Pooling):
    relu = False

    def forward(self, x: Any, train: bool = True) -> Any:
        out, self._saved = kernels.pool2d_forward(x, self.pool_h, self.pool_w, self.stride, self.pad, self.mode,
                                                  relu=self.relu, keep=train)
        return out

    def backward(self, dout: Any) -> Any:
        return kernels.pool2d_backward(dout, self._saved)


def kernel_model(model: Sequential, fold: bool) -> Sequential:
    """A copy of ``model`` on the kernels; fold=True folds each ReLU that follows a convolution into
    the max pool after it (Conv-ReLU-Pool: the pooled output is 4x smaller) or else into the conv."""
    layers = list(model.layers.values())
    out: list[Any] = []
    for i, layer in enumerate(layers):
        if isinstance(layer, Convolution):
            new = KernelConvolution(layer.W.copy(), layer.b.copy(), layer.stride, layer.pad)
        elif isinstance(layer, Pooling):
            new = KernelPooling(layer.pool_h, layer.pool_w, layer.stride, layer.pad, layer.mode)
            new.relu = fold and isinstance(layers[i - 1], Relu) and isinstance(layers[i - 2], Convolution) \
                and layer.mode == "max"
        elif fold and isinstance(layer, Relu) and isinstance(out[-1], KernelConvolution):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if not (isinstance(nxt, Pooling) and nxt.mode == "max"):
                out[-1].relu = True
            continue
        else:
            new = layer  # Affine, Relu, Dropout: today's layers (model is a fresh copy)
        out.append(new)
    return Sequential(out, loss_layer=model.last_layer)


def torch_model(torch: Any, model: Sequential) -> Any:
    """The same network in torch with the same weights (Linear weights transposed)."""
    nn = torch.nn
    mods: list[Any] = []
    flat = False
    for layer in model.layers.values():
        name = type(layer).__name__
        if isinstance(layer, Convolution):
            fn, c, kh, kw = layer.W.shape
            m = nn.Conv2d(c, fn, (kh, kw), stride=layer.stride, padding=layer.pad)
            m.weight.data = torch.from_numpy(layer.W.copy())
            m.bias.data = torch.from_numpy(layer.b.copy())
        elif isinstance(layer, Pooling):
            cls = nn.MaxPool2d if layer.mode == "max" else nn.AvgPool2d
            m = cls((layer.pool_h, layer.pool_w), layer.stride, layer.pad)
        elif name == "Affine":
            if not flat:
                mods.append(nn.Flatten())
                flat = True
            m = nn.Linear(*layer.W.shape)
            m.weight.data = torch.from_numpy(np.ascontiguousarray(layer.W.T))
            m.bias.data = torch.from_numpy(layer.b.copy())
        elif name == "Relu":
            m = nn.ReLU()
        elif name == "Dropout":
            m = nn.Dropout(layer.dropout_ratio)
        else:
            raise ValueError(f"no torch twin for {name}")
        mods.append(m)
    return nn.Sequential(*mods)


def _timed(fn: Callable[[], None], reps: int, cpu: bool) -> list[tuple[float, float]]:
    out = []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        out.append((1e3 * (time.perf_counter() - w0), 1e3 * (time.thread_time() - c0) if cpu else float("nan")))
    return out


def contestants(torch: Any, name: str, x: Any, t: Any, xi: Any, which: list[str]) -> dict[str, tuple]:
    """name -> (train step, inference pass) closures."""
    make = {"SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet}[name]
    res: dict[str, tuple] = {}
    xt, tt, xit = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(xi)
    for who in which:
        if who == "torch":
            tm = torch_model(torch, make(seed=0))
            topt, lossf = torch.optim.Adam(tm.parameters(), lr=0.001), torch.nn.CrossEntropyLoss()

            def step(tm=tm, topt=topt, lossf=lossf) -> None:
                topt.zero_grad(set_to_none=True)
                lossf(tm(xt), tt).backward()
                topt.step()

            def infer(tm=tm) -> None:
                tm.eval()
                with torch.inference_mode():
                    for i in range(0, len(xi), 1000):
                        tm(xit[i:i + 1000])
                tm.train()
        else:
            model = make(seed=0)
            if who.split("-")[0] == "layers":
                pass  # the layers as they are: on the kernels since issue 13, ReLUs folded
            elif who.split("-")[0] == "reference":
                for layer in model.layers.values():  # the book-readable im2col layers
                    layer.fast, layer.relu, layer.folded = False, False, False
            else:
                model = kernel_model(model, fold="fold" in who.split("-"))
            opt = Adam(lr=0.001)
            # variants: "-numpy" (no cblas accumulate), "-c<K>" (K x 1024 multiply-adds per product of the stride-1 path)
            settings = {"cblas": "numpy" not in who and cblas_module.available(),
                        "chunk": next((int(p[1:]) * 1024 for p in who.split("-") if p[:1] == "c" and p[1:].isdigit()),
                                      conv_module.CHUNK_MACS)}

            def configure(settings: dict = settings) -> None:
                gemm_module.USE_CBLAS = settings["cblas"]
                conv_module.CHUNK_MACS = settings["chunk"]

            def step(model=model, opt=opt, configure=configure) -> None:
                configure()
                opt.update(model.params, model.gradient(x, t))

            def infer(model=model, configure=configure) -> None:
                configure()
                for i in range(0, len(xi), 1000):
                    model.predict(xi[i:i + 1000])
        res[who] = (step, infer)
    return res


def check(torch: Any, name: str, x: Any) -> float:
    """Largest |difference| of eval-mode scores: kernels (folded) vs torch, same weights (float32)."""
    make = {"SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet}[name]
    ours = kernel_model(make(seed=0), fold=True).predict(x)
    tm = torch_model(torch, make(seed=0)).eval()
    with torch.no_grad():
        ref = tm(torch.from_numpy(x)).numpy()
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def bench_one(torch: Any, name: str, threads: int, which: list[str], steps: int, block: int,
              infer_rounds: int, infer_n: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    xi = rng.random((infer_n, 1, 28, 28), dtype=np.float32)
    fns = contestants(torch, name, x, t, xi, which)
    for step, _ in fns.values():
        for _ in range(3):
            step()
    times: dict[str, list] = defaultdict(list)
    for _ in range(-(-steps // block)):  # blocks, so no side pays for the other's idle thread pool
        for who, (step, _) in fns.items():
            step()
            times[who] += _timed(step, block, cpu=threads == 1)
    inf: dict[str, list] = defaultdict(list)
    for _ in range(infer_rounds):
        for who, (_, infer) in fns.items():
            inf[who] += _timed(infer, 1, cpu=threads == 1)
    out: dict[str, Any] = {"relative_score_error_vs_torch": check(torch, name, xi[:200])}
    ref = statistics.median(w for w, _ in times["torch"]) if "torch" in times else None
    ref_i = statistics.median(w for w, _ in inf["torch"]) if "torch" in inf else None
    ref_c = statistics.median(c for _, c in times["torch"]) if "torch" in times else None
    for who in fns:
        wall = statistics.median(w for w, _ in times[who])
        cpu = statistics.median(c for _, c in times[who])
        wi = statistics.median(w for w, _ in inf[who])
        out[who] = {"step_ms": round(wall, 2), "step_cpu_ms": None if threads > 1 else round(cpu, 2),
                    "inference_ms": round(wi, 1)}
        if ref:
            out[who]["step_ratio"] = round(wall / ref, 3)
            out[who]["inference_ratio"] = round(wi / ref_i, 3)
            if threads == 1:
                out[who]["step_cpu_ratio"] = round(cpu / ref_c, 3)
    return out


def breakdown(name: str, fold: bool, steps: int) -> dict[str, float]:
    """Median ms per layer phase of the kernel network's training step (plus Adam)."""
    from profile_layers import layer_times

    make = {"SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet}[name]
    rng = np.random.default_rng(0)
    x, t = rng.random((100, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 100)
    return layer_times(kernel_model(make(seed=0), fold=fold), x, t, steps, warmup=3)


#: DeepConvNet's and SimpleConvNet's layers as trained (batch 100): (name, C, H, FN, K, pad, input_grad)
LAYERS = [("simple.conv1", 1, 28, 30, 5, 0, False), ("deep.conv1", 1, 28, 16, 3, 1, False),
          ("deep.conv2", 16, 28, 16, 3, 1, True), ("deep.conv3", 16, 14, 32, 3, 1, True),
          ("deep.conv4", 32, 14, 32, 3, 2, True), ("deep.conv5", 32, 8, 64, 3, 1, True),
          ("deep.conv6", 64, 8, 64, 3, 1, True)]


def layer_table(torch: Any, rounds: int, reps: int) -> dict[str, Any]:
    """Thread CPU ms (min over rounds of the median of reps) per conv layer: kernels vs torch, fwd and fwd+bwd."""
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    res: dict[str, Any] = {}
    for name, c, h, fn, k, pad, input_grad in LAYERS:
        x = np.ascontiguousarray(rng.random((100, h, h, c), dtype=np.float32)).transpose(0, 3, 1, 2)
        W = rng.standard_normal((fn, c, k, k), dtype=np.float32) * 0.1
        b = np.zeros(fn, np.float32)
        ws = kernels.Workspace()
        y, saved = kernels.conv2d_forward(x, W, b, 1, pad, workspace=ws)
        d = np.ascontiguousarray(rng.standard_normal(y.shape, dtype=np.float32).transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(input_grad)
        Wt, bt = torch.from_numpy(W).requires_grad_(), torch.from_numpy(b).requires_grad_()
        dt = torch.from_numpy(np.ascontiguousarray(d))
        inputs = (xt, Wt, bt) if input_grad else (Wt, bt)

        def kf() -> None:
            kernels.conv2d_forward(x, W, b, 1, pad, workspace=ws)

        def kb() -> None:
            _, s = kernels.conv2d_forward(x, W, b, 1, pad, workspace=ws)
            kernels.conv2d_backward(d, s, W, input_grad=input_grad, workspace=ws)

        def tf() -> None:
            with torch.no_grad():
                F.conv2d(xt, Wt, bt, padding=pad)

        def tb() -> None:
            torch.autograd.grad(F.conv2d(xt, Wt, bt, padding=pad), inputs, dt)

        fns = {"kernels_fwd": kf, "torch_fwd": tf, "kernels_step": kb, "torch_step": tb}
        best = {key: float("inf") for key in fns}
        for _ in range(rounds):
            for key, fn_ in fns.items():
                fn_()
                best[key] = min(best[key], statistics.median(c for _, c in _timed(fn_, reps, cpu=True)))
        res[name] = {key: round(v, 2) for key, v in best.items()}
        res[name]["step_ratio"] = round(best["kernels_step"] / best["torch_step"], 2)
        print(name, res[name], flush=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", nargs="*", default=["SimpleConvNet", "DeepConvNet"])
    ap.add_argument("--contestants", nargs="+", default=["torch", "layers", "kernels", "kernels-fold"],
                    help="torch, layers (as integrated), reference (fast = False), kernels, kernels-fold, "
                         "and -numpy variants (no cblas accumulate)")
    ap.add_argument("--steps", type=int, default=60, help="timed steps per contestant (median reported)")
    ap.add_argument("--block", type=int, default=10, help="steps per block of the alternation")
    ap.add_argument("--inference-rounds", type=int, default=3)
    ap.add_argument("--inference-images", type=int, default=10000)
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--layers", action="store_true", help="only the per-layer table (1 thread, thread CPU time)")
    ap.add_argument("--tag", default="as-is")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    from run import environment
    from nnscratch.fileio import write_json_atomic

    env = environment()
    env.update(load_average_start=os.getloadavg()[0], cblas=cblas_module.available())
    results: dict[str, Any] = {}
    if args.layers:
        with threadpool_limits(1):
            torch.set_num_threads(1)
            results["layers@1"] = layer_table(torch, rounds=3, reps=5)
        args.threads = []
    for threads in args.threads:
        with threadpool_limits(threads):
            torch.set_num_threads(threads)
            for name in args.only:
                r = bench_one(torch, name, threads, args.contestants, args.steps, args.block,
                              args.inference_rounds, args.inference_images)
                results[f"{name}@{threads}"] = r
                line = ", ".join(f"{w} {v['step_ms']:.1f} ms (x{v.get('step_ratio', float('nan')):.2f}"
                                 + (f", cpu x{v['step_cpu_ratio']:.2f}" if v.get("step_cpu_ratio") else "")
                                 + f"; infer {v['inference_ms']:.0f} ms x{v.get('inference_ratio', float('nan')):.2f})"
                                 for w, v in r.items() if isinstance(v, dict))
                print(f"{name} @{threads} thread(s): {line}", flush=True)
            if not args.no_breakdown and threads == args.threads[0]:
                for name in args.only:
                    results[f"{name}@{threads}"]["breakdown_kernels_fold"] = b = breakdown(name, True, 30)
                    print(f"{name} breakdown (ms):", " ".join(f"{k}={v}" for k, v in b.items()), flush=True)
    env["load_average_end"] = os.getloadavg()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"kernels-{args.tag}.json", {"environment": env, "results": results,
                                                         "date": time.strftime("%Y-%m-%d %H:%M:%S")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
