"""The chapter notebooks (notebooks/ch01.ipynb ... ch08.ipynb): each exists, is stored without outputs, is
what its source in tools/notebooks/ builds, and runs top to bottom in a fresh kernel at the quick size.

Each run's wall time is recorded (printed with -s, and in build/notebooks/test-timings.json), not
asserted: the machine is shared. The planted-notebook tests show that the checks fail when they should.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_notebooks  # noqa: E402
import run_notebooks  # noqa: E402
from nbclient.exceptions import CellExecutionError  # noqa: E402

TIMINGS = ROOT / "build" / "notebooks" / "test-timings.json"


def test_every_chapter_has_a_notebook():
    assert run_notebooks.missing_chapters() == []
    assert run_notebooks.CHAPTERS == make_notebooks.CHAPTERS == tuple(f"ch{i:02d}" for i in range(1, 9))


def test_notebooks_are_stored_without_outputs():
    problems = [p for c in run_notebooks.CHAPTERS for p in run_notebooks.stored_problems(ROOT / "notebooks" / f"{c}.ipynb")]
    assert problems == []


def test_notebooks_match_their_sources():
    assert make_notebooks.main(["--check"]) == 0, "run: python tools/make_notebooks.py"


@pytest.mark.parametrize("chapter", run_notebooks.CHAPTERS)
def test_notebook_runs_in_a_fresh_kernel(chapter, record_property):
    path = ROOT / "notebooks" / f"{chapter}.ipynb"
    nb, wall = run_notebooks.execute(path, quick=True, timeout=300)
    record_property("wall_s", wall)
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    times = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    times[chapter] = round(wall, 1)
    TIMINGS.write_text(json.dumps(times, indent=1, sort_keys=True))
    n_fig = run_notebooks.figures(nb)
    print(f"\n{chapter}: {wall:.1f} s, {n_fig} figures")
    assert n_fig >= 1, f"{chapter} showed no figure"
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert markdown and markdown[0].source.startswith("# Chapter"), "the first cell is the chapter's title"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "NNSCRATCH_QUICK" in params[0].source


# ---- the checks themselves fail on bad notebooks -------------------------------------------------------

def _write(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_planted_notebook_with_an_output_is_reported(tmp_path):
    path = _write(tmp_path / "ch01.ipynb", "print('hi')")
    assert run_notebooks.stored_problems(path) == []
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nb.cells[0].execution_count = 1
    nbformat.write(nb, path)
    problems = run_notebooks.stored_problems(path)
    assert len(problems) == 2 and "stored output" in problems[0] and "execution_count" in problems[1]


def test_planted_notebook_that_raises_fails_to_execute(tmp_path):
    path = _write(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('planted failure')", "y = 2")
    with pytest.raises(CellExecutionError, match="planted failure"):
        run_notebooks.execute(path, quick=True, timeout=120)
    # and `make notebooks` (tools/run_notebooks.py) exits 1, writing no executed copy of it
    assert run_notebooks.main(["--out", str(tmp_path / "out"), "--no-html", str(path)]) == 1
    assert not (tmp_path / "out" / "bad.ipynb").exists()


def test_planted_missing_chapter_is_reported(tmp_path):
    for c in run_notebooks.CHAPTERS[:-1]:
        _write(tmp_path / f"{c}.ipynb", "pass")
    assert run_notebooks.missing_chapters(tmp_path) == ["ch08"]
