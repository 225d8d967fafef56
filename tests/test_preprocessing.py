"""Preprocessing (ch. 3.6.2-3.6.3): standardisation and whitening fitted on training data, and their layer."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch import serialization
from nnscratch.datasets import load_mnist, load_mnist_sample
from nnscratch.datasets.mnist import info
from nnscratch.layers import Preprocess
from nnscratch.models import MultiLayerNet, SimpleConvNet
from nnscratch.preprocessing import Normalize, Standardize, Whiten, make_preprocessor, normalize, standardize, whiten
from nnscratch.training import Trainer


def _mnist() -> tuple[str, tuple[np.ndarray, np.ndarray]]:
    """The full MNIST images when they are in the cache (no download in a unit test), else the shipped sample."""
    if info("mnist")["complete"]:
        (x, _), (xt, _) = load_mnist(normalize=True, flatten=True)
        return "mnist", (x, xt)
    (x, _), (xt, _) = load_mnist_sample(normalize=True, flatten=True)
    return "mnist-sample", (x, xt)


def test_standardize_mnist_training_images_zero_mean_unit_std():
    name, (x, xt) = _mnist()
    s = Standardize().fit(x)
    z = s.transform(x.astype(np.float64))
    mean, std = z.mean(axis=0), z.std(axis=0)
    varying = x.std(axis=0, dtype=np.float64) > 0
    print(f"\n{name}: {len(x)} images, {int(varying.sum())} of {x.shape[1]} pixels vary; "
          f"max |mean| {np.abs(mean[varying]).max():.2e}, max |std - 1| {np.abs(std[varying] - 1).max():.2e}")
    assert np.abs(mean[varying]).max() < 1e-6
    assert np.abs(std[varying] - 1).max() < 1e-4
    assert np.all(z[:, ~varying] == 0)  # constant pixels stay 0, no division by 0
    # the test set uses the training statistics: close to, but not exactly, standardised
    zt = s.transform(xt.astype(np.float64))
    np.testing.assert_allclose(zt, (xt - s.mean) * s.scale)
    assert 0 < np.abs(zt.mean(axis=0)[varying]).max()
    f32 = s.transform(x)
    assert f32.dtype == np.float32 and np.abs(f32.astype(np.float64).mean(axis=0)[varying]).max() < 1e-5


def test_zca_whitened_covariance_is_identity_on_the_whitened_subspace():
    name, (x, _) = _mnist()
    sample = x[np.random.default_rng(0).choice(len(x), 5000, replace=False)].astype(np.float64)
    w = Whiten("zca", epsilon=1e-9).fit(sample)
    y = w.transform(sample)
    cov = np.cov(y, rowvar=False, bias=True)
    U = w.components  # the directions with non-negligible variance
    on_subspace = U.T @ cov @ U
    err = np.abs(on_subspace - np.eye(w.n_whitened)).max()
    print(f"\n{name}: ZCA of 5000 images, whitened subspace {w.n_whitened} of 784 dims, "
          f"max |U^T C U - I| = {err:.2e}")
    assert err < 1e-3
    assert w.n_whitened > 500
    # ZCA is symmetric and keeps each digit a picture; PCA whitening gives the same covariance in the eigenbasis
    np.testing.assert_allclose(w.matrix, w.matrix.T, atol=1e-8)
    p = Whiten("pca", epsilon=1e-9).fit(sample)
    cp = np.cov(p.transform(sample), rowvar=False, bias=True)[: p.n_whitened, : p.n_whitened]
    assert np.abs(cp - np.eye(p.n_whitened)).max() < 1e-3


def test_whiten_epsilon_damps_small_directions(rng):
    x = rng.normal(size=(2000, 5)) * np.array([3.0, 1.0, 0.3, 0.1, 0.01])
    for eps in (0.0, 1e-2):
        w = Whiten("pca", epsilon=eps).fit(x)
        var = np.var(w.transform(x), axis=0)
        np.testing.assert_allclose(var, w.eigenvalues / (w.eigenvalues + eps), rtol=1e-6)
    with pytest.raises(ValueError, match="n_components"):
        Whiten("zca", n_components=3)
    assert Whiten("pca", n_components=2).fit(x).transform(x).shape == (2000, 2)


def test_normalize_and_functional_forms(rng):
    raw = rng.integers(0, 256, size=(50, 1, 4, 4)).astype(np.uint8)
    np.testing.assert_allclose(normalize(raw), raw / 255.0, rtol=1e-6)
    m = Normalize("minmax").fit(raw)
    y = m.transform(raw)
    assert y.shape == raw.shape and y.min() == 0.0 and y.max() == pytest.approx(1.0)
    a, b = standardize(raw[:40].astype(np.float64), raw[40:].astype(np.float64))
    np.testing.assert_allclose(a.reshape(40, -1).mean(axis=0), 0, atol=1e-12)
    assert b.shape == (10, 1, 4, 4)
    assert whiten(raw.astype(np.float64) / 255).shape == raw.shape
    assert make_preprocessor("none") is None
    with pytest.raises(ValueError, match="preprocess"):
        make_preprocessor("zscore")
    with pytest.raises(RuntimeError, match="before fit"):
        Standardize().transform(raw)
    with pytest.raises(ValueError, match="fitted on 16"):
        Standardize().fit(raw).transform(np.zeros((2, 3)))


@pytest.mark.parametrize("pre", [Standardize(), Whiten("zca", epsilon=1e-2), Whiten("pca", n_components=6)])
def test_preprocess_layer_gradient(pre, rng, grad_errors):
    x = rng.normal(size=(30, 3, 2, 2)) if pre.method != "whiten" or pre.kind == "zca" else rng.normal(size=(30, 12))
    layer = Preprocess.from_preprocessor(pre.fit(x), dtype="float64")
    errs = grad_errors(layer, x[:4])
    assert max(errs.values()) < 1e-7, errs


def test_trainer_preprocess_is_saved_with_the_model(tmp_path):
    (x, t), (xt, tt) = load_mnist_sample(flatten=True)
    net = MultiLayerNet(784, [50], 10, seed=0)
    trainer = Trainer(net, x[:500], t[:500], xt, tt, epochs=2, optimizer="adam", optimizer_param={"lr": 1e-3},
                      verbose=False, seed=0, preprocess="standardize")
    trainer.train()
    assert list(net.layers)[0] == "preprocess1"
    s = Standardize().fit(x[:500])
    np.testing.assert_allclose(net.layers["preprocess1"].buffers["mean"], s.mean, rtol=1e-6)
    path = serialization.save(net, tmp_path / "m.npz")
    back = serialization.load(path)
    assert isinstance(back.layers["preprocess1"], Preprocess)
    np.testing.assert_allclose(back.predict(xt[:100]), net.predict(xt[:100]), rtol=1e-5, atol=1e-6)
    assert back.accuracy(xt, tt) == pytest.approx(net.accuracy(xt, tt))


def test_trainer_whiten_convnet(tmp_path):
    (x, t), (xt, tt) = load_mnist_sample(flatten=False)
    net = SimpleConvNet(seed=0)
    Trainer(net, x[:200], t[:200], xt[:100], tt[:100], epochs=1, optimizer="adam", optimizer_param={"lr": 1e-3},
            verbose=False, seed=0, preprocess=Whiten(epsilon=1e-2)).train()
    layer = net.layers["preprocess1"]
    assert layer.buffers["matrix"].shape == (784, 784) and layer.config["kind"] == "zca"
    assert net.predict(xt[:5]).shape == (5, 10)


@pytest.mark.parametrize("method", ["standardize", "whiten"])
def test_cli_train_preprocess_then_evaluate_applies_it(tmp_path, capsys, method):
    import json

    from nnscratch.cli import main

    out = tmp_path / method
    assert main(["train", "--model", "mlp", "--hidden", "32", "--dataset", "mnist-sample", "--epochs", "3",
                 "--lr", "0.003", "--train-size", "1000", "--preprocess", method, "--quiet", "--out", str(out)]) == 0
    model = serialization.load(out / "model.npz")
    assert isinstance(model.layers["preprocess1"], Preprocess)
    assert model.layers["preprocess1"].config["method"] == method
    trained_acc = serialization.read_header(out / "model.npz")["extra"]["test_acc"]
    assert main(["evaluate", str(out / "model.npz")]) == 0
    assert json.loads((out / "evaluation.json").read_text())["accuracy"] == pytest.approx(trained_acc)
    assert trained_acc > 0.6  # it learned: chance is 0.1
