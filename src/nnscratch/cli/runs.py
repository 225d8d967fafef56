"""What `nnscratch train` knows about a run beyond the Trainer: which options were given, which apply to
the chosen model, the options saved in each checkpoint, resuming with them, and what Ctrl-C says.

A checkpoint written by the command holds, besides the Trainer's state, ``run_options``: the parsed
options of the run. ``--resume CHECKPOINT`` takes every option from there except those given again
on the command line, so a resumed run is the same run (epochs, schedule, data, seed) unless told otherwise.
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any, Iterable

from .. import serialization
from ..callbacks import Checkpoint, latest_checkpoint

#: options that only some models use -> the models that use them (the others would silently ignore them)
MODEL_OPTIONS: dict[str, tuple[str, ...]] = {
    "hidden": ("mlp", "twolayer"),
    "weight_decay": ("mlp",),
    "dropout": ("mlp", "deepcnn"),
    "batchnorm": ("mlp",),
    "activation": ("mlp",),
}
#: options a resumed run never takes from its checkpoint (they say how to resume, not what the run is)
NOT_RESTORED = ("resume", "quiet", "func", "argv", "command")


def given_options(parser: argparse.ArgumentParser, argv: Iterable[str]) -> set[str]:
    """The ``dest`` of every option written in ``argv`` (``--lr 0.1``, ``--lr=0.1``, or argparse's
    unambiguous prefixes such as ``--epoch``), to tell an option given from its default."""
    strings = {s: a.dest for a in parser._actions for s in a.option_strings}  # noqa: SLF001 - argparse's table
    given = set()
    for word in argv:
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            continue
        opt = word.split("=", 1)[0]
        matches = [s for s in strings if s == opt] or [s for s in strings if opt.startswith("--") and s.startswith(opt)]
        if len(matches) == 1:
            given.add(strings[matches[0]])
    return given


def option_flag(dest: str) -> str:
    """The command-line spelling of an option's ``dest``: ``elastic_alpha`` -> ``--elastic-alpha``."""
    return "--" + dest.replace("_", "-")


def check_model_options(args: argparse.Namespace, given: set[str]) -> None:
    """ValueError for an option given that the chosen model does not use (e.g. --dropout with simplecnn)."""
    for dest, models in MODEL_OPTIONS.items():
        if dest in given and args.model not in models:
            flag = option_flag(dest)
            raise ValueError(f"{flag} applies to --model {' or '.join(models)} only, not to --model {args.model}; "
                             f"leave it out")


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that define the run (JSON-able), as saved in its checkpoints."""
    return {k: v for k, v in vars(args).items() if k not in NOT_RESTORED and not k.startswith("_")}


def resolve_checkpoint(path: str) -> Path:
    """A checkpoint file, or the latest ``epoch_NNN.npz`` / ``checkpoint.npz`` in a run directory."""
    p = Path(path)
    if p.is_dir():
        return p / "checkpoint.npz" if (p / "checkpoint.npz").is_file() else latest_checkpoint(p)
    if not p.is_file():
        raise FileNotFoundError(f"--resume {path}: no such checkpoint file")
    return p


def restore_options(args: argparse.Namespace, given: set[str]) -> str:
    """Fill ``args`` from the checkpoint named by ``args.resume`` (options given again win); returns the
    line that says what is continued."""
    path = resolve_checkpoint(args.resume)
    header = serialization.read_header(path)
    extra = header.get("extra")
    if not isinstance(extra, dict) or "epoch" not in extra:
        raise ValueError(f"--resume {path}: a saved model, not a training checkpoint (train writes checkpoint.npz)")
    saved = extra.get("run_options")
    if not isinstance(saved, dict):
        raise ValueError(f"--resume {path}: this checkpoint does not record its run's options (written by the "
                         "Python API or an older nnscratch); resume it with Trainer.resume() instead")
    changed = []
    for key, value in saved.items():
        if key in NOT_RESTORED or not hasattr(args, key):
            continue
        if key in given:
            if getattr(args, key) != value:
                changed.append(f"--{key.replace('_', '-')} {getattr(args, key)} (was {value})")
            continue
        setattr(args, key, value)
    if args.model in MODEL_OPTIONS["dropout"] and "dropout" not in given:
        args.dropout = saved_dropout_ratio(header)  # what the layers have, not what an older nnscratch recorded
    args.resume = str(path)
    done = int(extra["epoch"])
    line = (f"resuming {path}: {args.model} on {args.dataset}, epoch {done} of {args.epochs} done, "
            f"optimizer {args.optimizer}, {args.schedule} schedule, batch {args.batch_size}, seed {args.seed}")
    if changed:
        line += "; changed: " + ", ".join(changed)
    if done >= args.epochs:
        raise ValueError(f"--resume {path}: all {args.epochs} epochs of this run are done; give --epochs N "
                         f"with N > {done} to train further")
    return line


def saved_dropout_ratio(header: dict[str, Any]) -> float | None:
    """The ratio of the first Dropout layer in a model file's architecture (None if it has none).

    What a resumed run of a model with --dropout takes: checkpoints from before --dropout applied to
    deepcnn saved the option's old default, 0.0, for runs that trained with the book's 0.5."""
    for layer in header.get("architecture", {}).get("layers", []):
        if layer.get("class") == "Dropout":
            return float(layer["config"]["dropout_ratio"])
    return None


class RunCheckpoint(Checkpoint):
    """:class:`~nnscratch.callbacks.Checkpoint` that also saves the run's command-line options."""

    def __init__(self, path: str | Path, options: dict[str, Any]) -> None:
        super().__init__(path)
        self.options = serialization.to_jsonable(options, "run options")

    def on_epoch_end(self, trainer: Any) -> None:
        extra = {**trainer.checkpoint_state(), "run_options": self.options}
        self.last_path = serialization.save(trainer.network, self.file_for(trainer.current_epoch),
                                            trainer.optimizer, extra=extra)


def interrupted_message(checkpoint: Checkpoint, trainer: Any, out: Path) -> str:
    """What Ctrl-C prints: where the last checkpoint is and the exact command that resumes from it."""
    if checkpoint.last_path is None:
        return (f"interrupted during epoch {trainer.current_epoch + 1} before the first checkpoint; "
                "nothing was saved, run the same command again to start over")
    cmd = shlex.join(["nnscratch", "train", "--resume", str(checkpoint.last_path)])
    return (f"interrupted during epoch {trainer.current_epoch + 1}; the last checkpoint (after epoch "
            f"{trainer.history.epochs} of {trainer.epochs}) is {checkpoint.last_path}\n"
            f"resume with: {cmd}")


__all__ = ["MODEL_OPTIONS", "RunCheckpoint", "check_model_options", "given_options", "interrupted_message",
           "restore_options", "resolve_checkpoint", "run_options", "saved_dropout_ratio"]
