"""Execute notebooks/chNN.ipynb in fresh kernels; write executed copies (with figures) and HTML.

``python tools/run_notebooks.py [--out build/notebooks] [--full] [--no-html] [chNN ...]``: each notebook
runs top to bottom in its own kernel, in the quick size unless ``--full`` (NNSCRATCH_QUICK=0); the
executed ``chNN.ipynb`` and ``chNN.html`` go to ``--out``, with ``timings.json`` (wall seconds each).
An error in any cell stops that notebook and makes the exit status 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = tuple(f"ch{i:02d}" for i in range(1, 9))


def missing_chapters(folder: Path = NOTEBOOKS) -> list[str]:
    """The chapters ch01 ... ch08 that have no notebook in ``folder``."""
    return [c for c in CHAPTERS if not (Path(folder) / f"{c}.ipynb").is_file()]


def stored_problems(path: Path) -> list[str]:
    """Why a committed notebook is not clean: outputs or execution counts stored in its code cells."""
    nb = nbformat.read(path, as_version=4)
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            out.append(f"{path.name}: cell {i} has {len(cell.outputs)} stored output(s)")
        if cell.get("execution_count") is not None:
            out.append(f"{path.name}: cell {i} has execution_count {cell.execution_count}")
    return out


def figures(nb: nbformat.NotebookNode) -> int:
    """How many PNG figures an executed notebook shows."""
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def execute(path: Path, quick: bool = True, timeout: int = 600, cwd: Path | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run one notebook in a fresh python3 kernel; returns (executed notebook, wall seconds).

    The kernel gets NNSCRATCH_QUICK (1 or 0) and one BLAS thread unless the caller's environment says otherwise.
    Raises CellExecutionError on the first failing cell.
    """
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "NNSCRATCH_QUICK": "1" if quick else "0"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    t0 = time.perf_counter()
    old = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb, time.perf_counter() - t0


def to_html(nb: nbformat.NotebookNode) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chapters", nargs="*", help="e.g. ch03, or a path to a .ipynb (default: every chapter)")
    ap.add_argument("--out", default=str(ROOT / "build" / "notebooks"), help="folder for the executed copies")
    ap.add_argument("--full", action="store_true", help="full size (NNSCRATCH_QUICK=0) instead of quick")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML rendering")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    missing = missing_chapters() if not args.chapters else []
    if missing:
        print(f"no notebook for {', '.join(missing)} in {NOTEBOOKS}", file=sys.stderr)
    names = args.chapters or CHAPTERS
    paths = [Path(c) if c.endswith(".ipynb") else NOTEBOOKS / f"{c}.ipynb" for c in names]
    absent = [p for p in paths if not p.is_file()]
    for p in absent:
        print(f"{p}: no such notebook", file=sys.stderr)
    paths = [p for p in paths if p.is_file()]
    timings: dict[str, float] = {}
    failed = []
    for path in paths:
        try:
            nb, wall = execute(path, quick=not args.full)
        except CellExecutionError as exc:
            failed.append(path.stem)
            print(f"{path.stem}: FAILED\n{str(exc)[-2000:]}", file=sys.stderr)
            continue
        timings[path.stem] = round(wall, 1)
        nbformat.write(nb, out / path.name)
        if not args.no_html:
            (out / f"{path.stem}.html").write_text(to_html(nb), encoding="utf-8")
        print(f"{path.stem}: {wall:.1f} s -> {out / path.name}", flush=True)
    (out / "timings.json").write_text(json.dumps({"quick": not args.full, "wall_s": timings}, indent=1))
    return 1 if failed or missing or absent else 0


if __name__ == "__main__":
    sys.exit(main())
