"""BatchNormalization: gradients (2-D and 4-D), torch parity incl. running stats, modes, dtypes."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch.layers import LAYER_REGISTRY, BatchNormalization


def make_bn(rng: np.random.Generator, c: int, dtype=np.float64, **kw) -> BatchNormalization:
    gamma = (1.0 + 0.5 * rng.standard_normal(c)).astype(dtype)
    return BatchNormalization(gamma, (0.5 * rng.standard_normal(c)).astype(dtype), **kw)


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 3, 3)])
@pytest.mark.parametrize("train", [True, False])
def test_gradient_check(shape, train, rng, grad_errors):
    layer = make_bn(rng, shape[1], eps=1e-5)
    if not train:  # non-trivial running statistics
        layer.forward(rng.standard_normal(shape) * 2 + 1)
    errors = grad_errors(layer, rng.standard_normal(shape) * 3 + 1, train=train)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("shape", [(16, 5), (6, 4, 5, 3)])
def test_train_output_is_normalised_per_channel(shape, rng):
    c = shape[1]
    layer = BatchNormalization(np.ones(c), np.zeros(c))
    out = layer.forward(rng.standard_normal(shape) * 4 + 3)
    axes = (0,) + tuple(range(2, len(shape)))
    np.testing.assert_allclose(out.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=axes), 1, atol=1e-6)


@pytest.mark.parametrize("shape", [(12, 4), (5, 3, 4, 2)])
def test_torch_parity(shape, rng):
    torch = pytest.importorskip("torch")
    c, eps, momentum = shape[1], 1e-5, 0.9
    layer = make_bn(rng, c, eps=eps, momentum=momentum, unbiased_running_var=True)
    tbn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(
        c, eps=eps, momentum=1 - momentum, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(layer.params["gamma"]))
        tbn.bias.copy_(torch.tensor(layer.params["beta"]))

    def compare(train: bool) -> None:
        tbn.train(train)
        x = rng.standard_normal(shape) * 2 + 0.5
        dout = rng.standard_normal(shape)
        out, dx = layer.forward(x, train=train), layer.backward(dout)
        xt = torch.tensor(x, requires_grad=True)
        tbn.zero_grad()
        yt = tbn(xt)
        yt.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.grads["gamma"], tbn.weight.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.grads["beta"], tbn.bias.grad.numpy(), rtol=0, atol=1e-10)

    for _ in range(5):
        compare(train=True)
    np.testing.assert_allclose(layer.running_mean, tbn.running_mean.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.running_var, tbn.running_var.numpy(), rtol=0, atol=1e-10)
    assert not np.allclose(layer.running_var, 1.0)
    compare(train=False)


def test_book_running_stats_use_biased_variance(rng):
    x = rng.standard_normal((6, 3)) * 2 + 1
    layer = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.8)
    rm, rv = layer.running_mean, layer.running_var
    layer.forward(x)
    np.testing.assert_allclose(rm, 0.2 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.8 + 0.2 * x.var(axis=0), rtol=1e-12)
    assert layer.running_mean is rm and layer.buffers["running_var"] is rv  # updated in place
    unbiased = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.8, unbiased_running_var=True)
    unbiased.forward(x)
    np.testing.assert_allclose(unbiased.running_var, 0.8 + 0.2 * x.var(axis=0, ddof=1), rtol=1e-12)


def test_eval_uses_running_stats_and_leaves_them_alone(rng):
    layer = BatchNormalization(np.full(3, 2.0), np.full(3, 0.5), eps=1e-7,
                               running_mean=np.array([1.0, 0.0, -1.0]), running_var=np.array([4.0, 1.0, 0.25]))
    x = rng.standard_normal((5, 3))
    out = layer.forward(x, train=False)
    expected = 2.0 * (x - [1.0, 0.0, -1.0]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-7) + 0.5
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, [1.0, 0.0, -1.0])
    np.testing.assert_array_equal(layer.running_var, [4.0, 1.0, 0.25])


def test_buffers_exist_from_the_start_and_params_are_not_rebound(rng):
    gamma, beta = np.ones(4), np.zeros(4)
    layer = BatchNormalization(gamma, beta)
    np.testing.assert_array_equal(layer.buffers["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(layer.buffers["running_var"], np.ones(4))
    layer.forward(rng.standard_normal((3, 4)))
    layer.backward(np.ones((3, 4)))
    assert layer.params["gamma"] is gamma and layer.params["beta"] is beta
    gamma *= 3.0  # an in-place optimizer step is seen by the next forward
    assert np.allclose(layer.forward(np.array([[1.0, 2, 3, 4], [3, 4, 1, 0]])).std(axis=0), 3.0, rtol=1e-6)


def test_bad_input(rng):
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    for bad in [(4, 5), (2, 4, 3, 3), (3,)]:
        with pytest.raises(ValueError, match=r"\(3,\).*" + r"\(" + str(bad[0])):
            layer.forward(rng.standard_normal(bad))
    with pytest.raises(ValueError, match="empty"):
        layer.forward(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        BatchNormalization(np.ones(3), np.zeros(4))
    with pytest.raises(ValueError, match="1-D"):
        BatchNormalization(np.ones((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        BatchNormalization(np.ones(3), np.zeros(3), running_var=np.ones(2))
    with pytest.raises(ValueError, match="eps"):
        BatchNormalization(np.ones(3), np.zeros(3), eps=0.0)
    with pytest.raises(RuntimeError, match="before"):
        layer.backward(np.ones((2, 3)))
    assert layer.output_shape((3, 4, 4)) == (3, 4, 4)
    with pytest.raises(ValueError):
        layer.output_shape((4,))


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 4)])
@pytest.mark.parametrize("train", [True, False])
def test_float32_stays_float32(shape, train, rng):
    layer = make_bn(rng, 3, dtype=np.float32)
    out = layer.forward(rng.standard_normal(shape).astype(np.float32), train=train)
    dx = layer.backward(np.ones(shape, dtype=np.float32))
    assert out.dtype == np.float32 and dx.dtype == np.float32
    assert all(a.dtype == np.float32 for a in [*layer.grads.values(), *layer.buffers.values()])


def test_rebuild_from_config(rng):
    layer = make_bn(rng, 3, momentum=0.7, eps=1e-4, unbiased_running_var=True)
    for _ in range(3):
        layer.forward(rng.standard_normal((4, 3, 2, 2)))
    cfg = layer.get_config()
    assert cfg == {"momentum": 0.7, "eps": 1e-4, "unbiased_running_var": True}
    rebuilt = BatchNormalization(**cfg, **layer.params, **layer.buffers)
    x = rng.standard_normal((5, 3, 2, 2))
    np.testing.assert_array_equal(rebuilt.forward(x, train=False), layer.forward(x, train=False))
    np.testing.assert_array_equal(rebuilt.forward(x, train=True), layer.forward(x, train=True))
    np.testing.assert_array_equal(rebuilt.running_mean, layer.running_mean)
    assert BatchNormalization.prefix == "batchnorm" and LAYER_REGISTRY["BatchNormalization"] is BatchNormalization
