"""Chapter 6.2 weight initialisation: std 0.01, Xavier, He; fan-in for dense and conv weights."""
import math

import numpy as np
import pytest

from nnscratch import backend
from nnscratch.initializers import INITIALIZER_NAMES, fan_in, get_initializer, init_weight, weight_std


def test_fan_in_dense_and_conv():
    assert fan_in((784, 100)) == 784
    assert fan_in([50, 10]) == 50
    assert fan_in((30, 1, 5, 5)) == 25  # (FN, C, FH, FW) -> C * FH * FW
    assert fan_in((64, 16, 3, 3)) == 144


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4), (1, 2, 3, 4, 5), (), (0, 3), (-1, 3), (2.0, 3), (True, 3)])
def test_fan_in_bad_shapes(shape):
    with pytest.raises(ValueError, match="shape"):
        fan_in(shape)


@pytest.mark.parametrize(
    "spec, shape, want",
    [
        (0.01, (784, 100), 0.01),
        ("xavier", (784, 100), 1 / math.sqrt(784)),
        ("sigmoid", (100, 100), 0.1),
        ("TANH", (400, 10), 0.05),
        ("he", (50, 10), math.sqrt(2 / 50)),
        ("ReLU", (16, 1, 3, 3), math.sqrt(2 / 9)),
        (" He ", (64, 16, 3, 3), math.sqrt(2 / 144)),
    ],
)
def test_weight_std(spec, shape, want):
    assert weight_std(shape, spec) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize(
    "spec, shape",
    [(0.01, (1000, 500)), ("xavier", (400, 600)), ("he", (300, 800)), ("relu", (64, 32, 3, 3))],
)
def test_empirical_std(spec, shape):
    w = init_weight(shape, spec, rng=0)
    want = weight_std(shape, spec)
    assert w.shape == shape
    assert abs(float(np.std(w)) / want - 1) < 0.02
    assert abs(float(np.mean(w))) < 0.02 * want


def test_seeds_reproducible_and_independent():
    a = init_weight((20, 30), "he", rng=42)
    b = init_weight((20, 30), "he", rng=42)
    c = init_weight((20, 30), "he", rng=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g = np.random.default_rng(7)  # a Generator is used (and advanced), not reseeded
    first, second = init_weight((5, 5), 0.01, rng=g), init_weight((5, 5), 0.01, rng=g)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, init_weight((5, 5), 0.01, rng=np.random.default_rng(7)))


def test_dtype_default_and_explicit():
    assert init_weight((3, 4), "xavier", rng=0).dtype == backend.default_dtype() == np.float32
    w64 = init_weight((3, 4), "xavier", rng=0, dtype="float64")
    w32 = init_weight((3, 4), "xavier", rng=0, dtype=np.float32)
    assert w64.dtype == np.float64 and w32.dtype == np.float32
    np.testing.assert_array_equal(w32, w64.astype(np.float32))  # same draws, only cast
    with backend.precision("float64"):
        assert init_weight((3, 4), 0.01, rng=0).dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        init_weight((3, 4), 0.01, rng=0, dtype="int32")


def test_float_std_accepts_any_shape():
    assert init_weight(7, 0.01, rng=0).shape == (7,)
    assert init_weight((2, 3, 4), 0.5, rng=0).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="dense.*conv"):
        init_weight((2, 3, 4), "he", rng=0)  # a named scheme needs a fan-in


def test_get_initializer():
    init = get_initializer("Relu")
    w = init((10, 20), rng=1)
    np.testing.assert_array_equal(w, init_weight((10, 20), "he", rng=1))
    assert init.__name__ == "init_he"
    assert get_initializer(0.01)((2, 2), rng=0, dtype="float64").dtype == np.float64


@pytest.mark.parametrize("spec", ["glorot", "", "kaiming"])
def test_unknown_name_lists_accepted(spec):
    with pytest.raises(ValueError, match="expected.*'he'.*'relu'.*'xavier'"):
        get_initializer(spec)
    with pytest.raises(ValueError, match="unknown initializer"):
        init_weight((2, 2), spec)


@pytest.mark.parametrize("spec", [0.0, -0.01, float("nan"), float("inf"), -1])
def test_non_positive_std(spec):
    with pytest.raises(ValueError, match="positive finite"):
        get_initializer(spec)
    with pytest.raises(ValueError, match="positive finite"):
        init_weight((2, 2), spec)


@pytest.mark.parametrize("spec", [None, True, [0.01], {"std": 0.01}])
def test_wrong_spec_type(spec):
    with pytest.raises(ValueError, match="positive float std or one of"):
        get_initializer(spec)


def test_names_table():
    assert INITIALIZER_NAMES == {"xavier": "xavier", "sigmoid": "xavier", "tanh": "xavier", "he": "he", "relu": "he"}
