"""Data parallelism over worker processes: each mini-batch split across processes, gradients averaged.

Python threads share one interpreter lock, and a small network's step is thousands of short NumPy
calls, so a second thread gains little on it. A second *process* gains nearly a core: each part
of the batch runs forward and backward in its own process on one BLAS thread, and since the loss
is a mean over the batch, the whole batch's gradient is the parts' gradients weighted by their sizes:

    dL/dW = sum_k (n_k / n) dL_k/dW          (L_k: the mean loss over part k of n_k samples)

The calling process computes the first part itself; each worker is ``python -m
nnscratch.data_parallel`` holding the same network (rebuilt from ``get_config()``); ``predict`` and
``accuracy`` split inference the same way. Parameters, batches, gradients and scores travel
through shared memory, commands and replies as JSON lines over pipes: nothing is pickled. Each step
the caller copies its parameters into the shared block, so the optimizer and everything else keep
working on the caller's network. Dropout masks come from a generator per worker and layer seeded
from ``seed``, so a run is reproducible for a given worker count (not across counts). Batch
normalisation would see per-part statistics, so it is refused.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import weakref
from multiprocessing import resource_tracker, shared_memory
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from . import backend
from .kernels.threads import single_threaded_blas
from .layers import BatchNormalization, Dropout
from .models import Sequential
from .models.sequential import count_correct, labels_for_scores
from .step import Diverged
from .validation import check_int

__all__ = ["DataParallel", "MIN_PART"]

#: a batch smaller than this many samples per process runs in the caller alone
MIN_PART = 8


def _views(buf: Any, layout: list[tuple[str, tuple[int, ...]]], dtype: Any, offset: int = 0) -> dict[str, Any]:
    """Arrays of ``layout`` (name, shape) packed one after another in ``buf`` from byte ``offset``."""
    out, itemsize = {}, np.dtype(dtype).itemsize
    for name, shape in layout:
        count = int(np.prod(shape))
        out[name] = np.ndarray(shape, dtype=dtype, buffer=buf, offset=offset)
        offset += count * itemsize
    return out


def _attach(name: str) -> shared_memory.SharedMemory:
    """A block the caller made, opened without this process's resource tracker claiming it (which
    would unlink it when this process exits: the caller owns it)."""
    try:
        return shared_memory.SharedMemory(name=name, track=False)  # type: ignore[call-arg]  # Python >= 3.13
    except TypeError:
        shm = shared_memory.SharedMemory(name=name)
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        return shm


def _nbytes(layout: list[tuple[str, tuple[int, ...]]], dtype: Any) -> int:
    return int(sum(np.prod(shape) for _, shape in layout)) * np.dtype(dtype).itemsize


def _batch_views(buf: Any, x_shape: tuple[int, ...], t_shape: tuple[int, ...],
                 layout: list[tuple[str, tuple[int, ...]]], dtype: Any) -> tuple[Any, Any, dict[str, Any]]:
    """A worker's block as (x, t, gradients): x and t in float64, then the gradients in ``dtype``."""
    batch = [("x", x_shape), ("t", t_shape)]
    views = _views(buf, batch, np.float64)
    return views["x"], views["t"], _views(buf, layout, dtype, offset=_nbytes(batch, np.float64))


class _Part:
    """One worker's shared block: its rows of the batch (x, t) and its gradients, and the pipes to it."""

    def __init__(self, rank: int, proc: subprocess.Popen, commands: Any, replies: Any) -> None:
        self.rank, self.proc, self.commands, self.replies = rank, proc, commands, replies
        self.blocks: dict[str, shared_memory.SharedMemory] = {}  # "batch" (x, t, grads), "predict" (px in, py out)
        self.x: Any = None
        self.t: Any = None
        self.grads: dict[str, Any] = {}
        self.px: Any = None
        self.py: Any = None

    def renew(self, kind: str, size: int, message: dict[str, Any]) -> Any:
        """A new shared block of ``size`` bytes as this part's ``kind`` block, the old one freed (its
        views dropped by the caller first) and the worker sent ``message`` with its name; its buffer."""
        shm = shared_memory.SharedMemory(create=True, size=size)
        old, self.blocks[kind] = self.blocks.get(kind), shm  # the part owns it from now: close() frees it
        if old is not None:
            old.close()
            old.unlink()
        self.send({**message, "shm": shm.name})
        return shm.buf

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.commands.write(json.dumps(message) + "\n")
            self.commands.flush()
        except BrokenPipeError:
            self._exited()

    def receive(self) -> dict[str, Any]:
        line = self.replies.readline()
        if not line:
            self._exited()
        return json.loads(line)

    def _exited(self) -> None:
        code = self.proc.wait(timeout=10)
        raise RuntimeError(f"data-parallel worker {self.rank} exited (code {code}); its messages above say why")


