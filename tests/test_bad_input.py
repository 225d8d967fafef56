"""Bad input is refused by name (issue 14): each reproducer of the issue, then a seeded generator of
several hundred bad calls over the API and the command line (see test_generated_* below)."""
from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnscratch import images, serialization
from nnscratch.cli import main
from nnscratch.cli import evaluate as evaluate_cmd
from nnscratch.cli import models as models_cmd
from nnscratch.datasets import mnist, sample, sources
from nnscratch.datasets.idx import read_idx, write_idx
from nnscratch.functions import one_hot
from nnscratch.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling
from nnscratch.models import MultiLayerNet
from nnscratch.optimizers import SGD, Adam, CosineDecay, Momentum, RMSprop, StepDecay
from nnscratch.training import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import model_file_bomb  # noqa: E402  (tools/ is not a package)

X4 = np.random.default_rng(0).random((4, 4))


@pytest.fixture(scope="module")
def net():
    return MultiLayerNet(4, [5], 10, seed=0)


# ---------------------------------------------------------------- labels (accuracy, Trainer, loss layers)

@pytest.mark.parametrize("t, match", [
    (np.array([-1, 10, 255, 7]), r"t: labels must lie in \[0, 9\].*-1 to 255"),
    (np.array([0, 10, 255, 7]), r"t: labels must lie in \[0, 9\].*0 to 255"),
    (np.array([0.5, 1, 2, 3]), r"t: labels must be integers, got fractional"),
    (np.array([np.nan, 1, 2, 3]), r"t must be integer class labels, got NaN"),
    (np.array(["a", "b", "c", "d"]), r"t must be integer class labels.*dtype <U1"),
    (np.zeros((4, 2, 5)), r"t must be 1-D class labels \(N,\) or 2-D one-hot.*\(4, 2, 5\)"),
    (np.eye(4), r"t: one-hot labels must have shape \(4, 10\).*\(4, 4\)"),
    (np.array([True, False, True, False]), r"t must be integer.*dtype bool"),
    (np.array([1, 2, 3]), r"t: got 3 labels for a batch of 4 inputs"),
])
def test_accuracy_checks_labels(net, t, match):
    with pytest.raises(ValueError, match=match):
        net.accuracy(X4, t)


@pytest.mark.parametrize("bs", [0, -1, 2.5, True, "10"])
def test_accuracy_checks_batch_size(net, bs):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        net.accuracy(X4, np.array([0, 1, 2, 3]), batch_size=bs)


def test_accuracy_still_counts(net):
    t = net.predict(X4).argmax(axis=1)
    assert net.accuracy(X4, t) == 1.0 and net.accuracy(X4, np.eye(10)[t], batch_size=3) == 1.0
    assert net.accuracy(X4, t.astype(np.float32)) == 1.0  # whole-number floats are labels too


@pytest.mark.parametrize("which, t, match", [
    ("t_test", np.array([0, 1, 2, 12]), r"t_test: labels must lie in \[0, 9\]"),
    ("t_test", np.array([0, 1, 2]), r"x_test has 4 samples but t_test has 3"),
    ("t_train", np.array([0.5, 1, 2, 3]), r"t_train: labels must be integers"),
    ("t_val", np.eye(4), r"t_val: one-hot labels must have shape \(4, 10\)"),
])
def test_trainer_checks_every_label_set(which, t, match):
    ok = np.array([0, 1, 2, 3])
    kw = {"t_train": ok, "t_test": ok, "t_val": ok, which: t}
    with pytest.raises(ValueError, match=match):
        Trainer(MultiLayerNet(4, [5], 10), X4, kw["t_train"], X4, kw["t_test"], x_val=X4, t_val=kw["t_val"],
                epochs=1, verbose=False)


def test_loss_layers_check_labels(net):
    with pytest.raises(ValueError, match=r"t: labels must lie in \[0, 9\]"):
        net.loss(X4, np.array([0, 1, 2, 10]))
    with pytest.raises(ValueError, match=r"t: got 3 labels for a batch of 4"):
        net.gradient(X4, np.array([0, 1, 2]))


# ---------------------------------------------------------------- dtypes

@pytest.mark.parametrize("x, kind", [
    (X4 + 1j, "complex"),
    (np.zeros((2, 4), dtype="datetime64[D]"), "datetime"),
    (np.zeros((2, 4), dtype="timedelta64[s]"), "timedelta"),
    (np.zeros((2, 4), dtype=object), "object"),
    (np.full((2, 4), "1"), "string"),
])
def test_non_real_inputs_are_refused(net, x, kind):
    with pytest.raises(TypeError, match=f"x must be an array of real numbers.*{kind}"):
        net.predict(x)
    with pytest.raises(TypeError, match=kind):
        Affine(np.ones((4, 2)), np.zeros(2)).forward(x)


