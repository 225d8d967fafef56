"""`nnscratch tune` on shared storages, as on several machines: a real PostgreSQL server and a journal file.

Every invocation is a separate OS process (``python -m nnscratch tune``), as on separate machines:
they race on a fresh database, get killed with SIGKILL mid-trial, and see the server restarted
(``pg_ctl restart``). The server is a throwaway cluster of Debian's PostgreSQL binaries
(tests/pg_fixture.py; ``.ci/run`` installs ``postgresql`` where they are missing). Trials are tiny
(300 images of the shipped sample, a 20-20 network, a few epochs) so the module takes well under 90 s.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pg_fixture import PgCluster, free_port, pg_cluster, pg_url  # noqa: F401 - fixtures

from nnscratch import tuning as tune
from nnscratch.cli import main

SRC = str(Path(tune.__file__).resolve().parents[2])
TINY = ["--dataset", "mnist-sample", "--train-size", "300", "--hidden", "20,20", "--no-prune", "--no-figure",
        "--heartbeat", "1", "--grace-period", "10", "--retry-for", "30"]
GOOD = ("COMPLETE", "PRUNED")

#: the acceptance query: per study, trials by state, distinct numbers, distinct parameter sets, distinct pids
CENSUS_SQL = """
SELECT t.state::text, count(*), count(DISTINCT t.number),
       count(DISTINCT (SELECT string_agg(p.param_name || '=' || p.param_value::text, ',' ORDER BY p.param_name)
                       FROM trial_params p WHERE p.trial_id = t.trial_id)),
       count(DISTINCT (SELECT a.value_json FROM trial_user_attributes a WHERE a.trial_id = t.trial_id
                       AND a.key = 'pid'))
FROM trials t JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = '{study}'
GROUP BY t.state ORDER BY 1
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
    return env


