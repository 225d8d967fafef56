"""Build notebooks/chNN.ipynb from their reviewable sources tools/notebooks/chNN.py (no outputs stored).

A source is Python in the "percent" format: ``# %% [markdown]`` starts a markdown cell (its lines
are comments, ``# `` stripped), ``# %%`` a code cell; ``# %% tags=parameters`` marks the one
parameter cell (QUICK). ``python tools/make_notebooks.py`` writes every notebook;
``--check`` exits 1 when a committed notebook differs from what its source gives.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "tools" / "notebooks"
NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = tuple(f"ch{i:02d}" for i in range(1, 9))


def parse(text: str) -> list[nbformat.NotebookNode]:
    """The cells of a percent-format source."""
    cells: list[nbformat.NotebookNode] = []
    kind, tags, lines = None, [], []

    def flush() -> None:
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.split("\n"))
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = list(tags)
        cells.append(cell)

    for line in text.split("\n"):
        if line.startswith("# %%"):
            flush()
            rest = line[4:].strip()
            kind = "markdown" if rest.startswith("[markdown]") else "code"
            tags = [t for t in rest.replace("[markdown]", "").replace("tags=", "").split(",") if t.strip()]
            tags = [t.strip() for t in tags]
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build(chapter: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse((SOURCES / f"{chapter}.py").read_text(encoding="utf-8"))
    for i, cell in enumerate(nb.cells):
        cell.id = f"{chapter}-{i:02d}"  # stable ids: rebuilding gives the same file
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if a notebook is out of date")
    args = ap.parse_args(argv)
    stale = []
    for chapter in CHAPTERS:
        text = nbformat.writes(build(chapter)) + "\n"
        path = NOTEBOOKS / f"{chapter}.ipynb"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
            continue
        NOTEBOOKS.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date (run python tools/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