def _close(parts: list[_Part], shms: list[shared_memory.SharedMemory]) -> None:
    for part in parts:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            part.send({"cmd": "quit"})
        for stream in (part.commands, part.replies):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            part.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            part.proc.kill()
            part.proc.wait()
        shms.extend(part.blocks.values())
    for shm in shms:
        shm.close()
        shm.unlink()
    parts.clear()
    shms.clear()


class DataParallel:
    """``model`` with its ``gradient(x, t)`` split over ``workers`` processes (the caller is one of them).

    Stands in for the model where a gradient is taken: ``train_step(DataParallel(net), optimizer, x, t)``
    updates ``net``'s parameters; ``Trainer(..., workers=2)`` does it for you. ``close()`` (or a
    ``with`` block) stops the workers and frees the shared memory.
    """

    def __init__(self, model: Sequential, workers: int = 2, seed: int | None = None) -> None:
        self.check_model(model)
        self.workers = check_int("workers", workers, 1, 64)
        self.model = model
        self.last_loss: float | None = None
        self._dtype = model.dtype
        self._layout = [(k, tuple(v.shape)) for k, v in model.params.items()]
        self._parts: list[_Part] = []
        self._shms: list[shared_memory.SharedMemory] = []
        self._finalizer = weakref.finalize(self, _close, self._parts, self._shms)
        if self.workers == 1:
            return
        params_shm = shared_memory.SharedMemory(create=True, size=max(1, _nbytes(self._layout, self._dtype)))
        self._shms.append(params_shm)
        self._params = _views(params_shm.buf, self._layout, self._dtype)
        seed = int(np.random.SeedSequence(seed).entropy) if seed is None else check_int("seed", seed, 0)
        setup = {"config": model.get_config(), "dtype": self._dtype.str, "params": params_shm.name,
                 "layout": self._layout, "seed": seed}
        try:
            for rank in range(1, self.workers):
                self._parts.append(self._start(rank, setup))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def check_model(model: Any) -> None:
        """ValueError unless ``model`` can be split over processes: a Sequential without batch norm, on NumPy."""
        if not isinstance(model, Sequential):
            raise ValueError(f"data-parallel workers need a Sequential network, got {type(model).__name__}")
        if any(isinstance(layer, BatchNormalization) for layer in model.layers.values()):
            raise ValueError("data-parallel workers: batch normalization would see each process's part of the "
                             "batch only; train this network in one process (workers=1)")
        if backend.xp is not np:
            raise ValueError("data-parallel workers run on the NumPy backend only")

    @property
    def params(self) -> dict[str, Any]:
        return self.model.params

    @staticmethod
    def _start(rank: int, setup: dict[str, Any]) -> _Part:
        cmd_r, cmd_w = os.pipe()
        rep_r, rep_w = os.pipe()
        home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where this nnscratch is imported from
        path = os.pathsep.join(p for p in (home, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "nnscratch.data_parallel", str(cmd_r), str(rep_w)],
                                pass_fds=(cmd_r, rep_w), env=env)
        os.close(cmd_r)
        os.close(rep_w)
        part = _Part(rank, proc, os.fdopen(cmd_w, "w"), os.fdopen(rep_r, "r"))
        part.send({**setup, "rank": rank})
        reply = part.receive()
        if not reply.get("ok"):
            raise RuntimeError(f"data-parallel worker {rank} could not start: {reply.get('error')}")
        return part

    def _buffers(self, part: _Part, rows: int, x: Any, t: Any) -> None:
        """(Re)make a worker's shared block when this part of the batch does not fit the last one."""
        x_shape, t_shape = (rows, *x.shape[1:]), (rows, *t.shape[1:])
        if part.x is not None and part.x.shape[1:] == x_shape[1:] and part.t.shape[1:] == t_shape[1:] \
                and len(part.x) >= rows:
            return
        part.x, part.t, part.grads = None, None, {}  # no view of the old block outlives it
        size = _nbytes([("x", x_shape), ("t", t_shape)] + self._layout, np.float64)
        buf = part.renew("batch", size, {"cmd": "buffers", "x": x_shape, "t": t_shape})
        part.x, part.t, part.grads = _batch_views(buf, x_shape, t_shape, self._layout, self._dtype)

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """The model's gradient of its training loss on the whole batch, its parts computed side by side."""
        n = len(x)
        if not self._parts or n < MIN_PART * self.workers:
            grads = self.model.gradient(x, t)
            self.last_loss = self.model.last_loss
            return grads
        if len(t) != n:
            raise ValueError(f"x has {n} samples but t has {len(t)} labels")
        cuts = [n * k // self.workers for k in range(self.workers + 1)]
        self._share_params()
        for part, lo, hi in zip(self._parts, cuts[1:-1], cuts[2:]):
            try:  # as float64 (labels too: the workers' checks still see fractions), before any part is sent
                self._buffers(part, hi - lo, np.asarray(x[:1]), np.asarray(t[:1]))
                part.x[:hi - lo], part.t[:hi - lo] = x[lo:hi], t[lo:hi]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"DataParallel needs numeric x and t, got {exc}") from None
        weights = [(hi - lo) / n for lo, hi in zip(cuts[:-1], cuts[1:])]
        for part, lo, hi, w in zip(self._parts, cuts[1:-1], cuts[2:], weights[1:]):
            part.send({"cmd": "step", "rows": hi - lo, "weight": w})
        try:
            with single_threaded_blas():
                grads = _weighted_gradient(self.model, x[:cuts[1]], t[:cuts[1]], weights[0])
        finally:
            replies = [part.receive() for part in self._parts]
        for reply in replies:
            if not reply["ok"]:
                error = Diverged if reply["kind"] == "Diverged" else ValueError
                raise error(reply["error"])
        loss = float(self.model.last_loss) * weights[0]
        for w, reply in zip(weights[1:], replies):
            loss += w * reply["loss"]
        for k, g in grads.items():  # every part's gradient is weighted already
            for part in self._parts:
                g += part.grads[k]
        self.last_loss = self.model.last_loss = loss
        return grads

    def predict(self, x: Any, batch_size: int = 1000) -> Any:
        """The model's scores for x in eval mode (``model.predict(x)``), ``batch_size`` rows at a time
        in every process: each round the caller scores one batch and each worker the next ones."""
        batch_size, n = check_int("batch_size", batch_size, 1), len(x)
        if not self._parts or n < MIN_PART * self.workers:
            return _predict_in_batches(self.model, x, batch_size)
        self._share_params()
        first = self.model.predict(x[:1], train=False)  # the scores' shape and dtype, for the shared blocks
        y = np.empty((n, *first.shape[1:]), dtype=first.dtype)
        for r0 in range(0, n, batch_size * self.workers):
            m = min(batch_size * self.workers, n - r0)
            cuts = [r0 + m * k // self.workers for k in range(self.workers + 1)]
            busy = [(part, lo, hi) for part, lo, hi in zip(self._parts, cuts[1:-1], cuts[2:]) if hi > lo]
            for part, lo, hi in busy:
                try:
                    self._predict_buffers(part, batch_size, x, y)
                    part.px[:hi - lo] = x[lo:hi]
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"DataParallel needs numeric x, got {exc}") from None
                part.send({"cmd": "predict", "rows": hi - lo})
            try:
                with single_threaded_blas():
                    y[cuts[0]:cuts[1]] = self.model.predict(x[cuts[0]:cuts[1]], train=False)
            finally:
                replies = [part.receive() for part, _, _ in busy]
            for (part, lo, hi), reply in zip(busy, replies):
                if not reply["ok"]:
                    raise ValueError(reply["error"])
                y[lo:hi] = part.py[:hi - lo]
        return y

    def accuracy(self, x: Any, t: Any, batch_size: int = 1000) -> float:
        """``model.accuracy(x, t)`` with the scores from :meth:`predict` (split over the processes)."""
        if not self._parts or len(x) < MIN_PART * self.workers:
            return self.model.accuracy(x, t, batch_size)
        y = self.predict(x, batch_size)
        return count_correct(y, labels_for_scores(t, len(x), y)) / len(x)

    def _share_params(self) -> None:
        """The caller's parameters into the shared block the workers' networks read."""
        for k, v in self.model.params.items():
            self._params[k][...] = v

    def _predict_buffers(self, part: _Part, rows: int, x: Any, y: Any) -> None:
        """(Re)make a worker's block of ``rows`` inputs shaped like x's and their scores shaped like y's."""
        x_shape, y_shape = (rows, *x.shape[1:]), (rows, *y.shape[1:])
        if part.px is not None and part.px.shape == x_shape and part.py.shape == y_shape:
            return
        part.px, part.py = None, None  # no view of the old block outlives it
        layout = [("x", x_shape), ("y", y_shape)]
        message = {"cmd": "predict_buffers", "x": x_shape, "y": y_shape}
        buf = part.renew("predict", _nbytes(layout, self._dtype), message)
        part.px, part.py = _views(buf, layout, self._dtype).values()

    def close(self) -> None:
        """Stop the workers and free the shared memory (also done when the object is collected)."""
        self._finalizer()

    def __enter__(self) -> "DataParallel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _predict_in_batches(model: Sequential, x: Any, batch_size: int) -> Any:
    """model.predict(x) (eval mode), batch_size rows at a time."""
    parts = [model.predict(x[i:i + batch_size], train=False) for i in range(0, len(x), batch_size)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _weighted_gradient(model: Sequential, x: Any, t: Any, weight: float) -> dict[str, Any]:
    """weight * model.gradient(x, t): for a plain Sequential without weight decay, the weight is the
    loss layer's dout (backprop carries it, no pass of its own); else the gradients times weight."""
    if type(model).gradient is Sequential.gradient and not model.weight_decay_lambda:
        model.last_loss = model.loss(x, t, train=True)
        return model.backward(weight)
    grads = model.gradient(x, t)
    for g in grads.values():
        g *= g.dtype.type(weight)
    return grads


def _serve(cmd_fd: int, reply_fd: int) -> None:
    """A worker: build the network, then answer "step" commands until "quit" or the pipe closes."""
    commands, replies = os.fdopen(cmd_fd, "r"), os.fdopen(reply_fd, "w")

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    setup = json.loads(commands.readline())
    dtype = np.dtype(setup["dtype"])
    layout = [(k, tuple(shape)) for k, shape in setup["layout"]]
    params_shm = _attach(setup["params"])
    params = _views(params_shm.buf, layout, dtype)
    model = Sequential.from_config(setup["config"], {k: v.copy() for k, v in params.items()})
    for name, layer in model.layers.items():
        for k in layer.params:
            layer.params[k] = params[f"{name}.{k}"]  # the caller's parameters, as it last copied them
    dropouts = [layer for layer in model.layers.values() if isinstance(layer, Dropout)]
    for i, layer in enumerate(dropouts):
        layer.reseed([setup["seed"], setup["rank"], i])
    reply({"ok": True})
    blocks: dict[str, shared_memory.SharedMemory] = {}  # by the command that sent them
    x, t, grads, px, py = None, None, {}, None, None
    for line in commands:
        message = json.loads(line)
        if message["cmd"] == "quit":
            break
        if message["cmd"] in ("buffers", "predict_buffers"):
            kind = message["cmd"]
            if kind in blocks:
                blocks[kind].close()
            blocks[kind] = _attach(message["shm"])
            buf = blocks[kind].buf
            if kind == "buffers":
                x, t, grads = _batch_views(buf, tuple(message["x"]), tuple(message["t"]), layout, dtype)
            else:
                px, py = _views(buf, [("x", tuple(message["x"])), ("y", tuple(message["y"]))], dtype).values()
            continue
        rows = message["rows"]
        try:
            if message["cmd"] == "predict":
                py[:rows] = model.predict(px[:rows], train=False)
                reply({"ok": True})
                continue
            g = model.gradient(x[:rows], t[:rows])
        except (ValueError, FloatingPointError) as exc:  # bad values, or Diverged (a ValueError)
            error = exc.reason if isinstance(exc, Diverged) else str(exc)
            reply({"ok": False, "kind": type(exc).__name__, "error": error})
            continue
        for k, v in g.items():  # weighted here, in parallel with the other parts, not in the caller
            np.multiply(v, v.dtype.type(message["weight"]), out=grads[k])
        reply({"ok": True, "loss": float(model.last_loss)})
    for block in (*blocks.values(), params_shm):
        block.close()


if __name__ == "__main__":  # python -m nnscratch.data_parallel CMD_FD REPLY_FD (started by DataParallel)
    with threadpool_limits(1):
        _serve(int(sys.argv[1]), int(sys.argv[2]))
