"""The experiments of ch. 3, 4 and 6 (quick size): each runs through run_experiment, writes its PNG and
JSON, and its numbers show the book's finding.

Every experiment runs once per module (a module-scoped fixture); the tests read its record.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest

from nnscratch.experiments import load_all, run_experiment

NAMES = ("activations", "gradient-descent", "optimizers-2d", "optimizers-mnist", "init-histograms", "init-mnist")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[dict[str, Any], Path]]:
    """run(name) -> (the JSON record as read back from disk, out_dir); each experiment runs once."""
    out = tmp_path_factory.mktemp("experiments")
    cache: dict[str, dict[str, Any]] = {}

    def get(name: str) -> tuple[dict[str, Any], Path]:
        if name not in cache:
            returned = run_experiment(name, out, quick=True, seed=0)
            on_disk = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
            assert on_disk == json.loads(json.dumps(returned))  # the record returned is the one written
            cache[name] = on_disk
        return cache[name], out

    return get


def test_all_registered_with_book_chapters() -> None:
    registry = load_all()
    for name in NAMES:
        assert name in registry, name
        exp = registry[name]
        assert exp.chapter[0] in "346" and exp.title and len(exp.finding) > 40


@pytest.mark.parametrize("name", NAMES)
def test_writes_png_and_json_record(run: Callable, name: str) -> None:
    record, out = run(name)
    png = out / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert record["experiment"] == name and record["figure"] == f"{name}.png"
    assert record["settings"]["quick"] is True and record["settings"]["seed"] == 0
    assert record["wall_time_s"] > 0  # recorded; how long quick mode takes is measured, not asserted
    assert record["numbers"]


def test_activations_curves_and_softmax(run: Callable) -> None:
    n = run("activations")[0]["numbers"]
    x = n["x"]
    assert x[0] == -5 and x[-1] == 5
    c = n["curves"]
    i0 = x.index(0.0)
    assert c["step"][i0] == 0 and c["step"][-1] == 1 and c["step"][0] == 0
    assert c["sigmoid"][i0] == pytest.approx(0.5) and 0 < c["sigmoid"][0] < 0.01 and c["sigmoid"][-1] > 0.99
    assert c["ReLU"][0] == 0 and c["ReLU"][-1] == pytest.approx(5)
    assert c["tanh"][i0] == pytest.approx(0) and c["tanh"][0] == pytest.approx(-math.tanh(5), abs=1e-5)
    # the book's example (ch. 3.5.1): softmax([0.3, 2.9, 4.0]) = [0.018, 0.245, 0.737]
    assert n["softmax_output"] == pytest.approx([0.01821127, 0.24519181, 0.73659691], abs=1e-6)
    assert n["softmax_sum"] == pytest.approx(1.0)


def test_gradient_descent_learning_rates(run: Callable) -> None:
    n = run("gradient-descent")[0]["numbers"]
    runs, start = n["runs"], n["start"]
    assert n["start_norm"] == pytest.approx(5.0)
    good = runs["lr=0.1"]
    assert good["steps"] == 100 and good["norm_final"] < 1e-6  # the book: [-6.1e-10, 8.1e-10]
    assert good["norm_after_20"] < 0.1 < n["start_norm"]
    assert runs["lr=10"]["norm_final"] > n["start_norm"] * 1e6  # diverges
    assert runs["lr=10"]["norms"][3] > runs["lr=10"]["norms"][2] > runs["lr=10"]["norms"][1] > n["start_norm"]
    tiny = runs["lr=1e-10"]["point_final"]  # barely moves
    assert max(abs(a - b) for a, b in zip(tiny, start)) < 1e-6
    # the quiver shows -grad f = -2x
    for p, g in zip(n["quiver"]["points"], n["quiver"]["minus_grad"]):
        assert g == pytest.approx([-2 * p[0], -2 * p[1]], abs=1e-4)


def test_optimizers_2d_paths(run: Callable) -> None:
    n = run("optimizers-2d")[0]["numbers"]
    runs = n["runs"]
    assert set(runs) == {"SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"}
    for label, r in runs.items():
        assert len(r["path"]) == n["steps"] + 1 == 31
        assert r["path"][0] == [-7, 2]
        assert r["final_distance"] < r["start_distance"], label
        assert r["final_f"] < 0.2 * n["start_f"], label
    # SGD's steps cross the valley every time (y <- y - 0.95 * 2y = -0.9 y): a zig-zag in y
    assert runs["SGD"]["y_sign_changes"] >= 20
    # the adaptive methods damp the steep y direction: (nearly) no oscillation
    assert runs["AdaGrad"]["y_sign_changes"] <= 2 and runs["RMSprop"]["y_sign_changes"] <= 2


def test_optimizers_mnist_beat_sgd(run: Callable) -> None:
    n = run("optimizers-mnist")[0]["numbers"]
    final = {label.split(" ")[0]: r["final_loss"] for label, r in n["runs"].items()}
    assert set(final) == {"SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"}
    for name in ("Momentum", "AdaGrad", "Adam"):
        assert final[name] < 0.7 * final["SGD"], (name, final)
    for r in n["runs"].values():
        assert len(r["loss"]) == len(r["loss_smoothed"]) == n["steps"]
        assert r["loss"][0] == pytest.approx(math.log(10), abs=0.3)  # same start for every optimizer
        assert r["final_loss"] == pytest.approx(sum(r["loss"][-50:]) / 50, rel=1e-4)
    firsts = {r["loss"][0] for r in n["runs"].values()}
    assert len(firsts) == 1  # same initial weights and the same first mini-batch


def test_init_histograms_findings(run: Callable) -> None:
    s = run("init-histograms")[0]["numbers"]["settings"]
    assert len(s) == 7 and all(len(v["layers"]) == 5 for v in s.values())
    # std 1 + sigmoid: activations pile up at 0 and 1 (measured 0.60-0.71 in layer 5 over seeds 0-9)
    l5 = s["sigmoid, std 1"]["layers"][4]
    assert l5["near_0"] + l5["near_1"] > 0.5
    # std 0.01 + sigmoid: every layer concentrated at 0.5
    for layer in s["sigmoid, std 0.01"]["layers"]:
        assert abs(layer["mean"] - 0.5) < 0.01 and layer["std"] < 0.05
        assert layer["near_0"] == 0 and layer["near_1"] == 0
    # Xavier + sigmoid: spread out, neither saturated nor collapsed
    for layer in s["sigmoid, Xavier"]["layers"]:
        assert layer["near_0"] + layer["near_1"] < 0.05 and layer["std"] > 0.08
    # ReLU: std 0.01 shrinks the activations layer by layer, He keeps their scale
    relu_small = [layer["std"] for layer in s["ReLU, std 0.01"]["layers"]]
    assert relu_small[4] < 1e-4 and relu_small == sorted(relu_small, reverse=True)
    he = [layer["std"] for layer in s["ReLU, He"]["layers"]]
    assert min(he) > 0.5 and max(he) / min(he) < 2
    for v in s.values():
        for layer in v["layers"]:
            assert sum(layer["hist_counts"]) <= 100_000 and len(layer["hist_edges"]) == 31


def test_init_mnist_std_001_does_not_learn(run: Callable) -> None:
    runs = run("init-mnist")[0]["numbers"]["runs"]
    assert set(runs) == {"std 0.01", "Xavier", "He"}
    assert runs["std 0.01"]["final_loss"] == pytest.approx(math.log(10), abs=0.05)
    assert runs["He"]["final_loss"] < 1.0
    assert runs["He"]["final_loss"] < runs["Xavier"]["final_loss"] < runs["std 0.01"]["final_loss"]
