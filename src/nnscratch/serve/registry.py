"""The models a `nnscratch serve` process offers: model files and, once they ship, the pretrained ones.

Every model is loaded at start-up (they are small), so a broken file is reported before the
server listens. Each entry carries a lock: a layer keeps per-call state (the input it cached for
backward, scratch buffers), so one model runs one forward pass at a time, while different
models and everything around the forward pass (decoding, JSON) run in parallel.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import pretrained, serialization

INPUT_SHAPE = (1, 28, 28)


def _pretrained_module() -> Any:
    """The module of shipped networks (:mod:`nnscratch.pretrained`); tests put a stand-in here."""
    return pretrained


def shipped_models() -> list[dict[str, Any]]:
    """The shipped models as ``list_pretrained()`` describes them; [] when none ship."""
    module = _pretrained_module()
    return list(module.list_pretrained()) if module is not None else []


@dataclass
class ModelEntry:
    """One servable model: its name in the API, where it came from, the loaded network and its lock."""

    name: str
    source: str  # "file" or "pretrained"
    ref: str  # the file's path, or the pretrained name
    model: Any
    description: str = ""
    test_acc: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def class_names(self) -> list[str]:
        names = self.extra.get("class_names")
        n_out = self.layer_shapes()[-1][2][-1]
        return [str(c) for c in names] if isinstance(names, list) and len(names) == n_out else [str(i) for i in range(n_out)]

    def layer_shapes(self) -> list[tuple[str, str, tuple[int, ...]]]:
        """(name, layer class, per-sample output shape) for every layer, in order."""
        shape: tuple[int, ...] = INPUT_SHAPE
        out = []
        for name, layer in self.model.layers.items():
            shape = tuple(int(d) for d in layer.output_shape(shape))
            out.append((name, type(layer).__name__, shape))
        return out

    def info(self) -> dict[str, Any]:
        """What GET /api/models says about this model."""
        return {
            "name": self.name,
            "source": self.source,
            "file": Path(self.ref).name if self.source == "file" else None,
            "architecture": self.extra.get("architecture_name") or type(self.model).__name__,
            "description": self.description,
            "test_acc": self.test_acc,
            "dataset": self.extra.get("dataset"),
            "params": int(self.model.num_params()),
            "class_names": self.class_names,
            "input_shape": list(INPUT_SHAPE),
            "layers": [{"name": n, "type": t, "shape": list(s)} for n, t, s in self.layer_shapes()],
        }


def _file_name(path: Path) -> str:
    """A short API name for a model file: its stem, or its folder's name for runs/NAME/model.npz."""
    stem = path.stem
    return path.resolve().parent.name if stem in ("model", "checkpoint") and path.resolve().parent.name else stem


class ModelRegistry:
    """Named models in the order they were added; the first is the default unless one is chosen."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self.default: str | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def _unique(self, name: str) -> str:
        base, i = name, 2
        while name in self._entries:
            name, i = f"{base}-{i}", i + 1
        return name

    def _add(self, entry: ModelEntry) -> ModelEntry:
        entry.model.eval()
        self._entries[entry.name] = entry
        if self.default is None:
            self.default = entry.name
        return entry

    def add_file(self, spec: str | Path) -> ModelEntry:
        """Load a model file; ``spec`` is a path or NAME=PATH to choose the name shown in the picker."""
        text = str(spec)
        name, _, path_text = text.partition("=") if "=" in text and not Path(text).exists() else ("", "", text)
        path = Path(path_text)
        model, _, extra = serialization.load_checkpoint(path)
        extra = dict(extra) if isinstance(extra, dict) else {}
        extra.setdefault("architecture_name", serialization.read_header(path).get("model_name"))
        acc = extra.get("test_acc")
        what = extra.get("dataset")
        return self._add(ModelEntry(
            name=self._unique(name or _file_name(path)), source="file", ref=str(path), model=model,
            description=f"{extra['architecture_name']} from {path}" + (f", trained on {what}" if what else ""),
            test_acc=float(acc) if isinstance(acc, (int, float)) else None, extra=extra))

    def add_pretrained(self, name: str, description: str = "", test_acc: float | None = None) -> ModelEntry:
        """Load a shipped model by name through ``nnscratch.pretrained.load_pretrained``."""
        module = _pretrained_module()
        if module is None:
            raise ValueError(f"--pretrained {name}: this nnscratch ships no trained weights "
                             "(nnscratch.pretrained is missing); serve a model file from `nnscratch train` instead")
        known = {d.get("name"): d for d in module.list_pretrained()}
        if name not in known:
            raise ValueError(f"unknown pretrained model {name!r}; shipped: {', '.join(map(str, known)) or 'none'}")
        meta = known[name]
        acc = test_acc if test_acc is not None else meta.get("test_acc", meta.get("test_accuracy"))
        model = module.load_pretrained(name)
        file = meta.get("file")
        architecture = meta.get("model_class") or meta.get("architecture") or (
            serialization.read_header(file).get("model_name") if file and Path(file).is_file() else None)
        return self._add(ModelEntry(
            name=self._unique(name), source="pretrained", ref=name, model=model,
            description=description or str(meta.get("description", "")),
            test_acc=float(acc) if isinstance(acc, (int, float)) else None,
            extra={"dataset": "mnist", "architecture_name": architecture or type(model).__name__}))

    def get(self, name: str | None) -> ModelEntry:
        """The model called ``name`` (the default for None); KeyError naming the choices otherwise."""
        key = self.default if name is None else name
        if key not in self._entries:
            raise KeyError(f"unknown model {name!r}; available: {', '.join(self._entries) or 'none'}")
        return self._entries[key]

    def info(self) -> dict[str, Any]:
        return {"default": self.default, "models": [e.info() for e in self._entries.values()]}


def build_registry(files: list[str], pretrained: list[str] | None = None, all_shipped: bool = True) -> ModelRegistry:
    """Models for `nnscratch serve`: the pretrained ones named, the files given, and (``all_shipped``)
    every other shipped model for the picker. Shown first: the first named pretrained model, else
    the first file, else the shipped DeepConvNet."""
    registry = ModelRegistry()
    for name in pretrained or []:
        registry.add_pretrained(name)
    for spec in files:
        registry.add_file(spec)
    if all_shipped:
        loaded = {e.ref for e in registry.entries() if e.source == "pretrained"}
        for meta in shipped_models():
            if meta.get("name") not in loaded:
                entry = registry.add_pretrained(str(meta["name"]))
                if not files and not pretrained and entry.ref == "deepcnn":
                    registry.default = entry.name
    if not len(registry):
        raise ValueError("no model to serve: give a model file written by `nnscratch train` "
                         "(e.g. nnscratch serve runs/train/model.npz)")
    return registry
