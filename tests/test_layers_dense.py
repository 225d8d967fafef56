"""Affine: gradient checks for any input rank, torch parity, shape errors, in-place params, dtypes."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch.layers import Affine


def make_affine(rng: np.random.Generator, d_in: int, d_out: int, dtype=np.float64) -> Affine:
    return Affine(rng.standard_normal((d_in, d_out)).astype(dtype), rng.standard_normal(d_out).astype(dtype))


@pytest.mark.parametrize("shape", [(4, 6), (3, 2, 3), (2, 2, 3, 1), (6,)])
def test_gradient_check_any_rank(shape, rng, grad_errors):
    layer = make_affine(rng, 6, 5)
    errors = grad_errors(layer, rng.standard_normal(shape))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < 1e-6, errors


def test_values_and_shapes(rng):
    layer = make_affine(rng, 12, 4)
    x = rng.standard_normal((5, 3, 2, 2))
    out = layer.forward(x)
    np.testing.assert_allclose(out, x.reshape(5, 12) @ layer.W + layer.b, rtol=1e-12)
    assert out.shape == (5, 4)
    dx = layer.backward(np.ones((5, 4)))
    assert dx.shape == x.shape
    assert layer.grads["W"].shape == (12, 4) and layer.grads["b"].shape == (4,)
    one = layer.forward(x[0].reshape(-1))
    assert one.shape == (4,) and layer.backward(np.ones(4)).shape == (12,)
    np.testing.assert_allclose(one, out[0], rtol=1e-12)


def test_torch_parity(rng):
    torch = pytest.importorskip("torch")
    layer = make_affine(rng, 7, 3)
    x = rng.standard_normal((9, 7))
    dout = rng.standard_normal((9, 3))
    out, dx = layer.forward(x), layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.W.T.copy(), requires_grad=True)  # torch stores (out, in)
    bt = torch.tensor(layer.b, requires_grad=True)
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads["W"], wt.grad.numpy().T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(32, 100), (32, 10, 10, 2), (100,)])
def test_wrong_feature_count_names_both_shapes(shape, rng):
    layer = Affine(np.zeros((784, 100)), np.zeros(100))
    with pytest.raises(ValueError) as exc:
        layer.forward(rng.standard_normal(shape))
    msg = str(exc.value)
    assert "784" in msg and "784x100" in msg and str(shape) in msg


def test_bad_constructor_and_dout():
    with pytest.raises(ValueError, match=r"2-D"):
        Affine(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        Affine(np.zeros((2, 3)), np.zeros(4))
    layer = Affine(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(RuntimeError, match="before"):
        layer.backward(np.zeros((1, 3)))
    layer.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        layer.backward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        layer.output_shape((3, 4))
    assert layer.output_shape((2,)) == (3,) and layer.output_shape((1, 2)) == (3,)


def test_params_are_never_rebound(rng):
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    x = rng.standard_normal((2, 4))
    layer.forward(x)
    layer.backward(np.ones((2, 3)))
    assert layer.params["W"] is W and layer.params["b"] is b
    W -= 1.0  # an optimizer's in-place update must be what the next forward sees
    np.testing.assert_allclose(layer.forward(x), x @ (layer.W) + b, rtol=1e-12)
    assert layer.W is W


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_params(dtype, rng):
    layer = make_affine(rng, 4, 3, dtype)
    for x_dtype in (np.float32, np.float64, np.uint8):
        out = layer.forward((rng.random((2, 4)) * 5).astype(x_dtype))
        dx = layer.backward(np.ones((2, 3), dtype=np.float64))
        assert out.dtype == dtype and dx.dtype == dtype
        assert layer.grads["W"].dtype == dtype and layer.grads["b"].dtype == dtype
    assert Affine(np.zeros((2, 2), np.float32), np.zeros(2)).b.dtype == np.float32


def test_rebuild_from_config(rng):
    layer = make_affine(rng, 5, 2)
    rebuilt = type(layer)(**layer.get_config(), **layer.params, **layer.buffers)
    x = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(rebuilt.forward(x), layer.forward(x))
    assert layer.prefix == "affine" and layer.get_config() == {}
    assert "W(5, 2)" in repr(layer)
