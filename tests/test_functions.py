"""Chapter 3-4 functions: activations, softmax, losses, one-hot; book values, overflow safety, torch parity."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnscratch import backend
from nnscratch.functions import (
    cross_entropy_error,
    identity_function,
    log_softmax,
    mean_squared_error,
    one_hot,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_cross_entropy,
    step_function,
    tanh,
)
from nnscratch.gradient import numerical_gradient

# the book's example output of a 10-class network and its one-hot label "2" (ch. 4.2.1)
T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y_GOOD = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])  # "2" most likely
Y_BAD = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])  # "7" most likely


class _no_float_trouble:
    """Any overflow / invalid / divide-by-zero (and any warning at all) becomes an error."""

    def __enter__(self):
        self._err = np.errstate(over="raise", invalid="raise", divide="raise")
        self._warn = warnings.catch_warnings()
        self._err.__enter__()
        self._warn.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._warn.__exit__(*exc)
        self._err.__exit__(*exc)


finite = st.floats(-50, 50, allow_nan=False)

# ---------------------------------------------------------------- activations (ch. 3.2)


def test_step_function():
    out = step_function(np.array([-1.0, 0.0, 1e-9, 2.0]))
    np.testing.assert_array_equal(out, [0, 0, 1, 1])
    assert np.issubdtype(out.dtype, np.integer)
    assert int(step_function(3.0)) == 1


def test_sigmoid_has_no_overflow_at_1000():
    for dtype in (np.float64, np.float32, np.float16):
        x = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype)
        with _no_float_trouble():
            y = sigmoid(x)
        assert y.dtype == dtype and np.all(np.isfinite(y))
        assert y[0] == 0.0 and y[2] == 0.5 and y[-1] == 1.0


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-30, 30)))
def test_sigmoid_matches_the_formula(x):
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=0)
    np.testing.assert_allclose(sigmoid(-x), 1 - sigmoid(x), atol=1e-15)


def test_sigmoid_book_values_and_dtypes():
    np.testing.assert_allclose(sigmoid(np.array([-1.0, 1.0, 2.0])), [0.26894142, 0.73105858, 0.88079708], atol=1e-8)
    assert sigmoid(np.float32([1, 2])).dtype == np.float32
    assert sigmoid(np.array([1, 2])).dtype == backend.default_dtype()  # ints -> default float
    with backend.precision("float64"):
        assert sigmoid([1, 2]).dtype == np.float64


def test_sigmoid_grad_matches_numerical():
    x = np.linspace(-5, 5, 11)
    num = numerical_gradient(lambda z: np.sum(sigmoid(z)), x.copy())
    np.testing.assert_allclose(sigmoid_grad(x), num, atol=1e-9)
    assert sigmoid_grad(np.float32([0.0]))[0] == np.float32(0.25)


def test_relu_and_its_grad():
    x = np.array([-2.0, 0.0, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(relu(x), [0.0, 0.0, 3.0])
    assert relu(x).dtype == np.float32
    np.testing.assert_array_equal(relu_grad(x), [0.0, 0.0, 1.0])
    assert relu_grad(x).dtype == np.float32
    np.testing.assert_array_equal(relu(np.array([-1, 2])), [0, 2])


def test_identity_and_tanh():
    x = np.array([-1.0, 0.5])
    assert identity_function(x) is x
    np.testing.assert_allclose(tanh(x), np.tanh(x))


# ---------------------------------------------------------------- softmax (ch. 3.5)


def test_softmax_book_values():
    np.testing.assert_allclose(softmax(np.array([0.3, 2.9, 4.0])), [0.01821127, 0.24519181, 0.73659691], atol=1e-8)
    # the book's overflow example: naive exp(1010) is inf, the max-shifted version is fine
    with _no_float_trouble():
        y = softmax(np.array([1010.0, 1000.0, 990.0]))
    np.testing.assert_allclose(y, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09], rtol=1e-6)


def test_softmax_batched_rows_sum_to_one_and_finite_at_1000():
    x = np.random.default_rng(0).normal(size=(6, 10)) * 5
    x[0, 3] = 1000.0
    x[1, :] = -1000.0
    with _no_float_trouble():
        y = softmax(x)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(y[1], 0.1)
    np.testing.assert_allclose(y[0, 3], 1.0)
    for r in range(6):  # each row is softmaxed on its own
        np.testing.assert_allclose(y[r], softmax(x[r]), rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=finite),
       st.floats(-1e3, 1e3))
def test_softmax_invariant_to_adding_a_constant(x, c):
    np.testing.assert_allclose(softmax(x + c), softmax(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(log_softmax(x + c), log_softmax(x), rtol=1e-9, atol=1e-9)


def test_softmax_dtypes():
    assert softmax(np.float32([[1, 2, 3]])).dtype == np.float32
    assert softmax(np.array([1, 2, 3])).dtype == backend.default_dtype()


def test_log_softmax():
    x = np.random.default_rng(1).normal(size=(4, 7))
    np.testing.assert_allclose(log_softmax(x), np.log(softmax(x)), rtol=1e-12)
    with _no_float_trouble():
        y = log_softmax(np.array([1000.0, 0.0, -1000.0]))
    np.testing.assert_allclose(y, [0.0, -1000.0, -2000.0])  # log(softmax) would give -inf
    assert log_softmax(np.float32([1, 2])).dtype == np.float32
    assert log_softmax(np.array([1, 2])).dtype == backend.default_dtype()


# ---------------------------------------------------------------- losses (ch. 4.2)


def test_mean_squared_error_book_values():
    assert mean_squared_error(Y_GOOD, T) == pytest.approx(0.09750000000000003, abs=1e-15)
    assert mean_squared_error(Y_BAD, T) == pytest.approx(0.5975, abs=1e-15)
    batch = mean_squared_error(np.stack([Y_GOOD, Y_BAD]), np.stack([T, T]))
    assert batch == pytest.approx((0.0975 + 0.5975) / 2)  # summed per sample, averaged over the batch
    assert mean_squared_error(np.float32([0.5, 0.5]), np.float32([0, 1])).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(10,\).*\(9,\)"):
        mean_squared_error(Y_GOOD, T[:9])


def test_cross_entropy_error_book_values():
    # the book adds delta = 1e-7 inside the log, hence 0.510825457099338 and 2.302584092994546;
    # nnscratch clips at the smallest normal float instead, so it gives -log(0.6) and -log(0.1) exactly
    good, bad = cross_entropy_error(Y_GOOD, T), cross_entropy_error(Y_BAD, T)
    assert good == pytest.approx(-np.log(0.6), rel=1e-15)
    assert bad == pytest.approx(-np.log(0.1), rel=1e-15)
    assert abs(good - 0.510825457099338) < 1e-6 and abs(bad - 2.302584092994546) < 1e-5


@pytest.mark.parametrize(
    "y, t",
    [
        (Y_GOOD, T),  # single sample, one-hot
        (Y_GOOD, 2),  # single sample, label
        (Y_GOOD, np.array([2])),  # single sample, label array
        (Y_GOOD[None, :], T[None, :]),  # batch of one, one-hot
        (Y_GOOD[None, :], [2]),  # batch of one, labels
    ],
)
def test_cross_entropy_error_label_forms_agree(y, t):
    assert cross_entropy_error(y, t) == pytest.approx(-np.log(0.6), rel=1e-15)


def test_cross_entropy_error_batch_is_the_mean():
    y = np.stack([Y_GOOD, Y_BAD])
    want = (-np.log(0.6) - np.log(0.1)) / 2
    assert cross_entropy_error(y, [2, 2]) == pytest.approx(want)
    assert cross_entropy_error(y, np.stack([T, T])) == pytest.approx(want)
    assert cross_entropy_error(y.astype(np.float32), [2, 2]).dtype == np.float32


def test_cross_entropy_error_finite_when_probability_is_zero():
    with _no_float_trouble():
        for dtype in (np.float64, np.float32):
            e = cross_entropy_error(Y_GOOD.astype(dtype), 3)  # y[3] == 0
            assert np.isfinite(e) and e > 80
            assert e.dtype == dtype


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_softmax_cross_entropy_equals_cross_entropy_of_softmax(data):
    n, c = data.draw(st.integers(1, 5)), data.draw(st.integers(2, 6))
    x = data.draw(hnp.arrays(np.float64, (n, c), elements=st.floats(-20, 20)))
    t = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    assert softmax_cross_entropy(x, t) == pytest.approx(cross_entropy_error(softmax(x), t), rel=1e-10, abs=1e-12)
    assert softmax_cross_entropy(x, one_hot(t, c)) == pytest.approx(softmax_cross_entropy(x, t), rel=1e-12)


def test_softmax_cross_entropy_exact_where_softmax_underflows():
    with _no_float_trouble():
        e = softmax_cross_entropy(np.array([1000.0, 0.0]), 1)
    assert e == pytest.approx(1000.0)  # cross_entropy_error(softmax(x)) can only say ~708
    assert softmax_cross_entropy(np.float32([[1, 2]]), [0]).dtype == np.float32


# ---------------------------------------------------------------- torch as an oracle


def test_torch_parity_float64():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(4)
    x = g.normal(size=(8, 10)) * 4
    x[0, 0] = 500.0
    t = g.integers(0, 10, size=8)
    tx = torch.from_numpy(x)
    np.testing.assert_allclose(softmax(x), torch.softmax(tx, dim=1).numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(log_softmax(x), torch.log_softmax(tx, dim=1).numpy(), rtol=1e-10, atol=1e-10)
    want = torch.nn.functional.cross_entropy(tx, torch.from_numpy(t)).item()
    assert abs(softmax_cross_entropy(x, t) - want) < 1e-10
    assert abs(cross_entropy_error(softmax(x[1:]), t[1:])
               - torch.nn.functional.cross_entropy(tx[1:], torch.from_numpy(t[1:])).item()) < 1e-10
    np.testing.assert_allclose(sigmoid(x), torch.sigmoid(tx).numpy(), rtol=1e-10, atol=1e-300)


# ---------------------------------------------------------------- one_hot and label validation


def test_one_hot():
    out = one_hot([2, 0, 9])
    assert out.shape == (3, 10) and out.dtype == backend.default_dtype()
    np.testing.assert_array_equal(out.argmax(axis=1), [2, 0, 9])
    np.testing.assert_array_equal(out.sum(axis=1), 1)
    np.testing.assert_array_equal(one_hot(np.array([1]), 3), [[0, 1, 0]])
    assert one_hot([1], 3, dtype=np.dtype("float64")).dtype == np.float64
    assert one_hot([1], 3, dtype="float64").dtype == np.float64
    assert one_hot(np.array([], dtype=np.int64), 4).shape == (0, 4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cross_entropy_error(Y_GOOD, 10), r"\[0, 9\].*got.*10"),
        (lambda: cross_entropy_error(Y_GOOD, -1), r"\[0, 9\].*got.*-1"),
        (lambda: cross_entropy_error(np.stack([Y_GOOD, Y_BAD]), [2, 2, 2]), "3 labels.*batch of 2"),
        (lambda: cross_entropy_error(Y_GOOD, [1, 2, 3]), r"one-hot vector of length 10.*got shape \(3,\)"),
        (lambda: cross_entropy_error(np.stack([Y_GOOD, Y_BAD]), np.ones((2, 9))), r"\(2, 10\).*\(2, 9\)"),
        (lambda: cross_entropy_error(np.stack([Y_GOOD, Y_BAD]), [2.5, 1.0]), "integers.*fractional"),
        (lambda: cross_entropy_error(np.stack([Y_GOOD, Y_BAD]), [True, False]), "integer.*bool"),
        (lambda: cross_entropy_error(np.ones((2, 2, 2)), [0, 1]), r"\(N, C\).*\(2, 2, 2\)"),
        (lambda: softmax_cross_entropy(np.zeros((2, 3)), [0, 3]), r"\[0, 2\].*got.*3"),
        (lambda: one_hot([0, 10]), r"\[0, 9\].*10"),
        (lambda: one_hot([[0, 1]]), r"1-D.*\(1, 2\)"),
        (lambda: one_hot([0], 0), "positive int.*0"),
    ],
)
def test_bad_labels_raise_with_expected_and_got(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_float_labels_that_are_whole_numbers_are_accepted():
    assert cross_entropy_error(Y_GOOD, 2.0) == pytest.approx(-np.log(0.6))
