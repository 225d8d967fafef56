"""Dropout: inverted and book variants, train/test behaviour, seeding, fixed mask, gradients."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch.layers import LAYER_REGISTRY, Dropout


@pytest.mark.parametrize("inverted", [True, False])
@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 4, 4)])
def test_gradient_check_with_fixed_mask(inverted, shape, rng, grad_errors):
    layer = Dropout(0.4, inverted=inverted, seed=3)
    layer.fixed_mask = True
    errors = grad_errors(layer, rng.standard_normal(shape))
    assert errors["x"] < 1e-6, errors
    assert 0 < layer.mask.sum() < layer.mask.size


def test_inverted_train_keeps_expectation_and_test_is_identity(rng):
    p = 0.3
    layer = Dropout(p, seed=0)
    x = rng.random((400, 500)) + 1.0
    out = layer.forward(x, train=True)
    kept = layer.mask
    assert abs(kept.mean() - (1 - p)) < 0.005
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-12)
    assert np.all(out[~kept] == 0)
    assert abs(out.mean() / x.mean() - 1) < 0.01
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), kept / (1 - p), rtol=1e-12)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), 2.0)


def test_book_variant_scales_at_test(rng):
    p = 0.25
    layer = Dropout(p, inverted=False, seed=1)
    x = rng.standard_normal((50, 40))
    out = layer.forward(x, train=True)
    np.testing.assert_array_equal(out, x * layer.mask)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), layer.mask.astype(float))
    np.testing.assert_allclose(layer.forward(x, train=False), x * (1 - p), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), np.full_like(x, 1 - p), rtol=1e-12)


def test_same_seed_same_masks_and_fresh_masks_per_step(rng):
    x = rng.standard_normal((20, 30))
    a, b, c = Dropout(0.5, seed=7), Dropout(0.5, seed=7), Dropout(0.5, seed=8)
    a1, b1, c1 = a.forward(x), b.forward(x), c.forward(x)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a1, c1)
    a2 = a.forward(x)
    assert not np.array_equal(a1, a2)  # a new mask every training step
    np.testing.assert_array_equal(a2, b.forward(x))


def test_reseed_restarts_the_masks_as_a_fresh_layer_would(rng):
    x = rng.standard_normal((20, 30))
    a, fresh = Dropout(0.5, seed=1), Dropout(0.5, seed=[3, 1, 0])
    a.forward(x)
    a.reseed([3, 1, 0])
    np.testing.assert_array_equal(a.forward(x), fresh.forward(x))
    gen = np.random.default_rng(5)
    a.reseed(gen)
    assert a._rng is gen  # a Generator is used as it is, like the constructor's seed


def test_fixed_mask_reuses_only_when_shape_matches(rng):
    layer = Dropout(0.5, seed=0)
    layer.fixed_mask = True
    x = rng.standard_normal((10, 10))
    first = layer.forward(x)
    np.testing.assert_array_equal(layer.forward(x), first)
    assert layer.forward(rng.standard_normal((4, 10))).shape == (4, 10)
    assert layer.mask.shape == (4, 10)


def test_zero_ratio_is_identity(rng):
    x = rng.standard_normal((5, 4))
    layer = Dropout(0.0, seed=0)
    np.testing.assert_array_equal(layer.forward(x), x)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_ratio_must_be_in_unit_interval(p):
    with pytest.raises(ValueError, match=r"\[0, 1\).*" + str(p)):
        Dropout(p)


def test_does_not_modify_input_or_dout(rng):
    x, dout = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    x0, d0 = x.copy(), dout.copy()
    layer = Dropout(0.5, seed=0)
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, d0)


@pytest.mark.parametrize("inverted", [True, False])
@pytest.mark.parametrize("train", [True, False])
def test_float32_stays_float32(inverted, train, rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)
    layer = Dropout(0.5, inverted=inverted, seed=0)
    out = layer.forward(x, train=train)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == np.float32 and dx.dtype == np.float32


def test_contract_and_rebuild(rng):
    layer = Dropout(0.2, inverted=False, seed=5)
    cfg = layer.get_config()
    assert cfg == {"dropout_ratio": 0.2, "inverted": False, "seed": 5}
    assert Dropout.prefix == "dropout" and LAYER_REGISTRY["Dropout"] is Dropout
    assert layer.params == {} and layer.buffers == {} and layer.output_shape((3, 4)) == (3, 4)
    x = rng.standard_normal((7, 9))
    rebuilt = Dropout(**cfg, **layer.params, **layer.buffers)
    np.testing.assert_array_equal(rebuilt.forward(x), layer.forward(x))
    np.testing.assert_array_equal(rebuilt.forward(x, train=False), layer.forward(x, train=False))
    assert Dropout(seed=np.random.default_rng(0)).get_config()["seed"] is None


def test_backward_shape_checked():
    layer = Dropout(seed=0)
    with pytest.raises(RuntimeError, match="before"):
        layer.backward(np.ones((2, 2)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        layer.backward(np.ones((3, 2)))
