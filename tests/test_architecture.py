"""The shape of the package, checked on its source with ``ast`` (nothing is imported to find imports).

* no import cycle between modules of src/nnscratch, counting imports inside functions too;
* no module over 400 lines;
* every import goes down (or across) the layer order of the table in docs/ARCHITECTURE.md, which
  must name every module, and name only modules that exist;
* imports inside functions only of optional dependencies (``nnscratch.optional.EXTRAS``).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from nnscratch.optional import EXTRAS

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
DOC = REPO / "docs" / "ARCHITECTURE.md"
MAX_LINES = 400


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under src/nnscratch (a package is its __init__.py)."""
    out = {}
    for path in sorted((src / "nnscratch").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported nnscratch module, line, inside a function?) for every import statement of a module.

    ``from pkg import x`` is an import of ``pkg.x`` when that is a module, else of ``pkg``.
    """
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, nested) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for a in child.names:
                    sub = f"{target}.{a.name}"
                    found.append((sub if sub in known else target, child.lineno, nested))
            visit(child, nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def graph(known: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported nnscratch module: first line}."""
    edges: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        for target, line, _ in imports(name, path, known):
            if target.split(".")[0] == "nnscratch" and target != name:
                edges.setdefault(name, {}).setdefault(target, line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def layer_table(doc: Path = DOC) -> dict[str, tuple[int, str]]:
    """Name in the table (``backend``, ``layers``, ``nnscratch`` for the package itself) -> (level, layer)."""
    table: dict[str, tuple[int, str]] = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|", line)
        if m:
            for entry in re.findall(r"`([^`]+)`", m.group(3)):
                assert entry not in table, f"{doc.name} lists `{entry}` twice"
                table[entry] = (int(m.group(1)), m.group(2))
    return table


def level_of(module: str, table: dict[str, tuple[int, str]]) -> tuple[int, str] | None:
    """The row of the longest table name that is the module or a package above it (``nnscratch``: itself only)."""
    if module == "nnscratch":
        return table.get("nnscratch")
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        if (key := ".".join(parts[1:n])) in table:
            return table[key]
    return None


KNOWN = modules()
EDGES = graph(KNOWN)
TABLE = layer_table()


def test_no_import_cycles() -> None:
    found = cycles(EDGES)
    lines = []
    for component in found:
        inside = set(component)
        lines.append(" <-> ".join(component) + ": " + "; ".join(
            f"{a} imports {b} (line {line})" for a in component for b, line in EDGES.get(a, {}).items() if b in inside))
    assert not found, "import cycles:\n" + "\n".join(lines)


def test_no_module_over_400_lines() -> None:
    long = {name: n for name, path in KNOWN.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them): {long}"


def test_the_layer_table_names_every_module() -> None:
    assert TABLE, f"no layer table found in {DOC}"
    missing = sorted(m for m in KNOWN if level_of(m, TABLE) is None)
    assert not missing, f"modules missing from the layer table of {DOC.name}: {missing}"


def test_the_layer_table_names_only_modules_that_exist() -> None:
    unknown = sorted(e for e in TABLE if e != "nnscratch" and f"nnscratch.{e}" not in KNOWN)
    assert not unknown, f"{DOC.name} names modules that do not exist: {unknown}"


def test_imports_follow_the_layer_order() -> None:
    wrong = []
    for a, targets in EDGES.items():
        la = level_of(a, TABLE)
        for b, line in targets.items():
            lb = level_of(b, TABLE)
            if la is not None and lb is not None and lb[0] > la[0]:
                wrong.append(f"{a} (level {la[0]}, {la[1]}) imports {b} (level {lb[0]}, {lb[1]}) at line {line}")
    assert not wrong, f"imports against the layer order of {DOC.name}:\n" + "\n".join(wrong)


def test_imports_inside_functions_are_optional_dependencies_only() -> None:
    hidden = [f"{name}:{line} imports {target}" for name, path in KNOWN.items()
              for target, line, nested in imports(name, path, KNOWN)
              if nested and target.split(".")[0] not in EXTRAS]
    assert not hidden, ("imports inside functions (move them to the top, or for an optional dependency "
                        "add it to nnscratch.optional.EXTRAS and use optional.require):\n" + "\n".join(hidden))


@pytest.mark.parametrize("source, expected", [
    ("from .. import backend, functions", ["nnscratch.backend", "nnscratch.functions"]),
    ("from ..layers import Affine", ["nnscratch.layers"]),
    ("from . import base", ["nnscratch.layers.base"]),
    ("from .base import Layer", ["nnscratch.layers.base"]),
    ("import nnscratch.layers.conv as c", ["nnscratch.layers.conv"]),
    ("def f():\n    import numpy", ["numpy"]),
])
def test_import_resolution(tmp_path: Path, source: str, expected: list[str]) -> None:
    """How the checks above read an import, on a module ``nnscratch.layers.dense``."""
    path = tmp_path / "dense.py"
    path.write_text(source + "\n")
    assert [t for t, _, _ in imports("nnscratch.layers.dense", path, KNOWN)] == expected


def test_cycle_detection_finds_a_planted_circle() -> None:
    planted = {"nnscratch.a": {"nnscratch.b": 1}, "nnscratch.b": {"nnscratch.c": 1}, "nnscratch.c": {"nnscratch.a": 3},
               "nnscratch.d": {"nnscratch.a": 1}}
    assert cycles(planted) == [["nnscratch.a", "nnscratch.b", "nnscratch.c"]]
