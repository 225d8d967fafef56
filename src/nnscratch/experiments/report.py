"""One offline HTML page over the experiments' JSON records: ``write_report(records, out_dir)``.

The page has inline CSS, no JavaScript and no remote resources; figures are the PNGs written beside
it by :func:`base.run_experiment`, referenced by relative path. Experiments appear in book order.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import os
import platform
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..fileio import atomic_write
from .base import EXPERIMENTS

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #1d1d1f; line-height: 1.45; }
header { border-bottom: 2px solid #ddd; margin-bottom: 1.5rem; }
h1 { margin-bottom: 0.3rem; }
.meta { color: #555; font-size: 0.95rem; }
code, pre { background: #f4f4f6; border-radius: 4px; padding: 0.1rem 0.35rem; font-size: 0.9rem; }
pre { padding: 0.6rem; overflow-x: auto; }
nav ol { columns: 2; font-size: 0.95rem; }
section { border: 1px solid #e2e2e6; border-radius: 8px; padding: 1rem 1.2rem; margin: 1.5rem 0; }
section h2 { margin-top: 0; }
.chapter { color: #fff; background: #4a6fa5; border-radius: 4px; padding: 0.05rem 0.45rem; font-size: 0.85rem;
           vertical-align: middle; margin-right: 0.4rem; }
.finding { font-size: 1.05rem; background: #f0f6ff; border-left: 4px solid #4a6fa5; padding: 0.5rem 0.8rem; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
td, th { border-bottom: 1px solid #eee; padding: 0.2rem 0.7rem 0.2rem 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: 600; }
.cols { display: flex; flex-wrap: wrap; gap: 2rem; }
.failed { border-color: #d33; background: #fff5f5; }
.small { color: #666; font-size: 0.85rem; }
"""


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.3e}" if abs(v) < 1e-3 or abs(v) >= 1e6 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def key_numbers(numbers: Mapping[str, Any], max_list: int = 16) -> list[tuple[str, str]]:
    """The short, readable part of an experiment's numbers: scalars, short lists and small flat dicts."""
    rows: list[tuple[str, str]] = []
    for k, v in numbers.items():
        if k == "settings":
            continue
        if _is_scalar(v):
            rows.append((k, _fmt(v)))
        elif isinstance(v, (list, tuple)) and len(v) <= max_list and all(_is_scalar(x) for x in v):
            rows.append((k, _fmt(v)))
        elif isinstance(v, Mapping) and len(v) <= 8 and all(
                _is_scalar(x) or (isinstance(x, (list, tuple)) and len(x) <= 4 and all(_is_scalar(y) for y in x))
                for x in v.values()):
            rows.append((k, _fmt(v)))
    return rows


def _table(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>" if body else "<p class='small'>none</p>"


def _command(records: list[Mapping[str, Any]], out_dir: Path) -> str:
    settings = records[0].get("settings", {}) if records else {}
    names = [r["experiment"] for r in records]
    target = "all" if len(names) != 1 else names[0]
    parts = ["nnscratch", "experiment", target, "--out", str(out_dir)]
    if settings.get("quick"):
        parts.append("--quick")
    parts += ["--seed", str(settings.get("seed", 0))]
    if settings.get("model"):
        parts += ["--model", str(settings["model"])]
    return " ".join(parts)


def _section(rec: Mapping[str, Any], out_dir: Path) -> str:
    name = rec["experiment"]
    numbers = rec.get("numbers") or {}
    figure = rec.get("figure") or f"{name}.png"
    settings = dict(rec.get("settings") or {})
    inner = numbers.get("settings") if isinstance(numbers.get("settings"), Mapping) else {}
    # settings long enough to drown the page (per-layer histograms...) stay in the JSON only
    all_settings = [(k, text) for k, v in {**settings, **inner}.items() if len(text := _fmt(v)) <= 160]
    json_name = f"{name}.json"
    json_link = (f"<a href='{html.escape(json_name)}'>{html.escape(json_name)}</a>"
                 if (out_dir / json_name).exists() else html.escape(json_name))
    return f"""
<section id="{html.escape(name)}">
  <h2><span class="chapter">ch. {html.escape(str(rec.get('chapter', '?')))}</span>{html.escape(rec.get('title', name))}
      <span class="small">(<code>{html.escape(name)}</code>)</span></h2>
  <p class="finding">{html.escape(rec.get('finding', ''))}</p>
  <img src="{html.escape(figure)}" alt="figure of experiment {html.escape(name)}">
  <div class="cols">
    <div><h3>Key numbers</h3>{_table(key_numbers(numbers))}
      <p class="small">All numbers plotted: {json_link}</p></div>
    <div><h3>Run</h3>{_table([("wall time", f"{rec.get('wall_time_s', float('nan')):.1f} s"), *all_settings])}</div>
  </div>
</section>"""


def write_report(records: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike[str],
                 failures: Mapping[str, str] | None = None, command: str | None = None) -> Path:
    """Write ``out_dir/index.html`` for the given run_experiment records (book order); returns its path.

    ``failures`` (name -> error text) are listed too; ``command`` overrides the reproduce line.
    """
    out = Path(out_dir)
    order = {n: i for i, n in enumerate(EXPERIMENTS)}
    recs = sorted(records, key=lambda r: (order.get(r["experiment"], len(order)), r["experiment"]))
    failures = dict(failures or {})
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    machine = (f"{platform.node() or 'unknown host'}: {platform.platform()}, {os.cpu_count()} CPU cores, "
               f"Python {platform.python_version()}, NumPy {np.__version__}")
    total = sum(float(r.get("wall_time_s") or 0) for r in recs)
    cmd = command or _command(recs, out)
    toc = "".join(f"<li><a href='#{html.escape(r['experiment'])}'>ch. {html.escape(str(r.get('chapter')))} "
                  f"{html.escape(r.get('title', r['experiment']))}</a></li>" for r in recs)
    failed = "".join(f"<section class='failed'><h2>{html.escape(n)} failed</h2><pre>{html.escape(msg)}</pre></section>"
                     for n, msg in failures.items())
    body = "".join(_section(r, out) for r in recs)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nnscratch experiments</title>
<style>{CSS}</style>
</head>
<body>
<header>
  <h1>Deep Learning from Scratch: the book's experiments</h1>
  <p class="meta">{len(recs)} experiment(s), {total:.1f} s in all &middot; generated {html.escape(now)}<br>
  machine: {html.escape(machine)}</p>
  <p>Reproduce: <code>{html.escape(cmd)}</code></p>
</header>
<nav><ol>{toc}</ol></nav>
{failed}
{body}
<p class="small">Figures and numbers written by <code>nnscratch experiment</code>; MNIST by LeCun, Cortes and
Burges (CC BY-SA 3.0).</p>
</body>
</html>
"""
    return atomic_write(out / "index.html", lambda p: p.write_text(page, encoding="utf-8"))


def load_records(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The run_experiment records (NAME.json) found in ``out_dir`` for registered experiments."""
    names = set(EXPERIMENTS)
    recs = []
    for path in sorted(Path(out_dir).glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("experiment") in names and path.stem == rec["experiment"]:
            recs.append(rec)
    return recs