def test_bool_and_int_inputs_are_numbers(net):
    """Decided: bool (binary images, the perceptron's inputs) and integer pixels are cast to float."""
    assert net.predict(np.ones((2, 4), bool)).shape == (2, 10)
    np.testing.assert_allclose(net.predict(np.ones((2, 4), np.uint8)), net.predict(np.ones((2, 4))), rtol=1e-6)


# ---------------------------------------------------------------- hyper-parameters

@pytest.mark.parametrize("lam", [float("nan"), float("inf"), -1.0])
def test_weight_decay_must_be_finite(lam):
    with pytest.raises(ValueError, match="weight_decay_lambda must be in"):
        MultiLayerNet(4, [5], 10, weight_decay_lambda=lam)
    with pytest.raises(ValueError, match="weight_decay must be in"):
        Adam(weight_decay=lam)


@pytest.mark.parametrize("lr", [0, 0.0, float("inf"), float("nan"), -0.1])
def test_learning_rate_must_be_positive_and_finite(lr):
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        SGD(lr=lr)
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        CosineDecay(lr, 10)


@pytest.mark.parametrize("rate", [-1.0, float("nan"), float("inf")])
def test_schedule_returning_a_bad_rate(rate):
    with pytest.raises(ValueError, match="lr_schedule returned .* at step 0"):
        SGD(lr=0.1, lr_schedule=lambda k: rate)
    opt = SGD(lr=0.1, lr_schedule=lambda k: 0.1 if k < 1 else rate)
    p, g = {"w": np.ones(3)}, {"w": np.ones(3)}
    opt.update(p, g)
    with pytest.raises(ValueError, match="lr_schedule returned .* at step 1"):
        opt.update(p, g)
    np.testing.assert_array_equal(p["w"], 0.9)  # the refused step changed nothing


def test_a_schedule_may_end_at_zero():
    sched = {"name": "cosine", "lr": 0.1, "total_steps": 1}
    opt = SGD(lr_schedule=sched)
    for _ in range(2):
        opt.update({"w": np.ones(1)}, {"w": np.ones(1)})
    assert opt.lr == 0.0
    again = SGD(**opt.get_config())  # what a checkpoint holds rebuilds, with lr 0 under its schedule
    again.load_state_dict(opt.state_dict())
    assert again.lr == 0.0


# ---------------------------------------------------------------- wrong exception types, degenerate layers

