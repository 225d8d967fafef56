"""Optional dependencies, imported only where they are used, through one helper.

The core needs NumPy only. Figures (matplotlib), progress bars (tqdm), image input (Pillow),
Optuna and the benchmark peers are extras; :func:`require` imports one or raises an
``ImportError`` that names the extra to install, :func:`load` returns None when it is missing.
"""
from __future__ import annotations

import importlib
from types import ModuleType

#: top-level import name -> the extra of pyproject.toml that installs it
EXTRAS: dict[str, str] = {
    "matplotlib": "plot",
    "tqdm": "progress",
    "PIL": "image",
    "optuna": "tune",
    "torch": "bench",
    "threadpoolctl": "bench",
    "onnx": "onnx",
    "onnxruntime": "test",
}


def install_hint(extra: str) -> str:
    """The command that installs an extra: ``pip install 'nnscratch[plot]'``."""
    return f"pip install 'nnscratch[{extra}]'"


def load(module: str) -> ModuleType | None:
    """``module`` imported, or None when it (or something it needs) is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def require(module: str, purpose: str | None = None, hint: str | None = None) -> ModuleType:
    """``module`` imported, or ``ImportError("<purpose>: pip install 'nnscratch[<extra>]'")``.

    ``purpose`` says what needs it ("figures need matplotlib"); ``hint`` replaces the install
    command where no extra provides the package.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        what = purpose or f"this needs {top}"
        how = hint or install_hint(EXTRAS.get(top, top))
        raise ImportError(f"{what}: {how}") from exc


__all__ = ["EXTRAS", "install_hint", "load", "require"]
