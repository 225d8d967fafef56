"""Trainer (the book's common/trainer.py, ch. 6-7) with shuffled epochs, History, callbacks and resume.

An epoch is one shuffled pass over the training data (the book samples batches with replacement);
each step is one :func:`~nnscratch.step.train_step`: forward + backward, the divergence check, the update.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import backend, serialization
from .callbacks import Callback, Checkpoint, EarlyStopping, NaNGuard, ProgressBar, TrainingDiverged, latest_checkpoint
from .data_parallel import DataParallel
from .history import History
from .models.tasks import attach_preprocessing, model_task, regression_scores
from .optimizers import Optimizer, get_optimizer
from .preprocessing import Preprocessor, make_preprocessor
from .step import Diverged, train_step
from .layers.loss import SoftmaxWithLoss
from .validation import check_int, check_labels, check_real_array

__all__ = ["Trainer", "History", "Callback", "ProgressBar", "Checkpoint", "EarlyStopping", "NaNGuard",
           "TrainingDiverged", "latest_checkpoint"]

CHECKPOINT_KIND = "nnscratch-trainer-checkpoint"


def _rng_state(gen: np.random.Generator) -> dict[str, Any]:
    return serialization.to_jsonable(gen.bit_generator.state, "rng state")


def _layer_generators(network: Any) -> dict[str, np.random.Generator]:
    """Every numpy Generator a layer carries (e.g. Dropout's), by "layer.attribute"."""
    return {f"{name}.{attr}": v for name, layer in network.layers.items()
            for attr, v in vars(layer).items() if isinstance(v, np.random.Generator)}


def _as_data(x: Any) -> Any:
    return x if x is None or hasattr(x, "shape") else np.asarray(x)


def _num_classes(network: Any, x: Any) -> int | None:
    """The number of classes a softmax network scores (its output width on one sample), else None."""
    if not isinstance(getattr(network, "last_layer", None), SoftmaxWithLoss):
        return None
    y = network.predict(x[:1])
    return int(y.shape[-1]) if getattr(y, "ndim", 0) == 2 else None


def _count_keys(callbacks: list[Callback]) -> list[tuple[str, Callback]]:
    """Stable names "Class#k" for callbacks, used to file their state in a checkpoint."""
    counts: dict[str, int] = {}
    out = []
    for cb in callbacks:
        name = type(cb).__name__
        counts[name] = counts.get(name, 0) + 1
        out.append((f"{name}#{counts[name]}", cb))
    return out


class Trainer:
    """Train ``network`` with mini-batches (the book's Trainer signature, plus keyword-only extras).

    ``seed`` drives the data shuffling (the network's own seed drives its init and dropout).
    ``progress``: None = a bar when verbose, True = always, False = never. ``nan_guard`` stops
    with TrainingDiverged on a NaN/inf loss or gradient, with numpy's warnings silenced.
    ``preprocess`` ("normalize", "standardize", "whiten" or a Preprocessor) is fitted on x_train and put in
    front of the network (layer "preprocess1"), so the saved model applies it to raw inputs itself.
    ``task``: "auto" (regression when the loss layer is MeanSquaredLoss), "classification" or "regression";
    a regression run reports RMSE and R^2 (History.train_rmse, ...) and no accuracy.
    ``workers`` > 1 splits each batch's gradient over that many processes (data_parallel.DataParallel).
    """

    def __init__(
        self,
        network: Any,
        x_train: Any,
        t_train: Any,
        x_test: Any = None,
        t_test: Any = None,
        epochs: int = 20,
        mini_batch_size: int = 100,
        optimizer: str | Optimizer = "SGD",
        optimizer_param: dict[str, Any] | None = None,
        evaluate_sample_num_per_epoch: int | None = None,
        verbose: bool = True,
        *,
        x_val: Any = None,
        t_val: Any = None,
        seed: int | np.random.Generator | None = None,
        callbacks: Iterable[Callback] = (),
        progress: bool | None = None,
        nan_guard: bool = True,
        eval_batch_size: int = 1000,
        preprocess: str | Preprocessor | None = None,
        task: str = "auto",
        augment: Callable[[Any], Any] | None = None,
        augment_epochs: int | None = None,
        workers: int = 1,
    ) -> None:
        self.network = network
        self.task = model_task(network, task)
        self.x_train, self.t_train = _as_data(x_train), _as_data(t_train)
        self.x_test, self.t_test, self.x_val, self.t_val = map(_as_data, (x_test, t_test, x_val, t_val))
        for name, x, t in (("train", self.x_train, self.t_train), ("test", self.x_test, self.t_test),
                           ("val", self.x_val, self.t_val)):
            if (x is None) != (t is None):
                raise ValueError(f"give both x_{name} and t_{name}, or neither")
            if x is not None and len(x) != len(t):
                raise ValueError(f"x_{name} has {len(x)} samples but t_{name} has {len(t)} labels")
        if self.x_train is None or len(self.x_train) == 0:
            raise ValueError("x_train must hold at least one sample")
        sets = (("train", self.x_train, self.t_train), ("test", self.x_test, self.t_test), ("val", self.x_val, self.t_val))
        for name, x, _ in sets:
            if x is not None:
                check_real_array(f"x_{name}", x)
        classes = _num_classes(network, self.x_train)
        for name, x, t in sets:
            if x is not None and classes is not None:  # class labels: range, integer-ness, rank, one-hot width
                check_labels(f"t_{name}", t, len(x), classes)
        self.epochs, self.batch_size = check_int("epochs", epochs, 0), check_int("mini_batch_size", mini_batch_size, 1)
        self.eval_batch_size, self.verbose = check_int("eval_batch_size", eval_batch_size, 1), bool(verbose)
        n_eval = evaluate_sample_num_per_epoch
        self.evaluate_sample_num_per_epoch = (None if n_eval is None
                                              else check_int("evaluate_sample_num_per_epoch", n_eval, 1))
        if optimizer_param is None and not isinstance(optimizer, Optimizer):
            optimizer_param = {"lr": 0.01}
        self.optimizer = get_optimizer(optimizer, **(optimizer_param or {}))
        self.seed = seed if isinstance(seed, (int, np.integer)) or seed is None else None
        self.rng = backend.rng(seed)
        user = list(callbacks)
        for cb in user:
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        bar = [ProgressBar(explicit=bool(progress))] if (progress or (progress is None and verbose)) else []
        if any(isinstance(cb, ProgressBar) for cb in user):
            bar = []
        guard = [NaNGuard()] if nan_guard and not any(isinstance(cb, NaNGuard) for cb in user) else []
        # checkpoints run last at an epoch's end so they see every other callback's new state
        ckpts = [cb for cb in user if isinstance(cb, Checkpoint)]
        self.callbacks: list[Callback] = bar + [cb for cb in user if cb not in ckpts] + guard + ckpts
        self.guarded = any(isinstance(cb, NaNGuard) for cb in self.callbacks)
        self.train_size = len(self.x_train)
        self.preprocessor = make_preprocessor(preprocess)
        if self.preprocessor is not None:
            attach_preprocessing(network, self.preprocessor.fit(self.x_train))
        self.iter_per_epoch = math.ceil(self.train_size / self.batch_size)
        self.history = History()
        self.current_iter = self.current_epoch = self.steps_in_epoch = 0
        self.last_loss: float | None = None
        self.stop_training = False
        self._batches: list[Any] | None = None
        self._epoch_start = 0.0
        #: data augmentation (ch. 8.1.2), e.g. augmentation.Augmenter: each training batch becomes
        #: augment(batch); its ``rng`` (if any) is saved in checkpoints with the other generators
        if augment is not None and not callable(augment):
            raise ValueError(f"augment must be callable (e.g. an Augmenter), got {type(augment).__name__}")
        self.augment = augment
        #: augment only the first ``augment_epochs`` epochs (None: all); the rest see the images as they
        #: are, so the last, small-rate updates fit the undistorted digits the test set holds
        self.augment_epochs = None if augment_epochs is None else check_int("augment_epochs", augment_epochs, 0)
        #: processes each batch's gradient is split over (data_parallel.DataParallel, started by train())
        self.workers = check_int("workers", workers, 1, 64)
        if self.workers > 1:
            DataParallel.check_model(network)
        self._parallel: DataParallel | None = None

    # ---- the book's attribute names ------------------------------------------------------
    @property
    def max_iter(self) -> int:
        return self.epochs * self.iter_per_epoch

    @property
    def train_loss_list(self) -> list[float]:
        return self.history.loss

    @property
    def train_acc_list(self) -> list[float]:
        return self.history.train_acc

    @property
    def test_acc_list(self) -> list[float]:
        return self.history.test_acc

    # ---- one step ------------------------------------------------------------------------
    def _errstate(self) -> Any:
        return np.errstate(all="ignore") if self.guarded else contextlib.nullcontext()

    def _on_backward_end(self, loss: float, grads: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_backward_end(self, loss, grads)

    def _update(self, x: Any, t: Any) -> float:
        with self._errstate():
            try:
                loss = train_step(self._parallel or self.network, self.optimizer, x, t, step=self.current_iter + 1,
                                  epoch=self.current_epoch + 1, check=self.guarded, on_gradient=self._on_backward_end)
            except Diverged as exc:
                if not self.guarded:
                    raise
                raise TrainingDiverged(exc.reason, step=exc.step, lr=exc.lr, epoch=exc.epoch) from None
        self.current_iter += 1
        self.last_loss = loss
        self.history.loss.append(loss)
        return loss

    def step(self, x_batch: Any = None, t_batch: Any = None) -> float:
        """One update; without a batch, the next mini-batch of the shuffled epoch (book: train_step)."""
        if x_batch is not None or t_batch is not None:
            if x_batch is None or t_batch is None or len(x_batch) != len(t_batch):
                raise ValueError("step(x_batch, t_batch) needs both, with the same number of samples")
            return self._update(x_batch, t_batch)
        if self._batches is None:
            perm = self.rng.permutation(self.train_size)
            self._batches = [perm[i:i + self.batch_size] for i in range(0, self.train_size, self.batch_size)]
            self.steps_in_epoch = 0
            self._epoch_start = time.perf_counter()
            for cb in self.callbacks:
                cb.on_epoch_begin(self)
        idx = self._batches[self.steps_in_epoch]
        x = self.augment(self.x_train[idx]) if self._augmenting() else self.x_train[idx]
        loss = self._update(x, self.t_train[idx])
        self.steps_in_epoch += 1
        for cb in self.callbacks:
            cb.on_step_end(self)
        if self.steps_in_epoch == len(self._batches):
            self._end_epoch()
        return loss

    train_step = step

    def _augmenting(self) -> bool:
        """Whether this epoch's batches are distorted: an augmenter is set and the epoch is within augment_epochs."""
        return self.augment is not None and (self.augment_epochs is None or self.current_epoch < self.augment_epochs)

    # ---- epochs ------------------------------------------------------------------------------
    def evaluate(self, sample_num: int | None = None) -> dict[str, float]:
        """Accuracy (regression: RMSE and R^2) on train/val/test (first ``sample_num`` of each, else all), eval mode."""
        n = sample_num if sample_num is not None else self.evaluate_sample_num_per_epoch
        out: dict[str, float] = {}
        self.network.eval()
        try:
            with self._errstate():
                for key, x, t in (("train_acc", self.x_train, self.t_train), ("val_acc", self.x_val, self.t_val),
                                  ("test_acc", self.x_test, self.t_test)):
                    if x is not None:
                        x, t = (x, t) if n is None else (x[:n], t[:n])
                        if self.task == "regression":
                            scores = regression_scores(self.network, x, t, batch_size=self.eval_batch_size)
                            out.update({key.replace("acc", k): v for k, v in scores.items()})
                        else:
                            scorer = self._parallel or self.network  # over the workers while train() runs
                            out[key] = float(scorer.accuracy(x, t, batch_size=self.eval_batch_size))
        finally:
            self.network.train()
        return out

    def _end_epoch(self) -> None:
        h = self.history
        self.current_epoch += 1
        accs = self.evaluate()
        for key, value in accs.items():
            getattr(h, key).append(value)
        h.epoch_loss.append(float(np.mean(h.loss[-self.steps_in_epoch:])))
        h.epoch_time.append(time.perf_counter() - self._epoch_start)
        h.lr.append(float(getattr(self.optimizer, "lr", float("nan"))))
        self._batches = None
        for cb in self.callbacks:
            cb.on_epoch_end(self)
        if self.verbose:
            parts = [f"epoch:{self.current_epoch}", f"loss:{h.epoch_loss[-1]:.4f}"]
            parts += [f"{k.replace('_', ' ')}:{v:.4f}" for k, v in accs.items()]
            print("=== " + ", ".join(parts) + f" ({h.epoch_time[-1]:.1f}s) ===")

    def train(self, resume_from: str | os.PathLike[str] | None = None) -> History:
        """Run until ``epochs`` epochs are done (or a callback stops it); returns the History."""
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        self.stop_training = False
        self.network.train()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        if self.workers > 1:
            self._parallel = DataParallel(self.network, self.workers, seed=self.seed)
        try:
            while self.current_epoch < self.epochs and not self.stop_training:
                self.step()
        finally:
            if self._parallel is not None:
                self._parallel.close()
                self._parallel = None
            for cb in self.callbacks:
                cb.on_train_end(self)
        if self.x_test is not None and self.history.epochs:
            final = self.evaluate(sample_num=len(self.x_test))
            if self.task == "regression":
                self.history.final_test_rmse, self.history.final_test_r2 = final["test_rmse"], final["test_r2"]
                if self.verbose:
                    print(f"final test rmse:{final['test_rmse']:.4f}, r2:{final['test_r2']:.4f}")
            else:
                self.history.final_test_acc = final["test_acc"]
                if self.verbose:
                    print("=============== Final Test Accuracy ===============")
                    print(f"test acc:{self.history.final_test_acc:.4f}")
        return self.history

    # ---- checkpoints -------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        """Everything besides model and optimizer that a resumed run needs (JSON-able)."""
        if self._batches is not None:
            raise ValueError("checkpoints are taken between epochs; this trainer is in the middle of one")
        return {
            "kind": CHECKPOINT_KIND,
            "epoch": self.current_epoch,
            "iter": self.current_iter,
            "history": self.history.to_dict(),
            "rng": _rng_state(self.rng),
            "layer_rngs": {k: _rng_state(g) for k, g in _layer_generators(self.network).items()},
            "callbacks": {key: cb.state_dict() for key, cb in _count_keys(self.callbacks)},
            "augment_rng": _rng_state(self.augment.rng) if _augment_rng(self) is not None else None,
            "trainer": {"epochs": self.epochs, "mini_batch_size": self.batch_size,
                        "evaluate_sample_num_per_epoch": self.evaluate_sample_num_per_epoch,
                        "seed": None if self.seed is None else int(self.seed)},
        }

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Model + optimizer + history + epoch + RNG states, one atomic .npz (serialization.save)."""
        return serialization.save(self.network, path, self.optimizer, extra=self.checkpoint_state())

    def _restore(self, extra: Any, path: Any) -> None:
        if not isinstance(extra, dict) or extra.get("kind") != CHECKPOINT_KIND:
            raise serialization.ModelFileError(f"{path}: a saved model, not a Trainer checkpoint (no training state)")
        self.history = History.from_dict(extra["history"])
        self.current_epoch, self.current_iter = int(extra["epoch"]), int(extra["iter"])
        self.rng.bit_generator.state = extra["rng"]
        gens = _layer_generators(self.network)
        for key, state in extra["layer_rngs"].items():
            if key not in gens:
                raise ValueError(f"{path}: checkpoint has RNG state for {key!r} but the network has no such generator")
            gens[key].bit_generator.state = state
        for key, cb in _count_keys(self.callbacks):
            state = extra.get("callbacks", {}).get(key)
            if state:
                cb.load_state_dict(state)
        if extra.get("augment_rng") is not None and _augment_rng(self) is not None:
            self.augment.rng.bit_generator.state = extra["augment_rng"]
        self._batches, self.steps_in_epoch = None, 0
        self.last_loss = self.history.loss[-1] if self.history.loss else None

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore this trainer's network, optimizer and training state from a checkpoint (file or dir)."""
        path = latest_checkpoint(path) if Path(path).is_dir() else Path(path)
        model, opt, extra = serialization.load_checkpoint(path)
        own = json.loads(json.dumps(serialization.to_jsonable(self.network.get_config(), "architecture")))
        if own != model.get_config():
            raise ValueError(f"{path}: the checkpoint's architecture differs from this trainer's network")
        try:
            self.network.load_state_dict(model.state_dict())
        except ValueError as exc:
            raise ValueError(f"{path}: the checkpoint's architecture differs from this trainer's network: {exc}") from None
        if opt is None:
            raise ValueError(f"{path}: the checkpoint holds no optimizer state")
        if type(opt) is not type(self.optimizer):
            raise ValueError(f"{path}: checkpoint optimizer is {type(opt).__name__}, "
                             f"this trainer uses {type(self.optimizer).__name__}")
        self.optimizer.load_state_dict(opt.state_dict())
        self._restore(extra, path)

    @classmethod
    def resume(cls, checkpoint_path: str | os.PathLike[str], x_train: Any, t_train: Any,
               x_test: Any = None, t_test: Any = None, **kwargs: Any) -> "Trainer":
        """A Trainer rebuilt from a checkpoint (network, optimizer, history, RNGs); call train() to go on."""
        path = latest_checkpoint(checkpoint_path) if Path(checkpoint_path).is_dir() else Path(checkpoint_path)
        model, opt, extra = serialization.load_checkpoint(path)
        if opt is None or not isinstance(extra, dict) or extra.get("kind") != CHECKPOINT_KIND:
            raise serialization.ModelFileError(f"{path}: a saved model, not a Trainer checkpoint")
        for key, value in extra["trainer"].items():
            if key != "seed":
                kwargs.setdefault(key, value)
        if "optimizer" in kwargs or "optimizer_param" in kwargs:
            raise ValueError("resume() restores the checkpoint's optimizer; do not pass optimizer/optimizer_param")
        trainer = cls(model, x_train, t_train, x_test, t_test, optimizer=opt, **kwargs)
        trainer._restore(extra, path)
        return trainer


def _augment_rng(trainer: Trainer) -> Any:
    """The augmentation's Generator, if it has one (checkpointed with the others)."""
    rng = getattr(trainer.augment, "rng", None)
    return rng if isinstance(rng, np.random.Generator) else None