def test_convolution_zero_size():
    with pytest.raises(ValueError, match=r"Convolution weight W .* no zero-size axis.*\(2, 1, 0, 3\)"):
        Convolution(np.zeros((2, 1, 0, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"no zero-size axis.*\(0, 1, 3, 3\)"):
        Convolution(np.zeros((0, 1, 3, 3)), np.zeros(0))  # zero filters
    conv = Convolution(np.ones((2, 1, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"Convolution input must have no zero-size axis.*\(0, 1, 5, 5\)"):
        conv.forward(np.zeros((0, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"no zero-size axis.*\(1, 1, 0, 5\)"):
        conv.forward(np.zeros((1, 1, 0, 5)))


def test_degenerate_layers():
    with pytest.raises(ValueError, match=r"Affine weight W .* no zero-size axis.*\(0, 3\)"):
        Affine(np.zeros((0, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"Affine W contains NaN"):
        Affine(np.full((2, 3), np.nan), np.zeros(3))
    with pytest.raises(ValueError, match=r"running_var must be >= 0.*-1"):
        BatchNormalization(np.ones(3), np.zeros(3), running_var=-np.ones(3))
    with pytest.raises(ValueError, match=r"gamma must have at least one feature"):
        BatchNormalization(np.ones(0), np.zeros(0))
    with pytest.raises(ValueError, match=r"running_mean contains NaN"):
        BatchNormalization(np.ones(3), np.zeros(3), running_mean=np.full(3, np.nan))


def test_to_mnist_of_nan_image():
    with pytest.raises(ValueError, match="NaN or inf"):
        images.to_mnist(np.full((50, 50), np.nan))


def test_save_none(tmp_path):
    with pytest.raises(TypeError, match="model must be a network.*got NoneType"):
        serialization.save(None, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="path must be a file path.*got NoneType"):
        serialization.save(MultiLayerNet(4, [5], 10), None)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- model files (checked before decompressing)

def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _meta_bytes(meta):
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return buf.getvalue()


def _with_meta(path, change):
    members = _members(path)
    meta = json.loads(np.load(io.BytesIO(members["__meta__.npy"])).tobytes())
    change(meta, members)
    members["__meta__.npy"] = _meta_bytes(meta)
    _write(path, members)
    return path


@pytest.fixture
def model_file(tmp_path):
    return serialization.save(MultiLayerNet(4, [5], 10, use_batchnorm=True, seed=0), tmp_path / "m.npz", Adam())


def _refused(path, match):
    with pytest.raises(serialization.ModelFileError, match=match) as info:
        serialization.load(path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)
    return str(info.value)


def test_member_that_is_not_npy(model_file):
    members = _members(model_file)
    members["param/affine1.W.npy"] = b"not an npy"
    _write(model_file, members)
    _refused(model_file, r"array 'param/affine1.W' takes 10 bytes in the archive, but the header declares \(4, 5\)")
    members["param/affine1.W.npy"] = b"\x00" * (80 + 128)  # a plausible size, but no .npy magic
    _write(model_file, members)
    _refused(model_file, r"array 'param/affine1.W' is not a valid .npy array \(the magic string is not correct")
    members["notes.txt"] = b"hello"
    _write(model_file, members)
    _refused(model_file, r"archive member 'notes.txt' is not an .npy array")


def test_member_of_another_dtype_or_shape(model_file):
    members = _members(model_file)
    buf = io.BytesIO()
    np.save(buf, np.zeros(20, np.float32))  # 80 bytes of data like (4, 5) float32, another shape
    members["param/affine1.W.npy"] = buf.getvalue()
    _write(model_file, members)
    _refused(model_file, r"array 'param/affine1.W' has shape \(20,\) float32, the header declares \(4, 5\) float32")


def test_deeply_nested_header(model_file):
    _with_meta(model_file, lambda m, a: m.update(extra={"deep": json.loads("[" * 100 + "]" * 100)}))
    _refused(model_file, "corrupt header: JSON nested 10[0-9] deep")
    members = _members(model_file)  # nested far past Python's recursion limit: still one clear error
    raw = np.load(io.BytesIO(members["__meta__.npy"])).tobytes()
    raw = raw.replace(b'"extra": {', b'"extra": {"bomb": ' + b"[" * 100000 + b"]" * 100000 + b', ', 1)
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(raw, dtype=np.uint8))
    members["__meta__.npy"] = buf.getvalue()
    _write(model_file, members)
    _refused(model_file, "corrupt header: JSON nested 1000[0-9][0-9] deep")
    members = _members(model_file)
    members["__meta__.npy"] = np.lib.format.magic(1, 0) + b"x"  # a header that is not even an .npy
    _write(model_file, members)
    _refused(model_file, "not a readable .npz file")


def test_header_dtype_is_checked_against_the_arrays(model_file):
    _with_meta(model_file, lambda m, a: m.update(dtype="float64"))
    _refused(model_file, r"array 'affine1.W' is float32 but the header's model dtype is 'float64'")


def test_header_array_specs_are_checked(model_file):
    _with_meta(model_file, lambda m, a: m["arrays"]["affine1.W"].update(dtype="object"))
    _refused(model_file, r"header entry for array 'affine1.W' must be")
    _with_meta(model_file, lambda m, a: m["arrays"]["affine1.W"].update(dtype="float32", shape=[-4, 5]))
    _refused(model_file, r"header shape of array 'affine1.W' must be up to 8 non-negative integers")


@pytest.mark.parametrize("where, value, match", [
    (("weight_decay_lambda",), float("nan"), "weight_decay_lambda must be in"),
    (("layers", 1, "config", "momentum"), float("nan"), "momentum must be in"),
    (("layers", 1, "config", "eps"), -1.0, "eps must be a positive"),
    (("layers", 1, "config", "momentum"), "fast", "momentum must be a number"),
])
def test_hyper_parameters_are_validated(model_file, where, value, match):
    def change(meta, _):
        d = meta["architecture"]
        for k in where[:-1]:
            d = d[k]
        d[where[-1]] = value
    _with_meta(model_file, change)
    _refused(model_file, match)


def test_optimizer_hyper_parameters_are_validated(model_file):
    _with_meta(model_file, lambda m, a: m["optimizer"]["config"].update(lr=float("inf")))
    _refused(model_file, "cannot restore the optimizer: lr must be a positive finite number")


def test_arrays_declared_past_the_total_cap_are_refused_before_reading(model_file, monkeypatch):
    """Every member may match its header entry and still add up to more memory than a model file
    should take: the declared total is capped (serialization.MAX_ARRAY_BYTES) before any is read."""
    _with_meta(model_file, lambda m, a: m["arrays"]["affine1.W"].update(shape=[2**20, 2**10]))  # 4 GiB float32
    msg = _refused(model_file, r"the header declares 4,29[0-9,]+ bytes of arrays, more than the 4,294,967,296")
    assert "refused before reading them" in msg
    monkeypatch.setattr(serialization, "MAX_ARRAY_BYTES", 100)  # a good file of 340 bytes of arrays
    good = serialization.save(MultiLayerNet(4, [5], 10, seed=0), model_file.with_name("g.npz"))
    _refused(good, "declares 340 bytes of arrays, more than the 100 ")
    monkeypatch.setattr(serialization, "MAX_ARRAY_BYTES", 10**6)
    assert serialization.load(good).params["affine1.W"].shape == (4, 5)


def test_a_good_file_still_loads(model_file):
    model = serialization.load(model_file)
    assert model.params["affine1.W"].flags.writeable and model.params["affine1.W"].shape == (4, 5)


def test_bomb_member_refused_with_little_memory(tmp_path):
    """A 512 MiB zeroed member in a small deflated file: refused from the zip directory (issue 14).
    Memory is asserted (peak RSS of a fresh interpreter); time is printed by tools/model_file_bomb.py."""
    path = model_file_bomb.make_bomb(tmp_path / "bomb.npz", 512, level=1)  # level 1: quicker to write
    assert path.stat().st_size < 3e6
    r = model_file_bomb.measure(path)
    assert "refused before reading it" in r["outcome"]
    assert r["maxrss_extra_kib"] < 50 * 1024 and r["tracemalloc_peak"] < 50 * 2**20


def test_evaluate_and_predict_print_a_bad_model_file_in_one_line(model_file, capsys):
    members = _members(model_file)
    members["param/affine1.W.npy"] = b"not an npy"
    _write(model_file, members)
    for argv in (["evaluate", str(model_file)], ["predict", str(model_file), "digit.png"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"nnscratch {argv[0]}: error: {model_file}: array 'param/affine1.W'")


# ---------------------------------------------------------------- data files: the shape is part of "canonical"

def _fake_mnist(tmp_path, monkeypatch, n_train=6, n_test=4):
    r = np.random.default_rng(0)
    arrays = {"train_images": r.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train_labels": r.integers(0, 10, n_train, dtype=np.uint8),
              "test_images": r.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "test_labels": r.integers(0, 10, n_test, dtype=np.uint8)}
    shapes = {k: v.shape for k, v in arrays.items()}
    monkeypatch.setitem(mnist.DATASETS, "mnist", mnist.DatasetSpec(
        "mnist", "MNIST", "mnist", {k: sample.sha256_array(v) for k, v in arrays.items()}, shapes))
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path / "root"))
    mnist.clear_cache()
    return arrays, tmp_path / "root" / "mnist"


class _Source:
    name = "fake mirror"

    def __init__(self, arrays):
        self.arrays, self.calls = arrays, []

    def fetch(self, keys, verbose=False):
        self.calls.append(tuple(keys))
        return {k: self.arrays[k].copy() for k in keys}


@pytest.mark.parametrize("lie", [(3, 56, 28), (6, 14, 56)])
def test_idx_header_lying_about_the_shape_is_refetched(tmp_path, monkeypatch, lie):
    arrays, folder = _fake_mnist(tmp_path, monkeypatch)
    for k, v in arrays.items():
        write_idx(folder / f"{sources.FILE_NAMES[k]}.gz", v)
    # the right bytes (same SHA-256) under a header that says another shape, like 30000x56x28 for MNIST
    write_idx(folder / "train-images-idx3-ubyte.gz", arrays["train_images"].reshape(lie))
    src = _Source(arrays)
    monkeypatch.setattr(sources, "SOURCES", {"mnist": [src], "fashion-mnist": []})
    with pytest.warns(mnist.DataCacheWarning, match=rf"shape \({lie[0]}, {lie[1]}, {lie[2]}\) is not the canonical"):
        (x, _), _ = mnist.load_mnist()
    assert x.shape == (6, 784) and src.calls == [("train_images",)]
    assert read_idx(folder / "train-images-idx3-ubyte.gz").shape == (6, 28, 28)  # the cache is repaired
    mnist.clear_cache()
    assert mnist.info("mnist")["complete"]


def test_real_specs_know_their_shapes():
    with pytest.raises(mnist.ChecksumError, match=r"shape \(30000, 56, 28\) is not the canonical \(60000, 28, 28\)"):
        mnist.verify_array(mnist.DATASETS["mnist"], "train_images", np.zeros((30000, 56, 28), np.uint8), "x")
    assert mnist.DATASETS["fashion-mnist"].shapes["test_labels"] == (10000,)


def test_fashion_unavailable_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(sources, "SOURCES", {"mnist": [], "fashion-mnist": []})
    mnist.clear_cache()
    with pytest.raises(mnist.DatasetUnavailableError, match="dataset-fashion-mnist"):
        mnist.load_fashion_mnist()


# ---------------------------------------------------------------- the command line

def _cli(argv, capsys):
    """Run ``nnscratch ARGV`` in-process: (exit code, stdout, stderr); argparse's SystemExit is caught."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.mark.parametrize("argv, words", [
    (["train", "--batch-size", "0"], ["--batch-size", "expected a positive integer, got '0'"]),
    (["train", "--epochs", "0"], ["--epochs", "expected a positive integer, got '0'"]),
    (["train", "--weight-decay", "nan"], ["--weight-decay", "expected a finite number >= 0, got 'nan'"]),
    (["train", "--lr", "inf"], ["--lr", "expected a positive finite number, got 'inf'"]),
    (["train", "--lr", "0"], ["--lr", "expected a positive finite number, got '0'"]),
    (["train", "--dropout", "-0.5"], ["--dropout", "expected a number in [0, 1), got '-0.5'"]),
    (["train", "--val-split", "nan"], ["--val-split", "expected a number in [0, 1), got 'nan'"]),
    (["train", "--train-size", "-1"], ["--train-size", "expected a positive integer, got '-1'"]),
    (["train", "--init", "gaussian"], ["--init", "expected a std like 0.01 or one of auto, xavier"]),
    (["predict", "--top", "0", "x.png"], ["--top", "expected a positive integer, got '0'"]),
    (["train", "--model", "simplecnn", "--dropout", "0.5"], ["--dropout applies to --model mlp or deepcnn only"]),
    (["train", "--model", "deepcnn", "--hidden", "10"], ["--hidden applies to --model mlp or twolayer only"]),
    (["train", "--model", "twolayer", "--batchnorm"], ["--batchnorm applies to --model mlp only"]),
])
def test_cli_reproducers(argv, words, capsys):
    _one_line_error(*_cli(argv, capsys)[::2], *words)


def test_cli_out_is_an_existing_file(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("x")
    _one_line_error(*_cli(["train", "--dataset", "mnist-sample", "--out", str(f)], capsys)[::2],
                    f"--out {f} is an existing file")


def test_cli_data_help_shows_no_default_for_a_flag(capsys):
    code, out, _ = _cli(["data", "--help"], capsys)
    assert code == 0 and "--no-fetch" in out and "(default: True)" not in out


def test_cli_a_real_bug_shows_its_traceback_and_says_so(monkeypatch, capsys):
    def boom(args):
        raise AttributeError("simulated bug")
    monkeypatch.setattr(models_cmd, "run", boom)
    code, _, err = _cli(["models"], capsys)
    assert code == 70 and "Traceback" in err and "AttributeError: simulated bug" in err
    assert "is a bug in nnscratch" in err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--model", "mlp", "--hidden", "16", "--dataset", "mnist-sample", "--train-size", "500",
                 "--epochs", "2", "--lr", "0.005", "--quiet", "--out", str(out)])
    assert code == 0
    return out


def test_cli_resume_restores_the_runs_options(sample_run, tmp_path, capsys):
    capsys.readouterr()
    copy = tmp_path / "checkpoint.npz"
    copy.write_bytes((sample_run / "checkpoint.npz").read_bytes())
    code, out, _ = _cli(["train", "--resume", str(copy), "--epochs", "3", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith(f"resuming {copy}: mlp on mnist-sample, epoch 2 of 3 done, optimizer adam")
    assert "changed: --epochs 3 (was 2)" in first
    assert "lr=0.005" in out and "3 epochs of batch 100" in out  # --lr and --hidden came from the checkpoint
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["test_acc"]) == 3
    # all epochs done: says so instead of silently training another run
    code, _, err = _cli(["train", "--resume", str(copy), "--out", str(tmp_path), "--quiet"], capsys)
    _one_line_error(code, err, "all 3 epochs of this run are done")


def test_cli_ctrl_c_names_the_checkpoint_and_the_resume_command(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    real = Trainer.step

    def step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 8:  # in the second epoch (5 steps of 100 per epoch)
            raise KeyboardInterrupt
        return real(self, *a, **k)
    monkeypatch.setattr(Trainer, "step", step)
    code, _, err = _cli(["train", "--model", "mlp", "--hidden", "16", "--dataset", "mnist-sample", "--train-size",
                         "500", "--epochs", "3", "--quiet", "--out", str(tmp_path)], capsys)
    assert code == 130
    ckpt = tmp_path / "checkpoint.npz"
    assert f"the last checkpoint (after epoch 1 of 3) is {ckpt}" in err
    assert f"resume with: nnscratch train --resume {ckpt}" in err
    monkeypatch.setattr(Trainer, "step", real)
    code, out, _ = _cli(["train", "--resume", str(ckpt), "--quiet"], capsys)
    assert code == 0 and "epoch 1 of 3 done" in out


def test_cli_predict_files_and_directories_reports_each_bad_one(sample_run, tmp_path, capsys):
    PIL = pytest.importorskip("PIL.Image")
    _, (x_test, _) = sample.load_mnist_sample(flatten=False)
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(3):
        PIL.fromarray((255 * x_test[i, 0]).astype(np.uint8)).save(pics / f"d{i}.png")
    (pics / "broken.png").write_bytes(b"not a picture")
    PIL.new("L", (40, 40), 0).save(pics / "blank.png")
    (pics / "notes.txt").write_text("ignored: not a picture suffix")
    code, out, err = _cli(["predict", str(sample_run / "model.npz"), str(pics), str(tmp_path / "missing.png"),
                           str(pics / "d0.png")], capsys)
    assert code == 2
    assert len(out.splitlines()) == 4  # d0, d1, d2 from the directory, and d0 again
    lines = err.strip().splitlines()
    assert any("broken.png: error:" in l for l in lines) and any("blank.png: error:" in l and "blank" in l for l in lines)
    assert any("missing.png: error: no such file" in l for l in lines)
    assert lines[-1] == "nnscratch predict: 3 of 7 inputs could not be classified" and "Traceback" not in err


def test_cli_predict_is_quiet_on_a_closed_pipe(sample_run, tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    _, (x_test, _) = sample.load_mnist_sample(flatten=False)
    for i in range(30):
        PIL.fromarray((255 * x_test[i, 0]).astype(np.uint8)).save(tmp_path / f"d{i:02d}.png")
    cmd = (f"{shlex.quote(sys.executable)} -m nnscratch predict {shlex.quote(str(sample_run / 'model.npz'))} "
           f"{shlex.quote(str(tmp_path))} | head -n 1")
    r = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True, text=True, timeout=120)
    assert len(r.stdout.splitlines()) == 1 and r.stderr == "", r.stderr


# ---------------------------------------------------------------- generated bad input (seeded, several hundred)
#
# Each case is a call that must fail as a user mistake: the API raises ValueError/TypeError whose message
# names the argument; the command line exits 2 with one line naming the option and no traceback.

BAD_SCALARS = [0, -1, 1, 2, -0.5, 0.5, 1.5, 1e300, float("nan"), float("inf"), float("-inf"), True, False,
               None, "3", b"3", [1], (2,), complex(1, 1), np.float32("nan"), np.int64(-3), np.array([1, 2])]


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


VALID = {  # kind -> is this value acceptable
    "pos_int": lambda v: _is_int(v) and v >= 1,
    "nonneg_int": lambda v: _is_int(v) and v >= 0,
    "pos_float": lambda v: _is_real(v) and np.isfinite(v) and v > 0,
    "nonneg_float": lambda v: _is_real(v) and np.isfinite(v) and v >= 0,
    "unit_open": lambda v: _is_real(v) and 0 <= v < 1,
    "unit_closed": lambda v: _is_real(v) and 0 <= v <= 1,
}

W2 = np.ones((4, 3), np.float32)
W4 = np.ones((2, 1, 3, 3), np.float32)
API_TARGETS = [  # (argument name, kind, call(value))
    ("lr", "pos_float", lambda v: SGD(lr=v)),
    ("weight_decay", "nonneg_float", lambda v: SGD(lr=0.1, weight_decay=v)),
    ("momentum", "unit_open", lambda v: Momentum(momentum=v)),
    ("beta1", "unit_open", lambda v: Adam(beta1=v)),
    ("beta2", "unit_open", lambda v: Adam(beta2=v)),
    ("eps", "nonneg_float", lambda v: Adam(eps=v)),
    ("decay_rate", "unit_open", lambda v: RMSprop(decay_rate=v)),
    ("step_size", "pos_int", lambda v: StepDecay(0.1, v)),
    ("gamma", "nonneg_float", lambda v: StepDecay(0.1, 10, v)),
    ("total_steps", "pos_int", lambda v: CosineDecay(0.1, v)),
    ("min_lr", "nonneg_float", lambda v: CosineDecay(0.1, 10, v)),
    ("stride", "pos_int", lambda v: Convolution(W4, np.zeros(2), stride=v)),
    ("pad", "nonneg_int", lambda v: Convolution(W4, np.zeros(2), pad=v)),
    ("pool_h", "pos_int", lambda v: Pooling(v, 2)),
    ("dropout_ratio", "unit_open", lambda v: Dropout(v)),
    ("momentum", "unit_closed", lambda v: BatchNormalization(np.ones(3), np.zeros(3), momentum=v)),
    ("eps", "pos_float", lambda v: BatchNormalization(np.ones(3), np.zeros(3), eps=v)),
    ("weight_decay_lambda", "nonneg_float", lambda v: MultiLayerNet(4, [3], 2, weight_decay_lambda=v)),
    ("batch_size", "pos_int", lambda v: MultiLayerNet(4, [3], 10, seed=0).accuracy(X4, [0, 1, 2, 3], batch_size=v)),
    ("num_classes", "pos_int", lambda v: one_hot([0, 1], v)),
    ("epochs", "nonneg_int", lambda v: Trainer(MultiLayerNet(4, [3], 10), X4, [0, 1, 2, 3], epochs=v, verbose=False)),
    ("mini_batch_size", "pos_int",
     lambda v: Trainer(MultiLayerNet(4, [3], 10), X4, [0, 1, 2, 3], mini_batch_size=v, verbose=False)),
    ("eval_batch_size", "pos_int",
     lambda v: Trainer(MultiLayerNet(4, [3], 10), X4, [0, 1, 2, 3], eval_batch_size=v, verbose=False)),
]


def _bad_labels(rng, n=4, classes=10):
    """A random label array that is wrong in one way: range, fraction, NaN, rank, width, length, dtype."""
    kind = rng.integers(8)
    if kind == 0:
        t = rng.integers(0, classes, n)
        t[rng.integers(n)] = rng.choice([-1, classes, classes + rng.integers(1, 1000), -rng.integers(2, 1000)])
        return t
    if kind == 1:
        return rng.integers(0, classes, n) + rng.choice([0.25, 0.5, 0.75])
    if kind == 2:
        t = rng.integers(0, classes, n).astype(float)
        t[rng.integers(n)] = rng.choice([np.nan, np.inf, -np.inf])
        return t
    if kind == 3:
        return rng.integers(0, classes, (n, 2, int(rng.integers(1, 4))))
    if kind == 4:
        return np.eye(int(rng.choice([2, 3, 9, 11, 12])))[rng.integers(0, 2, n)]
    if kind == 5:
        return rng.integers(0, classes, int(rng.choice([n - 1, n + 1, 1, 2 * n])))
    if kind == 6:
        return rng.integers(0, 2, n).astype(bool)
    return np.array([str(i) for i in rng.integers(0, classes, n)])


def _api_cases():
    cases = [(f"{name}={v!r}", name, lambda c=call, v=v: c(v))
             for name, kind, call in API_TARGETS for v in BAD_SCALARS if not VALID[kind](v)]
    rng = np.random.default_rng(14)
    net = MultiLayerNet(4, [3], 10, seed=0)
    for i in range(60):
        t = _bad_labels(rng)
        where = i % 3
        if where == 0:
            cases.append((f"accuracy t#{i}", "t", lambda t=t: net.accuracy(X4, t)))
        elif where == 1:
            cases.append((f"loss t#{i}", "t", lambda t=t: net.loss(X4, t)))
        else:
            cases.append((f"Trainer t_test#{i}", "t_test",
                          lambda t=t: Trainer(MultiLayerNet(4, [3], 10), X4, [0, 1, 2, 3], X4, t, verbose=False)))
    for dt in ("complex64", "complex128", "datetime64[s]", "timedelta64[ms]", "object", "U3", "S2"):
        x = np.zeros((4, 4), dtype=dt)
        cases.append((f"predict x {dt}", "x", lambda x=x: net.predict(x)))
        cases.append((f"Trainer x_train {dt}", "x_train",
                      lambda x=x: Trainer(MultiLayerNet(4, [3], 10), x, [0, 1, 2, 3], verbose=False)))
    return cases


API_CASES = _api_cases()


@pytest.mark.parametrize("label, name, call", API_CASES, ids=[c[0] for c in API_CASES])
def test_generated_api_case(label, name, call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert name in str(info.value), (label, str(info.value))


CLI_TEXTS = ["0", "-1", "1", "2", "-0.5", "0.5", "1.5", "nan", "inf", "-inf", "1e999", "abc", "", "0x10", "3.0",
             "1,2", "1e-3", " ", "+7", "99999999999999999999"]


def _text_valid(kind, text):
    try:
        v = int(text) if kind.endswith("int") else float(text)
    except ValueError:
        return False
    if kind == "port":
        return 0 <= v <= 65535
    if kind == "open_unit":
        return 0 < v < 1
    if kind == "finite":
        return bool(np.isfinite(v))
    return VALID[kind](v)


CLI_OPTIONS = [  # (command words before, option, kind, words after)
    (["train"], "--epochs", "pos_int", []),
    (["train"], "--batch-size", "pos_int", []),
    (["train"], "--lr", "pos_float", []),
    (["train"], "--weight-decay", "nonneg_float", []),
    (["train"], "--dropout", "unit_open", []),
    (["train"], "--seed", "nonneg_int", []),
    (["train"], "--train-size", "pos_int", []),
    (["train"], "--val-split", "unit_open", []),
    (["train"], "--eval-samples", "nonneg_int", []),
    (["predict"], "--top", "pos_int", ["x.png"]),
    (["tune"], "--trials", "pos_int", []),
    (["tune"], "--workers", "pos_int", []),
    (["tune"], "--epochs", "pos_int", []),
    (["tune"], "--val-ratio", "open_unit", []),
    (["tune"], "--batch-size", "pos_int", []),
    (["tune"], "--heartbeat", "pos_int", []),
    (["serve"], "--port", "port", []),
    (["serve"], "--blas-threads", "pos_int", []),
    (["export"], "--opset", "pos_int", ["m.onnx"]),
    (["experiment"], "--seed", "nonneg_int", ["all"]),
]


def _cli_cases():
    cases = [(before + [f"{opt}={text}"] + after, opt)
             for before, opt, kind, after in CLI_OPTIONS for text in CLI_TEXTS if not _text_valid(kind, text)]
    cases += [(["tune", f"--lr-range={a}", b], "--lr-range") for a, b in (("nan", "1"), ("inf", "-2"), ("x", "1"))]
    for model in ("twolayer", "simplecnn", "deepcnn"):
        for opt, value in (("--weight-decay", "0.1"), ("--dropout", "0.2"), ("--batchnorm", None),
                           ("--activation", "tanh"), ("--hidden", "10")):
            if (opt, model) in (("--hidden", "twolayer"), ("--dropout", "deepcnn")):  # the models use them
                continue
            cases.append((["train", "--model", model, opt] + ([value] if value else []), opt))
    cases += [(["train", "--init", text], "--init") for text in ("gaussian", "0", "-0.01", "nan", "inf", "")]
    cases += [(["train", "--hidden", text], "--hidden") for text in ("0", "10,-1", "a,b", "", "10,0")]
    cases += [(["train", "--model", "resnet"], "--model"), (["train", "--optimizer", "lbfgs"], "--optimizer"),
              (["train", "--epochs"], "--epochs"), (["evaluate", "--dataset", "cifar"], "--dataset")]
    return cases


CLI_CASES = _cli_cases()


@pytest.mark.parametrize("argv, option", CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_generated_cli_case(argv, option, capsys):
    code, _, err = _cli(argv, capsys)
    _one_line_error(code, err, option)


def test_generated_case_count():
    """The count the issue asks for: several hundred (printed with -s)."""
    print(f"bad-input cases: {len(API_CASES)} API + {len(CLI_CASES)} command line = {len(API_CASES) + len(CLI_CASES)}")
    assert len(API_CASES) + len(CLI_CASES) >= 400


def test_numpy_only_install_skips_figures_with_one_line(sample_run, monkeypatch, capsys):
    """Without matplotlib, evaluate still prints its numbers and names the extra for the figure."""
    def no_matplotlib(*a, **k):
        raise ImportError("figures need matplotlib: pip install 'nnscratch[plot]'")
    monkeypatch.setattr(evaluate_cmd, "plot_confusion", no_matplotlib)
    code, out, _ = _cli(["evaluate", str(sample_run / "model.npz")], capsys)
    assert code == 0 and "test accuracy" in out
    assert "confusion matrix: skipped (figures need matplotlib: pip install 'nnscratch[plot]')" in out
