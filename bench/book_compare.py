"""nnscratch against PyTorch CPU and the book's own code, in one run (not a test; issue 13).

For TwoLayerNet, SimpleConvNet and DeepConvNet, at each --threads count (BLAS through
threadpoolctl, torch.set_num_threads): the median wall time of a training step (forward,
backward, Adam; batch 100) and of inference over 10 000 images (batches of 1000), the
contestants alternating round by round in one process (each round: --settle seconds of untimed
steps, at least one, then --block timed steps, so nobody pays for the previous contestant's idle
thread pool; the order is
shuffled every round, seeded, so no contestant always runs right after the same one, unless
--order fixed). nnscratch and PyTorch run in float32 with the same initial weights; the book's
code (imported from ../shared/book-code when present, skipped otherwise) runs as written, in
float64. Then the
peak memory of each (network, contestant): one child process each, the growth of the peak
resident set over the process's baseline after building the network and the batch, over a few
training steps and one inference pass. Load averages are recorded: the machine may be shared.
At more than one thread, a fourth contestant (unless --no-processes) is nnscratch's step split
over that many processes (nnscratch.data_parallel.DataParallel, one BLAS thread each), timed
right after nnscratch's own under --order fixed, and its inference over the processes (DataParallel.predict).

Writes bench/results/book-compare-<tag>.json and .md.

    python bench/book_compare.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/book_compare.py --tag unset
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
BOOK = HERE.parent.parent / "shared" / "book-code"
NETWORKS = ["TwoLayerNet", "SimpleConvNet", "DeepConvNet"]
#: at more than 1 thread, also time nnscratch's step split over that many processes (--no-processes: not)
PROCESSES = True
#: shuffle the contestants' order every round (--order shuffle), else keep it fixed
SHUFFLE = True
#: seconds of untimed steps each contestant runs before its timed block (--settle; at least one step).
#: A book step leaves NumPy's OpenBLAS helper thread spinning for ~0.1 s and then, for 60-90 ms more,
#: Linux keeping our kernel worker on the caller's CPU (docs/KERNELS.md "Threads"); one untimed step
#: (5-8 ms for SimpleConvNet) did not outlast that
SETTLE_S = 0.25


def book_available() -> bool:
    return (BOOK / "common" / "layers.py").is_file()


def _book_classes() -> dict[str, Callable[[], Any]]:
    if str(BOOK) not in sys.path:
        sys.path.insert(0, str(BOOK))
    from ch05.two_layer_net import TwoLayerNet
    from ch07.simple_convnet import SimpleConvNet
    from ch08.deep_convnet import DeepConvNet

    return {"TwoLayerNet": lambda: TwoLayerNet(784, 50, 10), "SimpleConvNet": SimpleConvNet,
            "DeepConvNet": DeepConvNet}


def _ours(name: str) -> Any:
    from nnscratch.models import DeepConvNet, SimpleConvNet, TwoLayerNet

    return {"TwoLayerNet": lambda: TwoLayerNet(784, 50, 10, seed=0), "SimpleConvNet": lambda: SimpleConvNet(seed=0),
            "DeepConvNet": lambda: DeepConvNet(seed=0)}[name]()


def data(name: str, n: int, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    shape = (n, 784) if name == "TwoLayerNet" else (n, 1, 28, 28)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, n)


#: DataParallel objects of the running bench_network, closed at its end
_OPEN: list[Any] = []


def contestant(who: str, name: str, x: Any, t: Any, xi: Any,
               threads: int = 1) -> tuple[Callable[[], None], Callable[[], None] | None]:
    """(training step, inference pass or None) closures for one contestant on one network."""
    if who == "nnscratch-processes":  # the step split over `threads` processes, one BLAS thread each
        from nnscratch.data_parallel import DataParallel
        from nnscratch.optimizers import Adam

        model, opt = _ours(name), Adam(lr=0.001)
        dp = DataParallel(model, workers=threads, seed=0)
        _OPEN.append(dp)

        def dp_step() -> None:
            opt.update(model.params, dp.gradient(x, t))

        def dp_infer() -> None:
            dp.predict(xi, batch_size=1000)
        return dp_step, dp_infer
    if who == "nnscratch":
        from nnscratch.optimizers import Adam

        model, opt = _ours(name), Adam(lr=0.001)

        def step() -> None:
            opt.update(model.params, model.gradient(x, t))

        def infer() -> None:
            for i in range(0, len(xi), 1000):
                model.predict(xi[i:i + 1000])
        return step, infer
    if who == "pytorch":
        import torch
        from kernels import torch_model

        tm = torch_model(torch, _ours(name))
        topt, lossf = torch.optim.Adam(tm.parameters(), lr=0.001), torch.nn.CrossEntropyLoss()
        xt, tt, xit = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(xi)

        def step() -> None:
            topt.zero_grad(set_to_none=True)
            lossf(tm(xt), tt).backward()
            topt.step()

        def infer() -> None:
            tm.eval()
            with torch.inference_mode():
                for i in range(0, len(xit), 1000):
                    tm(xit[i:i + 1000])
            tm.train()
        return step, infer
    if who == "book":
        from common.optimizer import Adam as BookAdam  # the book's package, on sys.path via _book_classes

        net = _book_classes()[name]()
        bopt = BookAdam(lr=0.001)
        xb, xib = x.astype(np.float64), xi.astype(np.float64)

        def step() -> None:
            bopt.update(net.params, net.gradient(xb, t))

        def infer() -> None:
            for i in range(0, len(xib), 1000):
                net.predict(xib[i:i + 1000]) if name != "DeepConvNet" else net.predict(xib[i:i + 1000], train_flg=False)
        return step, infer
    raise ValueError(f"unknown contestant {who!r}")


def _timed(fn: Callable[[], None], reps: int) -> list[tuple[float, float]]:
    """(wall ms, this thread's CPU ms) per call; at 1 thread all the work runs in this thread, and its
    CPU time is what other processes on a shared machine disturb least."""
    out = []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        out.append((1e3 * (time.perf_counter() - t0), 1e3 * (time.thread_time() - c0)))
    return out


def _settle(step: Callable[[], None]) -> None:
    """Untimed steps for SETTLE_S seconds (at least one): the previous contestant's threads quiet down."""
    end = time.perf_counter() + SETTLE_S
    step()
    while time.perf_counter() < end:
        step()


def bench_network(name: str, who: list[str], rounds: int, block: int, infer_rounds: int,
                  infer_n: int, threads: int) -> dict[str, Any]:
    x, t = data(name, 100)
    xi, _ = data(name, infer_n, seed=1)
    if threads > 1 and PROCESSES:  # right after nnscratch (under --order fixed)
        who = who[:1] + ["nnscratch-processes"] + who[1:]
    fns = {w: contestant(w, name, x, t, xi, threads) for w in who}
    for step, _ in fns.values():
        step(), step()
    from run import cpu_ticks, stolen_share

    steps: dict[str, list[tuple[float, float]]] = defaultdict(list)
    loads, ticks = [os.getloadavg()[0]], [cpu_ticks()]
    for r in range(rounds):
        order = list(fns.items())
        if SHUFFLE:  # who follows whom changes from round to round (see --order); seeded, so runs repeat it
            random.Random(r).shuffle(order)
        for w, (step, _) in order:
            if w == "book" and r % 2 and name == "DeepConvNet":
                continue  # the book's DeepConvNet step is ~1 s: every other round is enough
            _settle(step)
            steps[w] += _timed(step, block if w != "book" or name == "TwoLayerNet" else 1)
    loads.append(os.getloadavg()[0])
    ticks.append(cpu_ticks())
    infer: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _ in range(infer_rounds):
        for w, (_, inf) in fns.items():
            if inf is not None:
                infer[w] += _timed(inf, 1)
    for dp in _OPEN:
        dp.close()
    _OPEN.clear()
    loads.append(os.getloadavg()[0])
    ticks.append(cpu_ticks())
    res: dict[str, Any] = {"load_average": loads, "cpu_stolen": {"steps": stolen_share(ticks[0], ticks[1]),
                                                                 "inference": stolen_share(ticks[1], ticks[2])}}
    def med(xs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(x[i] for x in xs)

    for w in fns:
        res[w] = {"step_ms": round(med(steps[w], 0), 2), "step_samples": len(steps[w])}
        if infer[w]:
            res[w]["inference_ms"] = round(med(infer[w], 0), 1)
        if threads == 1:
            res[w].update(step_cpu_ms=round(med(steps[w], 1), 2), inference_cpu_ms=round(med(infer[w], 1), 1))
    for ours in (res[w] for w in ("nnscratch", "nnscratch-processes") if w in res):
        for key in ("step", "inference") + (("step_cpu", "inference_cpu") if threads == 1 else ()):
            for other, label in (("pytorch", "ratio_vs_pytorch"), ("book", "book_over_ours")):
                if other in res and f"{key}_ms" in ours:
                    a, b = ours[f"{key}_ms"], res[other][f"{key}_ms"]
                    ours[f"{key}_{label}"] = round(a / b, 3) if other == "pytorch" else round(b / a, 1)
    return res


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def memory_child(who: str, name: str, threads: int, infer_n: int) -> dict[str, float]:
    """Peak RSS growth (MiB) over the baseline: 5 training steps, then one inference pass."""
    from threadpoolctl import threadpool_limits

    if who == "pytorch":
        import torch

        torch.set_num_threads(threads)
    if who == "book":
        _book_classes()
    x, t = data(name, 100)
    xi, _ = data(name, infer_n, seed=1)
    with threadpool_limits(threads):
        step, infer = contestant(who, name, x, t, xi)
        base = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
        for _ in range(5):
            step()
        train_peak = _status_kib("VmHWM")
        infer()
        peak = _status_kib("VmHWM")
    return {"baseline_mib": round(base / 1024, 1), "train_growth_mib": round((train_peak - base) / 1024, 1),
            "inference_growth_mib": round((peak - base) / 1024, 1)}


def memory(who: list[str], names: list[str], threads: int, infer_n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        for w in who:
            p = subprocess.run([sys.executable, __file__, "--memory-child", w, name, str(threads), str(infer_n)],
                               capture_output=True, text=True, check=False)
            if p.returncode != 0:
                out[f"{name}/{w}"] = {"error": p.stderr.strip().splitlines()[-1:] or ["failed"]}
                continue
            out[f"{name}/{w}"] = json.loads(p.stdout.strip().splitlines()[-1])
            print(f"memory {name}/{w}: {out[f'{name}/{w}']}", flush=True)
    return out


def stolen(r: dict[str, Any]) -> str:
    s = r.get("cpu_stolen", {})
    return " / ".join("–" if s.get(k) is None else f"{100 * s[k]:.0f} %" for k in ("steps", "inference"))


def markdown(results: dict[str, Any], env: dict[str, Any]) -> str:
    blas = env["blas"][0] if isinstance(env.get("blas"), list) and env["blas"] else {}
    settle = f", {env['settle_s']} s of untimed steps before each timed block" if "settle_s" in env else ""
    lines = [
        f"Machine: {env['processor']}, {env['cores']} cores; numpy {env['numpy']} (BLAS {blas.get('internal_api')} "
        f"{blas.get('version')}, kernel {blas.get('architecture')}), torch {env['torch']}, cblas accumulate "
        f"{'on' if env.get('cblas') else 'off'}; OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}; load average {env['load_average_start']:.1f} at the start, "
        f"{env['load_average_end']:.1f} at the end (a shared machine). nnscratch and PyTorch float32, the book's "
        f"code float64 as written; {env.get('rounds', '?')} rounds, contestants' order "
        f"{'shuffled every round' if env.get('order') == 'shuffle' else 'the same every round'}{settle}; medians; ratios nnscratch ÷ PyTorch (lower is better), book ÷ nnscratch (higher); "
        f"at 1 thread also the calling thread's CPU time, which other processes disturb least. Stolen: the share "
        f"of the machine's CPU time the hypervisor gave to other guests during the steps / the inference "
        f"(/proc/stat), which no thread count can use.",
        "",
        "| network | threads | step nnscratch | PyTorch | book | ÷ PyTorch | book ÷ ours | inference 10k nnscratch | PyTorch "
        "| book | ÷ PyTorch | peak memory growth, train / inference (MiB): nnscratch · PyTorch · book | stolen |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for key, r in results.items():
        if "@" not in key or key.startswith("memory@"):
            continue
        name, threads = key.split("@")
        o, p, b = r["nnscratch"], r.get("pytorch", {}), r.get("book", {})
        mem = results.get(f"memory@{threads}", {})

        def m(w: str) -> str:
            e = mem.get(f"{name}/{w}", {})
            return f"{e['train_growth_mib']:.0f} / {e['inference_growth_mib']:.0f}" if "train_growth_mib" in e else "–"

        def ms(d: dict, k: str, fmt: str) -> str:
            return format(d[k], fmt) + " ms" if k in d else "–"

        for kind, sfx in (("wall", ""), ("thread CPU", "_cpu")):
            if f"step{sfx}_ms" not in o:
                continue
            lines.append(
                f"| {name} | {threads} ({kind}) | {ms(o, f'step{sfx}_ms', '.1f')} | {ms(p, f'step{sfx}_ms', '.1f')} "
                f"| {ms(b, f'step{sfx}_ms', '.0f')} | {o.get(f'step{sfx}_ratio_vs_pytorch', '–')} "
                f"| {o.get(f'step{sfx}_book_over_ours', '–')} | {ms(o, f'inference{sfx}_ms', '.0f')} "
                f"| {ms(p, f'inference{sfx}_ms', '.0f')} | {ms(b, f'inference{sfx}_ms', '.0f')} "
                f"| {o.get(f'inference{sfx}_ratio_vs_pytorch', '–')} "
                f"| {m('nnscratch') + ' · ' + m('pytorch') + ' · ' + m('book') if not sfx else ''} "
                f"| {stolen(r) if not sfx else ''} |")
        q = r.get("nnscratch-processes")
        if q:
            lines.append(
                f"| {name} | {threads} processes (`DataParallel`) | {ms(q, 'step_ms', '.1f')} | {ms(p, 'step_ms', '.1f')} "
                f"| {ms(b, 'step_ms', '.0f')} | {q.get('step_ratio_vs_pytorch', '–')} | {q.get('step_book_over_ours', '–')} "
                f"| {ms(q, 'inference_ms', '.0f')} | {ms(p, 'inference_ms', '.0f')} | {ms(b, 'inference_ms', '.0f')} "
                f"| {q.get('inference_ratio_vs_pytorch', '–')} | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    global PROCESSES, SHUFFLE, SETTLE_S
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--memory-child"]:
        who, name, threads, infer_n = argv[1:5]
        print(json.dumps(memory_child(who, name, int(threads), int(infer_n))))
        return 0
    from nnscratch.argtypes import nonnegative_float

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", nargs="*", default=NETWORKS, choices=NETWORKS)
    ap.add_argument("--rounds", type=int, default=8, help="alternation rounds (each: --settle s of untimed steps + --block timed steps)")
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--settle", type=nonnegative_float, default=SETTLE_S, metavar="S",
                    help="seconds of untimed steps each contestant runs before its timed block, at least one step "
                         "(another library's threads can slow the next ~0.2 s)")
    ap.add_argument("--inference-rounds", type=int, default=3)
    ap.add_argument("--inference-images", type=int, default=10000)
    ap.add_argument("--no-book", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-processes", action="store_true",
                    help="at more than 1 thread, do not also time the step split over processes (DataParallel)")
    ap.add_argument("--order", choices=("shuffle", "fixed"), default="shuffle",
                    help="shuffle: a new (seeded) order every round, so no contestant always runs right after the "
                         "same one (a step can run slower right after another library's multi-threaded BLAS work); "
                         "fixed: the same order every round")
    ap.add_argument("--tag", default="as-is")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    PROCESSES, SHUFFLE, SETTLE_S = not args.no_processes, args.order == "shuffle", args.settle
    import torch
    from threadpoolctl import threadpool_limits

    from nnscratch.kernels import blas
    from run import environment, write_results

    who = ["nnscratch", "pytorch"] + (["book"] if book_available() and not args.no_book else [])
    if "book" in who:
        _book_classes()
    env = environment()
    env.update(load_average_start=os.getloadavg()[0], cblas=blas.USE_CBLAS, contestants=who,
               rounds=args.rounds, block=args.block, order=args.order, settle_s=SETTLE_S)
    env.pop("threads", None)
    results: dict[str, Any] = {}
    for threads in args.threads:
        with threadpool_limits(threads):
            torch.set_num_threads(threads)
            for name in args.only:
                r = bench_network(name, who, args.rounds, args.block, args.inference_rounds, args.inference_images,
                                  threads)
                results[f"{name}@{threads}"] = r
                print(f"{name} @{threads}:", json.dumps(r), flush=True)
        if not args.no_memory and threads == args.threads[0]:  # memory hardly depends on the thread count
            results[f"memory@{threads}"] = memory(who, args.only, threads, args.inference_images)
    env["load_average_end"] = os.getloadavg()[0]
    write_results(Path(args.out), f"book-compare-{args.tag}", env, results, markdown(results, env))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
