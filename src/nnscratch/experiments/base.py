"""The experiment registry: each book experiment is a function that returns its numbers and figure.

Chapter modules register theirs with :func:`experiment`; importing :mod:`nnscratch.experiments`
imports every chapter module, so the registry is complete whenever this module is in use.

``run_experiment(name, out_dir, quick, seed)`` times it and writes ``NAME.png`` and ``NAME.json``
(the numbers plotted, the settings, the seed and the wall time).
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..fileio import write_json_atomic
from ..plotting import save_figure


@dataclass
class Context:
    """What an experiment receives: where to write, the size, a seed and a seeded Generator."""

    out_dir: Path
    quick: bool = False
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


@dataclass
class Experiment:
    name: str
    chapter: str
    title: str
    finding: str  # one sentence: what the figure shows (used in the report)
    func: Callable[[Context], tuple[dict[str, Any], Any]]


EXPERIMENTS: dict[str, Experiment] = {}


def experiment(name: str, chapter: str, title: str, finding: str) -> Callable:
    """Register ``func(ctx) -> (numbers, matplotlib_figure)`` under ``name``."""

    def register(func: Callable[[Context], tuple[dict[str, Any], Any]]) -> Callable:
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} registered twice")
        EXPERIMENTS[name] = Experiment(name, chapter, title, finding, func)
        return func

    return register


def run_experiment(name: str, out_dir: str | Path = "runs/experiments", quick: bool = False, seed: int = 0,
                   **options: Any) -> dict[str, Any]:
    """Run one experiment; write NAME.png and NAME.json into out_dir; return the JSON record."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; available: {', '.join(EXPERIMENTS)}")
    exp = EXPERIMENTS[name]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out, quick=quick, seed=seed, options=options)
    t0 = time.perf_counter()
    numbers, fig = exp.func(ctx)
    wall = time.perf_counter() - t0
    figure = save_figure(fig, out / f"{name}.png")
    record = {
        "experiment": name,
        "chapter": exp.chapter,
        "title": exp.title,
        "finding": exp.finding,
        "settings": {"quick": quick, "seed": seed, **options},
        "wall_time_s": round(wall, 3),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "figure": figure.name,
        "numbers": numbers,
    }
    write_json_atomic(out / f"{name}.json", record)
    return record
