"""The report of `nnscratch tune`: the best settings printed, every trial in tune.json, and tune.png."""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..fileio import write_json_atomic
from ..plotting import pyplot, save_figure
from .search import Trial


def search_records(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Records like :func:`.study.study_records` from the book's random search."""
    return [{"number": tr.number, "state": "COMPLETE", "params": dict(tr.params), "value": tr.final_val_acc,
             "val_acc": list(tr.val_acc), "train_acc": list(tr.train_acc), "pid": os.getpid(),
             "host": socket.gethostname(), "duration_s": tr.wall_time_s, "status": tr.status} for tr in trials]


def ranked(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """COMPLETE trials by final validation accuracy, best first (ties: lower number first)."""
    done = [r for r in records if r["state"] == "COMPLETE" and r["value"] is not None]
    return sorted(done, key=lambda r: (-r["value"], r["number"]))


def figure(records: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], path: Path) -> Path:
    """tune.png: accuracy over (lr, weight decay) on log axes, and the best 20 trials' validation curves."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    last = {r["number"]: (r["val_acc"][-1] if r["val_acc"] else 0.0) for r in records}
    styles = {"COMPLETE": ("o", "complete (final)"), "PRUNED": ("v", "pruned (last reported)")}
    sc = None
    for state, (marker, label) in styles.items():
        rs = [r for r in records if r["state"] == state and r["params"]]
        if rs:
            sc = ax1.scatter([r["params"]["lr"] for r in rs], [r["params"]["weight_decay"] for r in rs],
                             c=[100 * last[r["number"]] for r in rs], cmap="viridis", vmin=0, vmax=100,
                             marker=marker, s=55 if state == "COMPLETE" else 35, edgecolors="k", linewidths=0.4,
                             label=label)
    failed = [r for r in records if r["state"] == "FAIL" and r["params"]]
    if failed:
        ax1.scatter([r["params"]["lr"] for r in failed], [r["params"]["weight_decay"] for r in failed],
                    marker="x", color="tab:red", s=40, label="failed")
    if sc is not None:
        fig.colorbar(sc, ax=ax1, label="validation accuracy (%)")
    (lo, hi), (wlo, whi) = settings["lr_range"], settings["wd_range"]
    ax1.set(xscale="log", yscale="log", xlim=(10 ** (lo - 0.1), 10 ** (hi + 0.1)),
            ylim=(10 ** (wlo - 0.1), 10 ** (whi + 0.1)), xlabel="learning rate (log scale)",
            ylabel="weight decay lambda (log scale)", title="Validation accuracy over the search space")
    ax1.legend(loc="lower left", fontsize=8)

    curves = sorted((r for r in records if r["state"] in styles and r["val_acc"]),
                    key=lambda r: (-last[r["number"]], r["number"]))[:20]
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(curves):
        ep = np.arange(1, len(r["val_acc"]) + 1)
        label = f"#{r['number']}: lr {r['params']['lr']:.1e}, wd {r['params']['weight_decay']:.0e}"
        if r["state"] == "PRUNED":
            ax2.plot(ep, 100 * np.asarray(r["val_acc"]), ls="--", marker=".", color="0.6", lw=1.0,
                     label="pruned" if not any(c["state"] == "PRUNED" for c in curves[:i]) else None)
        else:
            ax2.plot(ep, 100 * np.asarray(r["val_acc"]), color=cmap(last[r["number"]]), lw=1.6,
                     marker="." if len(ep) < 10 else None, label=label if i < 8 else None)
    ax2.axhline(10, color="tab:red", ls=":", lw=1.0, label="chance (10 %)")
    ax2.set(xlabel="epoch", ylabel="validation accuracy (%)", ylim=(0, 100), xlim=(1, max(settings["epochs"], 2)),
            title=f"Best {len(curves)} of {len(records)} trials (colour: final accuracy; pruned: grey dashed)")
    ax2.xaxis.get_major_locator().set_params(integer=True)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"nnscratch tune: {settings['dataset']}, {settings['train_size']} images "
                 f"({100 * settings['val_ratio']:.0f} % validation), hidden {settings['hidden']}, "
                 f"{settings['epochs']} epochs of SGD", fontsize=11)
    return save_figure(fig, path)


def report(records: list[dict[str, Any]], meta: dict[str, Any], out: Path, draw: bool = True) -> dict[str, Any]:
    """Print the best settings and a top-5 table; write tune.json and (with ``draw``) tune.png into ``out``."""
    top = ranked(records)
    counts = {s: sum(r["state"] == s for r in records) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    print(f"{len(records)} trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed"
          + (f", {counts['RUNNING']} still running" if counts["RUNNING"] else ""))
    best = top[0] if top else None
    if best is not None:
        print(f"best: trial {best['number']}: lr {best['params']['lr']:.3e}, weight decay "
              f"{best['params']['weight_decay']:.3e}, validation accuracy {100 * best['value']:.2f} %")
        print(f"{'rank':>4} {'trial':>6} {'lr':>10} {'weight decay':>13} {'val acc':>8} {'pid':>8}")
        for i, r in enumerate(top[:5], 1):
            print(f"{i:>4} {r['number']:>6} {r['params']['lr']:>10.2e} {r['params']['weight_decay']:>13.2e} "
                  f"{100 * r['value']:>7.2f}% {r['pid'] or '':>8}")
    else:
        print("no trial completed")
    doc = {**meta, "counts": counts, "best": best, "top5": [r["number"] for r in top[:5]], "trials": records}
    write_json_atomic(out / "tune.json", doc)
    print(f"numbers: {out / 'tune.json'}")
    if draw:
        print(f"figure: {figure(records, meta['settings'], out / 'tune.png')}")
    return doc
