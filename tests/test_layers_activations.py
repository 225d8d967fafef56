"""Relu, Sigmoid, Tanh: gradient checks, torch parity, no in-place mutation, dtypes."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch.layers import LAYER_REGISTRY, Relu, Sigmoid, Tanh

ACTIVATIONS = [Relu, Sigmoid, Tanh]


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal samples pushed away from ReLU's kink at 0 so central differences are exact."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * 0.1


@pytest.mark.parametrize("cls", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 4, 4)])
def test_gradient_check(cls, shape, rng, grad_errors):
    errors = grad_errors(cls(), away_from_zero(rng, shape))
    assert set(errors) == {"x"}
    assert errors["x"] < 1e-6, errors


def test_relu_values_and_grad(rng):
    x = np.array([[-2.0, 0.0, 3.0], [1.5, -0.5, 0.0]])
    layer = Relu()
    np.testing.assert_array_equal(layer.forward(x), [[0, 0, 3], [1.5, 0, 0]])
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), [[0, 0, 2], [2, 0, 0]])


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_does_not_modify_input_or_dout(cls, rng):
    x = rng.standard_normal((6, 5))
    dout = rng.standard_normal((6, 5))
    x0, dout0 = x.copy(), dout.copy()
    layer = cls()
    out = layer.forward(x)
    dx = layer.backward(dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)
    assert not np.shares_memory(out, x) and not np.shares_memory(dx, dout)



@pytest.mark.parametrize("name", ["Relu", "Sigmoid", "Tanh"])
def test_torch_parity(name, rng):
    torch = pytest.importorskip("torch")
    fn = {"Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh}[name]
    x = rng.standard_normal((8, 6)) * 3
    x[0, :2] = [40.0, -40.0]  # saturated sigmoid/tanh
    dout = rng.standard_normal((8, 6))
    layer = LAYER_REGISTRY[name]()
    out, dx = layer.forward(x), layer.backward(dout)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = fn(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("cls", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(cls, dtype, rng):
    x = rng.standard_normal((4, 3)).astype(dtype)
    layer = cls()
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dtype and dx.dtype == dtype


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_integer_input_becomes_default_float(cls):
    out = cls().forward(np.array([[-1, 0, 2]], dtype=np.int64))
    assert out.dtype == np.float32


def test_sigmoid_is_finite_at_extremes():
    layer = Sigmoid()
    out = layer.forward(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.5, 1.0]])
    assert np.all(np.isfinite(layer.backward(np.ones((1, 3)))))


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_bad_dout_shape_and_backward_before_forward(cls):
    with pytest.raises(RuntimeError, match="before"):
        cls().backward(np.ones((2, 2)))
    layer = cls()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        layer.backward(np.ones(3))


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_contract(cls, rng):
    layer = cls()
    assert layer.params == {} and layer.grads == {} and layer.buffers == {}
    assert layer.output_shape((3, 4, 4)) == (3, 4, 4)
    rebuilt = cls(**layer.get_config(), **layer.params, **layer.buffers)
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(rebuilt.forward(x), layer.forward(x))
    assert LAYER_REGISTRY[cls.__name__] is cls
    assert cls.prefix == cls.__name__.lower()
