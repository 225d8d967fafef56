"""The array paths compute with ``backend.xp``, never with NumPy directly (the CPU half of issue 16).

``backend.xp`` is numpy today and cupy on a GPU; a ``np.zeros`` or ``np.dot`` in a layer would pull
device arrays back to the host (or fail) the day ``backend.use("cupy")`` is called. This test reads
the source of every module on an array path (:data:`ARRAY_PATHS`) with :mod:`ast` and fails on any
use of the ``numpy`` module there except:

* what is the same object under CuPy, or touches no array data (:data:`ALLOWED`): dtype objects,
  scalar types, dtype queries, the type of ``backend.rng()`` (RNG is host NumPy by contract);
* ``xp is np`` / ``xp is not np`` (asking which backend is in use);
* type annotations (never run);
* the host-side uses listed one by one in :data:`SITES`, each with its reason. An entry that no
  longer matches any code fails the test too, so the list cannot go stale.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nnscratch"

#: modules and packages whose code runs on arrays of backend.xp
ARRAY_PATHS = ("layers", "kernels", "models", "functions.py", "optimizers.py", "gradient.py", "step.py",
               "initializers.py")

_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
           "uint64", "intp", "bool_", "complex64", "complex128")
#: numpy attributes allowed anywhere on an array path -> why
ALLOWED: dict[str, str] = {
    **{name: "a dtype object: CuPy uses NumPy's dtypes" for name in _DTYPES},
    **{name: "a scalar type for isinstance / issubdtype checks of Python and dtype values, not arrays"
       for name in ("dtype", "integer", "floating", "number", "generic", "signedinteger", "unsignedinteger")},
    **{name: "dtype metadata, computed on the host without touching array data"
       for name in ("finfo", "iinfo", "issubdtype", "result_type", "promote_types", "can_cast")},
    "random.Generator": "the type of backend.rng(): random draws are host NumPy by contract (CONTRACTS.md), "
                        "moved to the device with backend.xp.asarray",
}

#: (module path under src/nnscratch, numpy attribute) -> why this host-side use is right
SITES: dict[tuple[str, str], str] = {
    ("gradient.py", "abs"): "the gradient check compares on the host: both arrays come through backend.to_numpy "
                            "as float64 first, and the result is a Python float",
    ("layers/loss.py", "errstate"): "silences NumPy's overflow warning for an exp that may overflow; the "
                                    "non-finite result is then detected with xp and raised as Diverged "
                                    "(CuPy issues no such warnings, so the context does nothing there)",
}
SITES.update({("models/tasks.py", name): "regression scores (RMSE, R^2) are computed on host float64 copies "
                                         "(backend.to_numpy) of the predictions, and return Python floats"
              for name in ("size", "shape", "mean", "concatenate")})
SITES.update({("kernels/cblas.py", name): "the check of the ctypes binding to NumPy's own OpenBLAS, on a small "
                                          "host product when it is first loaded: cblas.py multiplies NumPy "
                                          "arrays only (blas.py takes it on the NumPy backend alone)"
              for name in ("arange", "ones", "array_equal")})


def array_modules(src: Path = SRC) -> list[Path]:
    paths: list[Path] = []
    for entry in ARRAY_PATHS:
        p = src / entry
        paths += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return paths


def _dotted(node: ast.AST) -> str | None:
    """'np.random.Generator' for that Attribute chain on a Name; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def numpy_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for every use of the numpy module in ``source``, outside annotations.

    ``what`` is the attribute path under numpy ("zeros", "random.default_rng"), "from numpy import X"
    for a from-import, or "numpy module" for the bare name used as a value (but not in ``xp is np``).
    """
    tree = ast.parse(source)
    aliases: set[str] = set()
    uses: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "numpy" or a.name.startswith("numpy."):
                    aliases.add(a.asname or "numpy")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "numpy":
            uses += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names]

    skip: set[int] = set()  # ids of nodes not to report: annotations, `xp is np` operands, inner attributes
    for node in ast.walk(tree):
        annotations: list[ast.AST | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            annotations += [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
            annotations += [args.vararg and args.vararg.annotation, args.kwarg and args.kwarg.annotation,
                            node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif isinstance(node, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            skip.update(id(n) for n in (node.left, *node.comparators) if isinstance(n, ast.Name))
        for ann in annotations:
            if ann is not None:
                skip.update(id(n) for n in ast.walk(ann))

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted and dotted.split(".")[0] in aliases:
                uses.append((node.lineno, dotted.split(".", 1)[1]))
                skip.update(id(n) for n in ast.walk(node.value))  # np.random.x: report once, not np.random too
        elif isinstance(node, ast.Name) and node.id in aliases and isinstance(node.ctx, ast.Load):
            uses.append((node.lineno, "numpy module"))
    return sorted(set(uses))


def violations(path: Path, src: Path = SRC) -> tuple[list[str], set[tuple[str, str]]]:
    """(messages for uses neither ALLOWED nor in SITES, the SITES keys that matched) of one module."""
    rel = path.relative_to(src).as_posix()
    bad, matched = [], set()
    for line, what in numpy_uses(path.read_text()):
        if what in ALLOWED:
            continue
        if (rel, what) in SITES:
            matched.add((rel, what))
            continue
        bad.append(f"{rel}:{line}: numpy.{what} on an array path: use backend.xp (or add it to SITES with a reason)")
    return bad, matched


def test_array_paths_use_backend_xp() -> None:
    bad, matched = [], set()
    for path in array_modules():
        b, m = violations(path)
        bad += b
        matched |= m
    assert not bad, "\n".join(bad)
    stale = sorted(set(SITES) - matched)
    assert not stale, f"SITES entries that match no code any more (remove them): {stale}"


def test_every_array_path_exists_and_every_reason_is_given() -> None:
    for entry in ARRAY_PATHS:
        assert (SRC / entry).exists(), entry
    assert len(array_modules()) > 15
    assert all(reason.strip() for reason in (*ALLOWED.values(), *SITES.values()))


@pytest.mark.parametrize("code, expected", [
    ("import numpy as np\nx = np.zeros(3)", [(2, "zeros")]),
    ("import numpy as np\ng = np.random.default_rng(0)", [(2, "random.default_rng")]),
    ("import numpy\ny = numpy.concatenate([a, b])", [(2, "concatenate")]),
    ("from numpy import dot", [(1, "from numpy import dot")]),
    ("import numpy as np\nf(np)", [(2, "numpy module")]),
    ("import numpy as np\nok = xp is np or backend.xp is not np", []),
    ("import numpy as np\ndef f(a: np.ndarray) -> np.ndarray:\n    return a", []),
    ("import numpy as np\nd: np.dtype = a.dtype", []),
    ("import numpy as np\ny = x.astype(np.float32)", [(2, "float32")]),
])
def test_the_checker_sees_each_form(code: str, expected: list[tuple[int, str]]) -> None:
    assert numpy_uses(code) == expected


def test_a_violation_fails_and_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "layers").mkdir()
    bad = tmp_path / "layers" / "new.py"
    bad.write_text("import numpy as np\n\n\ndef forward(x):\n    return np.maximum(x, 0).astype(np.float32)\n")
    messages, _ = violations(bad, src=tmp_path)
    assert messages == ["layers/new.py:5: numpy.maximum on an array path: use backend.xp "
                        "(or add it to SITES with a reason)"]
