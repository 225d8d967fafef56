"""SoftmaxWithLoss and MeanSquaredLoss: gradients, torch parity, honest errors, dtypes."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch import functions
from nnscratch.layers import LAYER_REGISTRY, MeanSquaredLoss, SoftmaxWithLoss


def labels_and_onehot(rng: np.random.Generator, n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    t = rng.integers(0, c, size=n)
    return t, np.eye(c)[t]


@pytest.mark.parametrize("onehot", [False, True])
def test_softmax_gradient_check(onehot, rng, grad_errors):
    t, t1 = labels_and_onehot(rng, 6, 4)
    errors = grad_errors(SoftmaxWithLoss(), rng.standard_normal((6, 4)) * 2, t1 if onehot else t)
    assert errors["x"] < 1e-6, errors


def test_softmax_values(rng):
    x = rng.standard_normal((5, 3))
    t, t1 = labels_and_onehot(rng, 5, 3)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, functions.cross_entropy_error(functions.softmax(x), t), rtol=1e-12)
    np.testing.assert_allclose(layer.y, functions.softmax(x), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(), (layer.y - t1) / 5, rtol=1e-12)
    np.testing.assert_allclose(layer.backward(2.0), 2 * (layer.y - t1) / 5, rtol=1e-12)
    assert layer.forward(x, t1) == pytest.approx(loss, rel=1e-12)
    single = SoftmaxWithLoss()
    assert single.forward(x[0], t[0]) == pytest.approx(functions.softmax_cross_entropy(x[:1], t[:1]), rel=1e-12)
    assert single.backward().shape == (3,)


def test_softmax_finite_for_huge_scores():
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([[1000.0, -1000.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(2000.0)
    assert np.all(np.isfinite(layer.backward()))


def test_softmax_torch_parity(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((10, 7)) * 3
    t = rng.integers(0, 7, size=10)
    layer = SoftmaxWithLoss()
    loss, dx = layer.forward(x, t), layer.backward(1.0)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction="mean")
    lt.backward()
    assert abs(loss - lt.item()) < 1e-10
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.y, torch.softmax(xt, dim=1).detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.4])
def test_label_smoothing_matches_torch_and_gradient_checks(eps, rng, grad_errors):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((10, 7)) * 3
    t = rng.integers(0, 7, size=10)
    layer = SoftmaxWithLoss(label_smoothing=eps)
    loss, dx = layer.forward(x, t), layer.backward(1.0)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=eps)
    lt.backward()
    assert abs(loss - lt.item()) < 1e-10
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    q = (1 - eps) * np.eye(7)[t] + eps / 7  # the smoothed target, by definition
    assert loss == pytest.approx(-(q * np.log(functions.softmax(x))).sum() / 10, rel=1e-12)
    errors = grad_errors(SoftmaxWithLoss(label_smoothing=eps), x, t)
    assert errors["x"] < 1e-6, errors


def test_label_smoothing_config_round_trip_and_bad_values():
    layer = SoftmaxWithLoss(label_smoothing=0.1)
    assert layer.get_config() == {"label_smoothing": 0.1} and SoftmaxWithLoss().get_config() == {}
    assert LAYER_REGISTRY["SoftmaxWithLoss"](**layer.get_config()).label_smoothing == 0.1
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="label_smoothing"):
            SoftmaxWithLoss(label_smoothing=bad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_softmax_rejects_non_finite_scores(bad, rng):
    x = rng.standard_normal((3, 4))
    x[1, 2] = bad
    with pytest.raises(ValueError, match="non-finite.*diverged.*learning rate"):
        SoftmaxWithLoss().forward(x, np.array([0, 1, 2]))


def test_softmax_rejects_non_finite_loss():
    x = np.array([[1e308, -1e308]])  # finite scores whose log-sum-exp overflows
    with pytest.raises(ValueError, match="non-finite"):
        SoftmaxWithLoss().forward(x, np.array([1]))


@pytest.mark.parametrize("t, match", [
    (np.array([0, 1, 4]), r"\[0, 3\].*4"),
    (np.array([0, -1, 2]), r"\[0, 3\]"),
    (np.array([0, 1]), r"2 labels.*3"),
    (np.eye(3), r"\(3, 4\).*\(3, 3\)"),
])
def test_softmax_rejects_bad_labels(t, match, rng):
    with pytest.raises(ValueError, match=match):
        SoftmaxWithLoss().forward(rng.standard_normal((3, 4)), t)


def test_softmax_backward_before_forward():
    with pytest.raises(RuntimeError, match="before"):
        SoftmaxWithLoss().backward()


@pytest.mark.parametrize("shape", [(6, 3), (4,)])
def test_mse_gradient_check(shape, rng, grad_errors):
    errors = grad_errors(MeanSquaredLoss(), rng.standard_normal(shape), rng.standard_normal(shape))
    assert errors["x"] < 1e-6, errors


def test_mse_values(rng):
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer = MeanSquaredLoss()
    assert layer.forward(x, t) == pytest.approx(0.5 * np.sum((x - t) ** 2) / 4, rel=1e-12)
    assert layer.forward(x, t) == pytest.approx(float(functions.mean_squared_error(x, t)), rel=1e-12)
    np.testing.assert_allclose(layer.backward(), (x - t) / 4, rtol=1e-12)
    assert layer.y is x
    labels = np.array([0, 2, 1, 1])
    assert layer.forward(x, labels) == pytest.approx(0.5 * np.sum((x - np.eye(3)[labels]) ** 2) / 4)


def test_mse_torch_parity(rng):
    torch = pytest.importorskip("torch")
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    layer = MeanSquaredLoss()
    loss, dx = layer.forward(x, t), layer.backward()
    xt = torch.tensor(x, requires_grad=True)
    lt = 0.5 * torch.nn.functional.mse_loss(xt, torch.tensor(t), reduction="sum") / 5
    lt.backward()
    assert abs(loss - lt.item()) < 1e-10
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)


def test_mse_errors(rng):
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        MeanSquaredLoss().forward(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        MeanSquaredLoss().forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="non-finite"):
        MeanSquaredLoss().forward(np.array([[np.nan, 0.0]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        MeanSquaredLoss().forward(np.zeros((1, 2)), np.array([[np.inf, 0.0]]))


@pytest.mark.parametrize("cls", [SoftmaxWithLoss, MeanSquaredLoss])
def test_float32_stays_float32(cls, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    layer = cls()
    loss = layer.forward(x, np.array([0, 1, 2, 0]))
    dx = layer.backward(1.0)
    assert isinstance(loss, float) and np.isfinite(loss)
    assert layer.y.dtype == np.float32 and dx.dtype == np.float32
    assert cls().forward(x.astype(np.float64), np.array([0, 1, 2, 0])) == pytest.approx(loss, rel=1e-5)


@pytest.mark.parametrize("cls", [SoftmaxWithLoss, MeanSquaredLoss])
def test_contract(cls, rng):
    layer = cls()
    assert cls.prefix == "loss" and LAYER_REGISTRY[cls.__name__] is cls
    assert layer.params == {} and layer.buffers == {}
    rebuilt = cls(**layer.get_config(), **layer.params, **layer.buffers)
    x, t = rng.standard_normal((3, 4)), np.array([0, 3, 1])
    assert rebuilt.forward(x, t) == layer.forward(x, t)


@pytest.mark.parametrize("cls", [SoftmaxWithLoss, MeanSquaredLoss])
def test_call_takes_targets(cls, rng):
    x, t = rng.standard_normal((3, 4)), np.array([0, 3, 1])
    assert cls()(x, t) == cls().forward(x, t)
