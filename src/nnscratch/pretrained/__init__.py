"""Trained networks shipped inside the package, like the book's ``sample_weight.pkl`` (ch. 3.6) but for
every network of the zoo: ``load_pretrained("deepcnn")`` gives a DeepConvNet at 99.5 % on MNIST at once.

Each ``NAME.npz`` here is an ordinary model file (:mod:`nnscratch.serialization`, no pickle) made by
one recorded command, ``python tools/make_pretrained.py NAME`` (``make pretrained``); its header's
``extra`` records that command, the seed, the epochs, the training data's SHA-256, the accuracy
measured on the full MNIST test set with the stored weights, the date and the nnscratch version.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import backend, book_pickle, serialization

PRETRAINED_DIR = Path(__file__).resolve().parent
DEFAULT = "deepcnn"

#: name -> one-line description, in the book's order
CATALOGUE: dict[str, str] = {
    "ch3": "the ch. 3 network 784-50-100-10 with sigmoid (the book's sample_weight.pkl shape), MultiLayerNet",
    "twolayer": "TwoLayerNet 784-50-10 with ReLU (ch. 5)",
    "mlp": "MultiLayerNet 784-512-256-10 with ReLU and He init (ch. 6), stored as float16",
    "simplecnn": "SimpleConvNet: conv 30x5x5 - ReLU - max pool - 100 - 10 (ch. 7)",
    "deepcnn": "DeepConvNet: six 3x3 convolutions, three max pools, dropout (ch. 8)",
}

#: fields every shipped file's header ``extra`` carries (tests check them)
RECORDED_FIELDS = ("pretrained", "description", "command", "seed", "epochs", "recipe", "dataset", "data_sha256",
                   "test_acc", "test_correct", "n_test", "storage_dtype", "date", "nnscratch_version")


class PretrainedError(ValueError):
    """An unknown pretrained name, or shipped weights missing from this installation."""


def pretrained_path(name: str) -> Path:
    """The file of a shipped network; PretrainedError naming the known ones for an unknown name."""
    if not isinstance(name, str) or name not in CATALOGUE:
        raise PretrainedError(f"unknown pretrained model {name!r}; known: {', '.join(CATALOGUE)}")
    path = PRETRAINED_DIR / f"{name}.npz"
    if not path.exists():
        raise PretrainedError(f"the pretrained weights {name!r} are missing from this installation ({path}); "
                              f"rebuild them with `python tools/make_pretrained.py {name}`")
    return path


def pretrained_info(name: str) -> dict[str, Any]:
    """What the file records (its header ``extra``), plus ``file``, ``size_bytes``, ``model_class`` and
    ``input_shape`` (per sample, (784,) for the fully connected nets, (1, 28, 28) for the ConvNets)."""
    path = pretrained_path(name)
    meta = serialization.read_header(path)
    first = meta["architecture"]["layers"][0]
    conv = first["class"] == "Convolution"
    shapes = meta["arrays"]
    return {
        **(meta.get("extra") or {}),
        "name": name,
        "description": CATALOGUE[name],
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "model_class": (meta.get("extra") or {}).get("model_class", meta.get("model_name")),
        "layers": [spec["class"] for spec in meta["architecture"]["layers"]],
        "num_params": int(sum(_prod(s["shape"]) for s in shapes.values())),
        "input_shape": [1, 28, 28] if conv else [shapes[f"{first['name']}.W"]["shape"][0]],
    }


def _prod(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def list_pretrained() -> list[dict[str, Any]]:
    """One dict per shipped network present (name, description, test_acc, file, size_bytes, ...)."""
    return [pretrained_info(name) for name in CATALOGUE if (PRETRAINED_DIR / f"{name}.npz").exists()]


def load_pretrained(name: str = DEFAULT, dtype: Any = None) -> Any:
    """The shipped network ``name`` in inference mode, computing in ``dtype`` (default: the default
    dtype, float32; float16-stored weights are widened, which changes no value)."""
    model = serialization.load(pretrained_path(name))
    dt = backend.as_dtype(dtype or backend.default_dtype())
    if model.dtype != dt:
        model = model.astype(dt)
    return model.eval()


def load_model_or_pretrained(path: str | None, name: str | None, default: str | None = DEFAULT
                             ) -> tuple[Any, dict[str, Any], str]:
    """What a command was pointed at: the model file ``path``, else the shipped network ``name``, else
    ``default`` (None: one of the two is required). Returns (model in eval mode, header extra, label)
    where label is the file's path or "pretrained NAME"."""
    if path and name:
        raise ValueError(f"give a model file or --pretrained NAME, not both (got {path!r} and {name!r})")
    if path:
        if book_pickle.is_pickle(path) and Path(path).is_file():
            raise book_pickle.not_a_model_file(path)  # read safely (a refused global is named), then: convert
        model, _, extra = serialization.load_checkpoint(path)
        return model.eval(), dict(extra or {}), str(path)
    name = name or default
    if name is None:
        raise ValueError(f"give a model file or --pretrained NAME (known: {', '.join(CATALOGUE)})")
    return load_pretrained(name), dict(pretrained_info(name)), f"pretrained {name}"


__all__ = ["CATALOGUE", "DEFAULT", "PRETRAINED_DIR", "PretrainedError", "RECORDED_FIELDS", "list_pretrained",
           "load_model_or_pretrained", "load_pretrained", "pretrained_info", "pretrained_path"]
