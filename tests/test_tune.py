"""`nnscratch tune`: parallel workers on one SQLite study, resume after a killed worker, failed trials replaced,
the no-Optuna path. The PostgreSQL and journal storages: tests/test_tune_storage.py."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nnscratch import tuning as tune
from nnscratch.cli import main

FAST = ["--dataset", "mnist-sample", "--train-size", "300", "--epochs", "3", "--hidden", "20,20",
        "--heartbeat", "1", "--grace-period", "2"]
FINISHED = ("COMPLETE", "PRUNED", "FAIL")
SRC = str(Path(tune.__file__).resolve().parents[2])  # src/, above nnscratch/tuning/


def _env() -> dict[str, str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
    return env


def _study(out: Path, name: str = "nnscratch-tune") -> Any:
    optuna = pytest.importorskip("optuna")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")


def _finished(study: Any) -> list[Any]:
    return [t for t in study.get_trials(deepcopy=False) if t.state.name in FINISHED]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """One study of 20 trials run by `--workers 2` on the default SQLite storage."""
    pytest.importorskip("optuna")
    out = tmp_path_factory.mktemp("tune2")
    rc = main(["tune", *FAST, "--trials", "20", "--workers", "2", "--out", str(out)])
    return out, rc


def test_two_workers_share_one_study_without_overlap(two_workers: tuple[Path, int]) -> None:
    out, rc = two_workers
    assert rc == 0
    study = _study(out)
    trials = study.get_trials(deepcopy=False)
    finished = _finished(study)
    assert len(finished) == 20
    assert sorted(t.number for t in finished) == list(range(20))  # unique numbers, none skipped
    assert not [t for t in trials if t.state.name == "RUNNING"]
    draws = {(t.params["lr"], t.params["weight_decay"]) for t in finished}
    assert len(draws) == 20  # every trial its own draw
    pids = {t.user_attrs["pid"] for t in finished}
    assert len(pids) == 2 and os.getpid() not in pids  # both spawned workers ran trials


def test_outputs_and_best(two_workers: tuple[Path, int]) -> None:
    out, _ = two_workers
    assert (out / "tune.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "tune.json").read_text())
    assert len(doc["trials"]) == 20 and sum(doc["counts"][s] for s in FINISHED) == 20
    complete = [r for r in doc["trials"] if r["state"] == "COMPLETE"]
    assert doc["best"]["value"] == max(r["value"] for r in complete)
    assert doc["best"]["number"] == _study(out).best_trial.number
    values = [next(r["value"] for r in complete if r["number"] == n) for n in doc["top5"]]
    assert values == sorted(values, reverse=True) and len(values) == min(5, len(complete))
    for r in doc["trials"]:
        assert r["pid"] and r["duration_s"] is not None and set(r["params"]) == {"lr", "weight_decay"}
        assert 1 <= len(r["val_acc"]) <= 3 and all(0.0 <= a <= 1.0 for a in r["val_acc"])
        if r["state"] == "COMPLETE":
            assert len(r["val_acc"]) == 3 and r["value"] == r["val_acc"][-1]


def test_rerun_resumes_and_refuses_other_settings(two_workers: tuple[Path, int], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src, _ = two_workers
    shutil.copy(src / "study.db", tmp_path / "study.db")
    assert main(["tune", *FAST, "--trials", "20", "--out", str(tmp_path)]) == 0  # already done: runs nothing
    assert len(_finished(_study(tmp_path))) == 20
    assert main(["tune", *FAST, "--trials", "22", "--out", str(tmp_path)]) == 0  # two more
    assert sorted(t.number for t in _finished(_study(tmp_path))) == list(range(22))
    capsys.readouterr()
    assert main(["tune", *FAST[:4], "--epochs", "4", *FAST[6:], "--trials", "22", "--out", str(tmp_path)]) == 2
    assert "other settings" in capsys.readouterr().err


def test_killed_worker_leaves_a_resumable_study(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    # the worker is killed only while a trial has reported at most half its epochs (~3.5 ms each), so the trial
    # cannot finish between the look at the database and the kill (with 25 epochs and any seen, one did)
    epochs = 150
    args = ["tune", *FAST[:4], "--epochs", str(epochs), *FAST[6:], "--trials", "3", "--no-prune", "--out",
            str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "nnscratch", *args], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victim = None
    deadline = time.monotonic() + 60
    try:
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            try:
                running = [t for t in _study(tmp_path).get_trials(deepcopy=False)
                           if t.state.name == "RUNNING" and 0 < len(t.intermediate_values) <= epochs // 2]
            except Exception:  # noqa: BLE001 - the database or study is not created yet
                continue
            victim = running[0].number if running else None
        os.kill(proc.pid, signal.SIGKILL)  # mid-trial: a RUNNING trial stays behind
    finally:
        proc.kill()
        proc.wait()
    assert victim is not None, "the worker never started a trial"
    before = {t.number: t.state.name for t in _study(tmp_path).get_trials(deepcopy=False)}
    assert before[victim] == "RUNNING"

    assert main(args) == 0  # the same command resumes the study
    study = _study(tmp_path)
    states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
    assert states[victim] == "FAIL"  # the dead worker's trial, marked by the next invocation ...
    good = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(good) == 3 and "RUNNING" not in states.values()  # ... and replaced: the budget is exact
    assert sorted(states) == [0, 1, 2, 3] and list(states.values()).count("FAIL") == 1
    doc = json.loads((tmp_path / "tune.json").read_text())
    assert doc["counts"]["FAIL"] == 1 and len(doc["trials"]) == 4


def test_failed_trials_are_replaced_until_too_many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A trial that raises is FAIL and replaced; a setup where every trial fails stops with one line."""
    if tune.optuna_or_none() is None:
        pytest.skip("needs optuna")
    from nnscratch.tuning import study as study_mod

    real, calls = study_mod.objective, []

    def flaky(trial: Any, *a: Any, **k: Any) -> float:
        calls.append(trial.number)
        if trial.number == 1:
            raise OSError("disk full")
        return real(trial, *a, **k)

    monkeypatch.setattr(study_mod, "objective", flaky)
    assert main(["tune", *FAST, "--trials", "3", "--out", str(tmp_path)]) == 0
    states = {t.number: t.state.name for t in _study(tmp_path).get_trials(deepcopy=False)}
    assert states == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE", 3: "COMPLETE"}  # no pruning before 5 trials
    doc = json.loads((tmp_path / "tune.json").read_text())
    assert next(r for r in doc["trials"] if r["number"] == 1)["status"] == "failed: OSError: disk full"

    monkeypatch.setattr(study_mod, "objective", lambda *a, **k: 1 / 0)
    capsys.readouterr()
    assert main(["tune", *FAST, "--trials", "2", "--study", "broken", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "failed trials; workers stop replacing them" in err and "Traceback" not in err
    broken = _study(tmp_path, "broken").get_trials(deepcopy=False)
    assert [t.state.name for t in broken] == ["FAIL"] * tune.max_failures(2)


def test_random_search_without_optuna(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    calls = []
    real = tune.random_search
    monkeypatch.setattr(tune, "random_search", lambda *a, **k: calls.append(k) or real(*a, **k))
    assert main(["tune", "--sampler", "random", "--workers", "2", *FAST, "--trials", "4", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "--workers ignored" in text and "nnscratch[tune]" in text
    assert calls and calls[0]["n_trials"] == 4 and calls[0]["epochs"] == 3
    doc = json.loads((tmp_path / "tune.json").read_text())
    assert doc["backend"].startswith("book random search") and len(doc["trials"]) == 4
    assert doc["best"]["value"] == max(r["value"] for r in doc["trials"])
    assert (tmp_path / "tune.png").exists()
    assert main(["tune", "--sampler", "tpe", *FAST, "--out", str(tmp_path)]) == 2
    assert "pip install 'nnscratch[tune]'" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("--sampler", "--workers", "--storage", "--trials", "--no-prune", "postgresql://", "resume",
                 "psycopg 3", "journal:", "--report", "--retry-for"):
        assert word in text.lower() or word in text
    assert "psycopg2" not in text  # SQLAlchemy 2 maps postgresql:// to psycopg 3, the driver the extra installs


def test_a_trials_first_heartbeat_waits_for_a_restarting_database(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The first beat goes through the worker's retry: a cut connection then is waited for, not a traceback."""
    if tune.optuna_or_none() is None:
        pytest.skip("needs optuna")
    import optuna

    from nnscratch.tuning import storage as storage_mod
    from nnscratch.tuning import study as study_mod

    beats: list[int] = []

    def beat(storage: Any, trial_id: int) -> None:
        beats.append(trial_id)
        if len(beats) == 1:
            raise optuna.exceptions.StorageInternalError("server closed the connection unexpectedly")

    monkeypatch.setattr(study_mod, "beat", beat)
    monkeypatch.setattr(storage_mod.time, "sleep", lambda s: None)
    retry = lambda call, what: storage_mod.retrying(call, "sqlite:///x.db", 30.0, what)  # noqa: E731
    with study_mod.heartbeat(None, 7, interval=3600.0, retry=retry):
        pass
    assert beats == [7, 7] and "retrying for up to 30 s" in capsys.readouterr().err
    beats.clear()
    with pytest.raises(optuna.exceptions.StorageInternalError):  # without a retry the error is the caller's
        with study_mod.heartbeat(None, 7, interval=3600.0):
            pass
