"""The ch. 6.3-8 experiments in quick mode: each writes its figure and numbers and shows the book's finding.

All six run once per session (module fixture, ~1-2 minutes on 2 cores); the tests assert on their records.
"""
from __future__ import annotations

import contextlib
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnscratch import cli
from nnscratch.experiments import EXPERIMENTS, load_all, run_experiment
from nnscratch.experiments.report import load_records, write_report
from nnscratch.tuning import BOOK_SPACE, SearchResult, Trial, random_search, sample_log_uniform

MINE = ("batchnorm", "overfit", "hyperparams", "filters", "misclassified", "half-precision")


def _one_blas_thread() -> Any:
    """One BLAS thread: these small matrices gain little from two, and a busy 2-core machine
    (other test processes) slows multi-threaded OpenBLAS down several times over."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in the test extra
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    out = tmp_path_factory.mktemp("experiments")
    with _one_blas_thread():
        return out, {name: run_experiment(name, out, quick=True, seed=0) for name in MINE}


def numbers(runs: Any, name: str) -> dict[str, Any]:
    return runs[1][name]["numbers"]


def test_registered_in_book_order() -> None:
    names = list(load_all())
    assert all(n in names for n in MINE)
    assert [n for n in names if n in MINE] == list(MINE)
    for n in MINE:
        assert EXPERIMENTS[n].finding.endswith(".") and EXPERIMENTS[n].chapter[0] in "678"


def test_every_run_writes_png_and_json(runs: Any) -> None:
    out, recs = runs
    for name, rec in recs.items():
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        on_disk = json.loads((out / f"{name}.json").read_text())
        assert on_disk["numbers"] == json.loads(json.dumps(rec["numbers"]))
        assert on_disk["settings"] == {"quick": True, "seed": 0}
        assert rec["wall_time_s"] > 0, f"{name} recorded no wall time"


def test_batchnorm_learns_at_most_weight_scales(runs: Any) -> None:
    n = numbers(runs, "batchnorm")
    bn, plain = np.array(n["final_train_acc_batchnorm"]), np.array(n["final_train_acc_plain"])
    assert n["n_scales"] == len(bn) == len(n["weight_stds"]) >= 8
    assert n["batchnorm_better_count"] == int((bn > plain).sum()) >= 0.6 * len(bn)
    # with Batch Normalization the net learns far above chance at nearly every scale; without it, rarely
    assert (bn > 0.3).sum() >= 0.75 * len(bn) > (plain > 0.3).sum()


def test_weight_decay_and_dropout_shrink_the_overfitting_gap(runs: Any) -> None:
    n = numbers(runs, "overfit")
    assert n["none_final_train_acc"] >= 0.95, "the unregularised net should fit its 300 images"
    assert n["none_gap"] > 0.15
    assert n["weight_decay_gap"] < n["none_gap"] - 0.03
    assert n["dropout_gap"] < n["none_gap"] - 0.03
    for key in ("none", "weight_decay", "dropout"):
        c = n["curves"][key]
        assert len(c["train_acc"]) == len(c["test_acc"]) == n["settings"]["epochs"] + 1
        assert c["gap"] == pytest.approx(c["train_acc"][-1] - c["test_acc"][-1])


def test_hyperparameter_search_finds_good_settings_within_bounds(runs: Any) -> None:
    n = numbers(runs, "hyperparams")
    assert len(n["trials"]) == n["n_trials"]
    assert n["best_val_acc"] >= 0.3 > 3 * n["chance_acc"] - 1e-9  # clearly above 10 % chance
    assert n["best_val_acc"] == max(tr["final_val_acc"] for tr in n["trials"])
    for tr in n["trials"]:
        assert 1e-6 <= tr["params"]["lr"] < 1e-2
        assert 1e-8 <= tr["params"]["weight_decay"] < 1e-4
        assert len(tr["val_acc"]) == len(tr["train_acc"]) <= n["epochs"]
    assert n["n_train"] == 400 and n["n_val"] == 100  # 20 % of 500 held out, as in the book
    assert n["best_params"]["lr"] > 1e-4  # the finding: only large-enough learning rates learn


def test_filters_become_structured(runs: Any) -> None:
    n = numbers(runs, "filters")
    assert abs(n["neighbour_corr_before"]) < 0.15  # random Gaussian filters
    assert n["neighbour_corr_after"] > n["neighbour_corr_before"] + 0.2
    assert n["mean_abs_neighbour_corr_after"] > n["mean_abs_neighbour_corr_before"]
    assert n["test_acc_after"] > 0.8 > n["test_acc_before"]
    assert np.array(n["filters_after"]).shape == (30, 1, 5, 5)
    assert n["vertical_edge_filter"] != n["horizontal_edge_filter"]
    assert np.array(n["responses"]["vertical"]).shape == (24, 24)


def test_misclassified_grid_shows_only_wrong_predictions(runs: Any) -> None:
    n = numbers(runs, "misclassified")
    shown = n["shown"]
    assert n["count"] == len(n["indices"]) == len(n["true"]) == len(n["pred"]) > 0
    assert 0 < len(shown["indices"]) <= 20
    assert all(t != p for t, p in zip(shown["true"], shown["pred"]))
    assert all(t != p for t, p in zip(n["true"], n["pred"]))
    assert n["test_acc"] == pytest.approx(1 - n["count"] / n["n_test"])
    assert n["test_acc"] > 0.5


def test_half_precision_keeps_accuracy(runs: Any) -> None:
    n = numbers(runs, "half-precision")
    acc = n["accuracy"]
    assert acc["float32"] > 0.85
    assert abs(acc["float16"] - acc["float32"]) * 100 <= 0.2  # within 0.2 percentage points
    assert n["param_bytes"]["float16"] * 2 == n["param_bytes"]["float32"]


def test_report_references_every_figure(runs: Any) -> None:
    out, recs = runs
    page = write_report(list(recs.values()), out)
    text = page.read_text(encoding="utf-8")
    imgs = re.findall(r'<img src="([^"]+)"', text)
    assert len(imgs) == len(MINE)
    for src in imgs:
        assert (out / src).is_file()
    positions = [text.index(f'id="{name}"') for name in MINE]
    assert positions == sorted(positions)  # book order
    for rec in recs.values():
        assert html.escape(rec["finding"]) in text
    assert "<script" not in text.lower() and "http://" not in text and "https://" not in text
    assert "nnscratch experiment all" in text and "--quick" in text
    assert {r["experiment"] for r in load_records(out)} == set(MINE)


def test_experiment_help() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["experiment", "--help"])
    assert exc.value.code == 0


def test_experiment_all_keeps_going_after_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import nnscratch.experiments as exps

    def fake_run(name: str, out_dir: Any, quick: bool = False, seed: int = 0, **options: Any) -> dict[str, Any]:
        if name == "overfit":
            raise RuntimeError("boom")
        (Path(out_dir) / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        rec = {"experiment": name, "chapter": EXPERIMENTS[name].chapter, "title": EXPERIMENTS[name].title,
               "finding": EXPERIMENTS[name].finding, "settings": {"quick": quick, "seed": seed, **options},
               "wall_time_s": 0.01, "figure": f"{name}.png", "numbers": {"x": 1.0}}
        (Path(out_dir) / f"{name}.json").write_text(json.dumps(rec))
        return rec

    monkeypatch.setattr(exps, "run_experiment", fake_run)
    code = cli.main(["experiment", "all", "--out", str(tmp_path), "--quick", "--seed", "3"])
    captured = capsys.readouterr()
    assert code == 1
    n = len(load_all())
    assert captured.out.count("] ") >= n and f"[{n}/{n}]" in captured.out
    assert "overfit" in captured.err and "boom" in captured.err
    text = (tmp_path / "index.html").read_text()
    assert text.count("<img ") == n - 1 and "overfit failed" in text and "--seed 3" in text


# ---------------------------------------------------------------- tuning.py

def test_sample_log_uniform_stays_in_bounds() -> None:
    rng = np.random.default_rng(0)
    xs = np.array([sample_log_uniform(rng, -6, -2) for _ in range(2000)])
    assert xs.min() >= 1e-6 and xs.max() < 1e-2
    # uniform in the exponent: about a quarter of the draws per decade
    counts = np.histogram(np.log10(xs), bins=[-6, -5, -4, -3, -2])[0]
    assert counts.min() > 400
    with pytest.raises(ValueError):
        sample_log_uniform(rng, -2, -6)


def test_random_search_is_reproducible_and_records_trials() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((60, 784)).astype(np.float32)
    t = rng.integers(0, 10, 60)
    kwargs = dict(n_trials=3, epochs=2, batch_size=20, seed=5)
    a = random_search(x[:40], t[:40], x[40:], t[40:], **kwargs)
    b = random_search(x[:40], t[:40], x[40:], t[40:], **kwargs)
    assert isinstance(a, SearchResult) and all(isinstance(tr, Trial) for tr in a.trials)
    assert [tr.params for tr in a.trials] == [tr.params for tr in b.trials]
    assert [tr.val_acc for tr in a.trials] == [tr.val_acc for tr in b.trials]
    assert a.best.final_val_acc == max(tr.final_val_acc for tr in a.trials)
    assert set(a.trials[0].params) == set(BOOK_SPACE)
    assert all(len(tr.val_acc) == 2 and tr.status == "complete" for tr in a.trials)
    assert json.loads(json.dumps(a.to_dict()))["settings"]["n_trials"] == 3


def test_model_option_reuses_a_saved_model(tmp_path: Path) -> None:
    from nnscratch import serialization
    from nnscratch.datasets import load_mnist_sample
    from nnscratch.models import SimpleConvNet
    from nnscratch.optimizers import get_optimizer
    from nnscratch.tuning import train_epochs

    (x, t), _ = load_mnist_sample(normalize=True, flatten=False)
    model = SimpleConvNet(seed=1)
    with _one_blas_thread():
        train_epochs(model, get_optimizer("adam", lr=0.001), x[:1000], t[:1000], 1, 100, seed=2)
        path = serialization.save(model, tmp_path / "model.npz")
        recs = {name: run_experiment(name, tmp_path / "out", quick=True, seed=0, model=str(path))
                for name in ("filters", "misclassified", "half-precision")}
    for rec in recs.values():
        assert rec["settings"]["model"] == str(path)
        assert "loaded from" in rec["numbers"]["settings"]["source"]
    conv_w = next(v for v in model.params.values() if v.ndim == 4)
    np.testing.assert_allclose(recs["filters"]["numbers"]["filters_after"], conv_w, atol=1e-5)
    acc = recs["half-precision"]["numbers"]["accuracy"]
    assert acc["float32"] == pytest.approx(model.accuracy(*load_mnist_sample(flatten=False)[1]))
    assert recs["misclassified"]["numbers"]["settings"]["epochs"] == 0