def _start(args: list[str], out: Path) -> subprocess.Popen[str]:
    """One `nnscratch tune` invocation in its own process group (as on its own machine)."""
    return subprocess.Popen([sys.executable, "-m", "nnscratch", "tune", *args], env=_env(), text=True,
                            stdout=open(out, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _load(storage: str, study: str) -> Any:
    optuna = tune.optuna_or_none()
    return optuna.load_study(study_name=study, storage=storage)


def _check_exact(trials: list[Any], budget: int) -> list[Any]:
    """Exactly ``budget`` complete or pruned trials, none running, numbers and parameter sets unique."""
    good = [t for t in trials if t.state.name in GOOD]
    assert len(good) == budget
    assert not [t for t in trials if t.state.name == "RUNNING"]
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # each number once, none skipped
    draws = [(t.params["lr"], t.params["weight_decay"]) for t in trials if t.params]
    assert len(set(draws)) == len(draws)  # no parameter set run twice
    assert all(t.user_attrs.get("host") and t.user_attrs.get("pid") for t in good)
    return good


def _wait_for(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[str] | None = None,
              log: Path | None = None) -> None:
    """Poll ``predicate`` until it holds; fail at once, with the log, if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text() if log else ""
            raise AssertionError(f"the invocation ended (exit {proc.returncode}) before {what}:\n{text}")
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - the study may not exist yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_invocations_at_once_on_a_fresh_database(pg_cluster: PgCluster, pg_url: str,  # noqa: F811
                                                       tmp_path: Path) -> None:
    """3 invocations x 2 workers, started together on an empty database (the schema race): 30 trials exactly."""
    # trials of ~0.3 s (80 one-step epochs), so a late-starting invocation still finds work: every pid counts
    args = [*TINY, "--epochs", "80", "--batch-size", "300", "--trials", "30", "--workers", "2", "--storage", pg_url,
            "--study", "race"]
    logs = [tmp_path / f"inv{i}.log" for i in range(3)]
    procs = [_start([*args, "--out", str(tmp_path / f"inv{i}")], log) for i, log in enumerate(logs)]
    codes = [p.wait(timeout=300) for p in procs]
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0, 0], "\n".join(texts)
    assert not any("Traceback" in t or "UniqueViolation" in t for t in texts)
    good = _check_exact(_load(pg_url, "race").get_trials(deepcopy=False), 30)
    assert len({t.user_attrs["pid"] for t in good}) == 6  # every worker of every invocation ran trials
    rows = pg_cluster.sql(pg_url.rsplit("/", 1)[1], CENSUS_SQL.format(study="race"))
    by_state = {r[0]: r[1:] for r in rows}
    n_good = sum(by_state[s][0] for s in GOOD if s in by_state)
    assert n_good == 30 and set(by_state) <= {"COMPLETE", "PRUNED"}
    assert all(total == numbers == draws for total, numbers, draws, _ in by_state.values())
    for i in range(3):  # every invocation reports the whole study
        doc = json.loads((tmp_path / f"inv{i}" / "tune.json").read_text())
        assert doc["counts"]["COMPLETE"] + doc["counts"]["PRUNED"] == 30

    # --report reads the study back without running a trial (the figure: test_journal_storage_four_processes)
    assert main(["tune", "--report", "--no-figure", "--storage", pg_url, "--study", "race",
                 "--out", str(tmp_path / "rep")]) == 0
    doc = json.loads((tmp_path / "rep" / "tune.json").read_text())
    assert len(doc["trials"]) == 30 and doc["tool"] == "nnscratch tune --report"
    assert len(_load(pg_url, "race").get_trials(deepcopy=False)) == 30


def test_kill_9_mid_trial_then_the_same_command(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    """SIGKILL to an invocation mid-trial: its trial stays RUNNING; the same command fails it and replaces it."""
    # a trial lasts a few seconds (600 one-step epochs) so that the poll below sees one running: with 12
    # epochs the whole study took 0.5 s and a CI run's poll missed it
    args = [*TINY, "--epochs", "600", "--batch-size", "300", "--trials", "2", "--grace-period", "4",
            "--storage", pg_url, "--study", "kill", "--out", str(tmp_path)]
    log = tmp_path / "first.log"
    proc = _start(args, log)
    running: list[int] = []

    def mid_trial() -> bool:
        running[:] = [t.number for t in _load(pg_url, "kill").get_trials(deepcopy=False)
                      if t.state.name == "RUNNING" and len(t.intermediate_values) >= 1]
        return bool(running)

    try:
        _wait_for(mid_trial, 120, "a trial past its first epoch", proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the invocation and its workers, as a machine that dies
        proc.wait()
    time.sleep(0.5)
    before = {t.number: t.state.name for t in _load(pg_url, "kill").get_trials(deepcopy=False)}
    assert running and all(before[n] == "RUNNING" for n in running)

    rerun = subprocess.run([sys.executable, "-m", "nnscratch", "tune", *args], env=_env(), text=True,
                           capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    trials = _load(pg_url, "kill").get_trials(deepcopy=False)
    states = {t.number: t.state.name for t in trials}
    assert all(states[n] == "FAIL" for n in running)  # the stale trials, failed by the rerun
    assert list(states.values()).count("FAIL") == len([n for n, s in before.items() if s == "RUNNING"])
    _check_exact(trials, 2)  # and replaced: still exactly 2 complete


def test_server_restart_mid_study(pg_cluster: PgCluster, pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    """`pg_ctl restart` while 2 workers train: they retry (one line each) and finish, or a rerun does."""
    # trials of 150 one-step epochs (about half a second each) leave the poll a window of seconds
    args = [*TINY, "--epochs", "150", "--batch-size", "300", "--trials", "8", "--workers", "2", "--storage", pg_url,
            "--study", "restart", "--out", str(tmp_path)]
    log = tmp_path / "first.log"
    proc = _start(args, log)
    try:
        _wait_for(lambda: sum(t.state.name in GOOD for t in _load(pg_url, "restart").get_trials(deepcopy=False)) >= 2
                  and any(t.state.name == "RUNNING" for t in _load(pg_url, "restart").get_trials(deepcopy=False)),
                  120, "two finished trials and one running", proc, log)
        pg_cluster.restart()  # every connection is cut; the server is back about 0.3 s later
        code = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert "Traceback" not in text, text
    assert code in (0, 2), text
    if code:  # the workers gave up: one clear line, and the same command completes the study
        assert "run the same command again to resume the study" in text
        rerun = subprocess.run([sys.executable, "-m", "nnscratch", "tune", *args], env=_env(), text=True,
                               capture_output=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    _check_exact(_load(pg_url, "restart").get_trials(deepcopy=False), 8)


def test_wrong_password_or_unreachable_host_is_one_line(pg_cluster: PgCluster, pg_url: str,  # noqa: F811
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = pg_url.rsplit("/", 1)[1]
    cases = {"wrong password": (pg_cluster.url(database, password="not-it"), "password authentication failed"),
             "nothing listening": (pg_cluster.url(database, port=free_port()), "refused")}
    for what, (url, message) in cases.items():
        for extra in ([], ["--report"]):
            capsys.readouterr()
            assert main(["tune", *TINY, "--epochs", "1", "--trials", "1", "--storage", url, *extra,
                         "--out", str(tmp_path)]) == 2, what
            captured = capsys.readouterr()
            lines = captured.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("nnscratch tune: error: cannot open the storage"), lines
            assert message in lines[0], (what, lines)
            assert "not-it" not in captured.err + captured.out and "Traceback" not in captured.err


def test_journal_storage_four_processes(tmp_path: Path) -> None:
    """`--storage journal:PATH`: 4 invocations appending to one file at once, 40 trials exactly.

    Four trainers on two shared cores can starve a heartbeat past a short grace; a trial so failed is
    replaced (still 40 complete), so the grace here is long and the report is held to the storage.
    """
    url = f"journal:{tmp_path / 'study.log'}"
    args = [*TINY, "--epochs", "100", "--batch-size", "300", "--trials", "40", "--workers", "1", "--storage", url,
            "--study", "j", "--grace-period", "60"]
    logs = [tmp_path / f"inv{i}.log" for i in range(4)]
    procs = [_start([*args, "--out", str(tmp_path / f"inv{i}")], log) for i, log in enumerate(logs)]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0, 0, 0], "\n".join(log.read_text() for log in logs)
    optuna = tune.optuna_or_none()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log")))
    trials = optuna.load_study(study_name="j", storage=storage).get_trials(deepcopy=False)
    good = _check_exact(trials, 40)
    assert len({t.user_attrs["pid"] for t in good}) == 4
    assert main(["tune", "--report", "--storage", url, "--study", "j", "--out", str(tmp_path / "rep")]) == 0
    reported = json.loads((tmp_path / "rep" / "tune.json").read_text())["trials"]
    assert len(reported) == len(trials)
    assert sum(r["state"] == "COMPLETE" for r in reported) == 40
    assert (tmp_path / "rep" / "tune.png").read_bytes()[:4] == b"\x89PNG"


def test_journal_stale_trial_is_failed_by_its_heartbeat_attr(tmp_path: Path) -> None:
    """A journal has no heartbeat table: a RUNNING trial whose `heartbeat` attr is older than the grace fails."""
    optuna = tune.optuna_or_none()
    if optuna is None:
        pytest.skip("needs optuna")
    storage = tune.open_storage(f"journal:{tmp_path / 'j.log'}", heartbeat=1, grace=3)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    dead, alive = study.ask(), study.ask()
    storage.set_trial_user_attr(dead._trial_id, "heartbeat", time.time() - 10)
    storage.set_trial_user_attr(dead._trial_id, "pid", 1)
    tune.storage.beat(storage, alive._trial_id)
    storage.set_trial_user_attr(alive._trial_id, "pid", 2)
    assert tune.fail_stale(study, storage, grace=3) == 1
    assert [t.state.name for t in study.get_trials(deepcopy=False)] == ["FAIL", "RUNNING"]


def test_report_of_a_missing_study_or_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if tune.optuna_or_none() is None:
        pytest.skip("needs optuna")
    assert main(["tune", "--report", "--out", str(tmp_path)]) == 2  # no study.db there: nothing is created
    assert "no such file" in capsys.readouterr().err and not (tmp_path / "study.db").exists()
    url = f"journal:{tmp_path / 'j.log'}"
    tune.optuna_or_none().create_study(study_name="other", storage=tune.open_storage(url, 1, 3))
    assert main(["tune", "--report", "--storage", url, "--study", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no study 'nope'" in err and "other" in err


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Without psycopg (e.g. only psycopg2 installed): one line naming psycopg 3 and nnscratch[tune]."""
    if tune.optuna_or_none() is None:
        pytest.skip("needs optuna")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    assert main(["tune", "--trials", "1", "--storage", "postgresql://u:secret@127.0.0.1:1/db"]) == 2
    err = capsys.readouterr().err
    assert "psycopg 3" in err and "pip install 'nnscratch[tune]'" in err and "secret" not in err
    assert len(err.strip().splitlines()) == 1
