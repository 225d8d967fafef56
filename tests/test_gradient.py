"""Chapter 4 numerical differentiation, gradient descent, and the ch. 5.7.3 gradient check."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnscratch import backend
from nnscratch.gradient import (
    function_1,
    function_2,
    gradient_check,
    gradient_descent,
    numerical_diff,
    numerical_gradient,
    relative_error,
    sum_of_squares,
)

# ---------------------------------------------------------------- numerical_diff (ch. 4.3)


def test_numerical_diff_of_square():
    assert abs(numerical_diff(lambda x: x**2, 3.0) - 6.0) < 1e-8
    assert abs(numerical_diff(lambda x: x**2, -0.5) - (-1.0)) < 1e-8


def test_numerical_diff_book_function_1():
    # book, ch. 4.3.2: 0.1999999999990898 and 0.2999999999986347 (true values 0.2 and 0.3)
    at5, at10 = numerical_diff(function_1, 5), numerical_diff(function_1, 10)
    assert abs(at5 - 0.2) < 1e-8 and abs(at10 - 0.3) < 1e-8
    assert at5 == pytest.approx(0.1999999999990898, rel=1e-12)
    assert at10 == pytest.approx(0.2999999999986347, rel=1e-12)


def test_forward_difference_is_worse_than_central():
    # the reason the book uses (f(x+h) - f(x-h)) / 2h: the forward difference has an O(h) error
    h = 1e-4
    forward = (function_1(5 + h) - function_1(5)) / h
    assert abs(forward - 0.2) > 100 * abs(numerical_diff(function_1, 5) - 0.2)


# ---------------------------------------------------------------- numerical_gradient (ch. 4.4)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4), (2, 2, 3, 2)])
def test_numerical_gradient_matches_analytic(shape):
    g = np.random.default_rng(0)
    x = g.normal(size=shape)
    a = g.normal(size=shape)

    def f(z):  # sum(a * sin z) + sum(z^3) / 3  ->  grad = a cos z + z^2
        return np.sum(a * np.sin(z)) + np.sum(z**3) / 3

    grad = numerical_gradient(f, x)
    assert grad.shape == shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, a * np.cos(x) + x**2, rtol=0, atol=1e-7)


def test_numerical_gradient_of_function_2_book_values():
    # book, ch. 4.4: gradients of x0^2 + x1^2 at (3, 4), (0, 2), (3, 0)
    for point, want in [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)), ((3.0, 0.0), (6.0, 0.0))]:
        np.testing.assert_allclose(numerical_gradient(function_2, np.array(point)), want, atol=1e-7)
    assert sum_of_squares is function_2


def test_numerical_gradient_with_a_closure_that_ignores_its_argument():
    # the book's networks: f = lambda W: net.loss(x, t), which reads the weights through the object
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    seen = []

    def loss(_unused):
        seen.append(w[0, 0])
        return float(np.sum(w**2))

    grad = numerical_gradient(loss, w)
    np.testing.assert_allclose(grad, 2 * w, atol=1e-7)
    assert 1.0 + 1e-4 in seen and 1.0 - 1e-4 in seen  # the nudges were visible to f


def test_numerical_gradient_restores_x_bitwise():
    g = np.random.default_rng(1)
    for dtype in (np.float64, np.float32):
        x = (g.normal(size=(3, 5)) * 1e3 + 0.1).astype(dtype)  # values where x+h-h != x
        before = x.tobytes()
        numerical_gradient(lambda z: np.sum(np.sin(z)), x)
        assert x.tobytes() == before
    assert numerical_gradient(function_2, np.float32([1.0, 2.0])).dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                  elements=st.floats(-1e6, 1e6, allow_subnormal=True)))
def test_numerical_gradient_never_changes_x(x):
    before = x.tobytes()
    numerical_gradient(function_2, x)
    assert x.tobytes() == before


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([0.1, 0.2, 0.3])
    calls = {"n": 0}

    def f(z):
        calls["n"] += 1
        if calls["n"] == 4:  # second element, second evaluation (x - h)
            raise RuntimeError("boom")
        return float(np.sum(z))

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [0.1, 0.2, 0.3])


def test_numerical_gradient_bad_input():
    with pytest.raises(ValueError, match="float array.*int64"):
        numerical_gradient(function_2, np.array([3, 4]))  # would silently give zeros
    with pytest.raises(ValueError, match="float array.*list"):
        numerical_gradient(function_2, [3.0, 4.0])
    with pytest.raises(ValueError, match="C-contiguous"):
        numerical_gradient(function_2, np.ones((3, 2)).T)
    with pytest.raises(ValueError, match="scalar.*shape \\(2,\\)"):
        numerical_gradient(lambda z: z**2, np.array([1.0, 2.0]))


# ---------------------------------------------------------------- gradient_descent (ch. 4.4.1)

X0 = np.array([-3.0, 4.0])


def test_gradient_descent_reaches_minimum_book_values():
    init = X0.copy()
    x, path = gradient_descent(function_2, init, lr=0.1, step_num=100)
    # book: [-6.11110793e-10  8.14814391e-10]; exactly, each step multiplies x by (1 - 2 lr) = 0.8
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-6)
    np.testing.assert_allclose(x, 0.8**100 * X0, rtol=1e-6)
    assert path.shape == (101, 2)
    np.testing.assert_array_equal(path[0], X0)
    np.testing.assert_array_equal(path[-1], x)
    assert np.all(np.diff(np.linalg.norm(path, axis=1)) < 0)  # strictly downhill
    np.testing.assert_array_equal(init, X0)  # the caller's array is not mutated
    assert x is not init


def test_gradient_descent_lr_too_large_diverges():
    x, path = gradient_descent(function_2, X0, lr=10.0, step_num=100)
    assert np.linalg.norm(x) > 1e12
    np.testing.assert_allclose(x, [-2.58983747e13, -1.29524862e12], rtol=1e-6)  # book's output


def test_gradient_descent_lr_too_small_barely_moves():
    x, _ = gradient_descent(function_2, X0, lr=1e-10, step_num=100)
    np.testing.assert_allclose(x, [-2.99999994, 3.99999992], rtol=1e-8)  # book's output
    assert not np.array_equal(x, X0) and np.max(np.abs(x - X0)) < 1e-6


def test_gradient_descent_dtypes_and_zero_steps():
    x, path = gradient_descent(function_2, X0.astype(np.float32), lr=0.1, step_num=50)
    assert x.dtype == path.dtype == np.float32
    assert np.max(np.abs(x)) < 1e-4
    x, path = gradient_descent(function_2, [-3, 4], lr=0.1, step_num=5)  # list -> default dtype
    assert x.dtype == backend.default_dtype()
    x, path = gradient_descent(function_2, X0, step_num=0)
    np.testing.assert_array_equal(x, X0)
    assert path.shape == (1, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=0.0), "lr"),
        (dict(lr=-0.1), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(step_num=-1), "step_num"),
        (dict(step_num=2.5), "step_num"),
    ],
)
def test_gradient_descent_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradient_descent(function_2, X0, **kwargs)


def test_gradient_descent_rejects_non_finite_start():
    with pytest.raises(ValueError, match="finite"):
        gradient_descent(function_2, np.array([np.nan, 1.0]))


# ---------------------------------------------------------------- relative_error

arrays = hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e3, 1e3))


@settings(max_examples=60, deadline=None)
@given(arrays, st.data())
def test_relative_error_properties(a, data):
    b = data.draw(hnp.arrays(np.float64, a.shape, elements=st.floats(-1e3, 1e3)))
    c = data.draw(st.floats(1e-3, 1e3))
    # below the 1e-9 floor the comparison is absolute (see test_relative_error_floor)
    assume(max(np.abs(a).max(), np.abs(b).max()) * min(c, 1.0) >= 1e-6)
    assert relative_error(a, a) == 0.0
    e = relative_error(a, b)
    assert e == relative_error(b, a)  # symmetric
    assert 0.0 <= e <= 2.0  # |a-b| <= |a| + |b| <= 2 max(|a|, |b|)
    assert relative_error(c * a, c * b) == pytest.approx(e, rel=1e-9, abs=1e-12)  # scale-free


def test_relative_error_floor_compares_vanishing_gradients_absolutely():
    # a bias feeding batch norm: zero in exact arithmetic, round-off in backprop
    assert relative_error(np.array([2e-17, -1e-17]), np.zeros(2)) == pytest.approx(2e-8)
    assert relative_error(np.array([1e-3]), np.array([0.0])) == 1.0


def test_relative_error_values_and_errors():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 1e-9])) == pytest.approx(1e-9)
    # near-zero entries do not blow up the error (dead ReLUs): scaled by the largest gradient
    assert relative_error(np.array([10.0, 1e-12]), np.array([10.0, -1e-12])) < 1e-12
    assert relative_error(np.array([1.0]), np.array([-1.0])) == 2.0
    assert relative_error(np.float32([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    with pytest.raises(ValueError, match="shapes"):
        relative_error(np.zeros(3), np.zeros((3, 1)))


# ---------------------------------------------------------------- gradient_check (ch. 5.7.3)


class LinearRegression:
    """A tiny model with the Model interface: loss = 1/2N sum (x W + b - t)^2."""

    def __init__(self, dtype=np.float64, bug=False):
        g = np.random.default_rng(2)
        self.params = {"W": g.normal(size=(3, 2)).astype(dtype), "b": g.normal(size=2).astype(dtype)}
        self.bug = bug

    def loss(self, x, t):
        y = x @ self.params["W"] + self.params["b"]
        return 0.5 * np.sum((y - t) ** 2) / x.shape[0]

    def gradient(self, x, t):
        d = (x @ self.params["W"] + self.params["b"] - t) / x.shape[0]
        grads = {"W": x.T @ d, "b": d.sum(axis=0)}
        if self.bug:
            grads["b"] = grads["b"] * 1.01
        return grads

    def numerical_gradient(self, x, t, h=1e-4):
        return {k: numerical_gradient(lambda _: self.loss(x, t), p, h) for k, p in self.params.items()}


def _data():
    g = np.random.default_rng(3)
    return g.normal(size=(5, 3)), g.normal(size=(5, 2))


def test_gradient_check_agrees_on_a_correct_model():
    errors = gradient_check(LinearRegression(), *_data())
    assert set(errors) == {"W", "b"}
    assert max(errors.values()) < 1e-8


def test_gradient_check_catches_a_wrong_gradient():
    errors = gradient_check(LinearRegression(bug=True), *_data())
    assert errors["W"] < 1e-8 and errors["b"] > 1e-3


def test_gradient_check_needs_float64():
    with pytest.raises(ValueError, match="float64.*W is float32"):
        gradient_check(LinearRegression(dtype=np.float32), *_data())


def test_gradient_check_of_a_float32_network_checks_a_float64_copy():
    from nnscratch.models import TwoLayerNet

    net = TwoLayerNet(4, 5, 3, weight_init_std=0.5, seed=0)
    assert net.dtype == np.float32
    before = {k: v.copy() for k, v in net.params.items()}
    x, t = np.random.default_rng(0).normal(size=(2, 4)), np.array([0, 2])
    errors = gradient_check(net, x, t)
    assert set(errors) == set(before) and max(errors.values()) < 1e-6
    assert net.dtype == np.float32 and all((net.params[k] == v).all() for k, v in before.items())


def test_kink_safe_gradient_shrinks_the_step_at_a_relu_kink():
    from nnscratch.gradient import kink_safe_gradient

    x = np.array([5e-7, -3e-7, 0.3, -0.2])
    f = lambda v: float(np.maximum(v, 0).sum() + 0.5 * (v**2).sum())  # noqa: E731
    plain = numerical_gradient(f, x.copy(), 1e-6)
    safe = kink_safe_gradient(f, x, 1e-6)
    exact = (x > 0) + x
    assert abs(plain[0] - exact[0]) > 0.1  # the kink lies inside the plain step
    np.testing.assert_allclose(safe, exact, atol=1e-6)
    g = np.random.default_rng(0).normal(size=(3, 4))
    smooth = lambda v: float(np.sum(np.sin(v) * v))  # noqa: E731
    np.testing.assert_allclose(kink_safe_gradient(smooth, g.copy()), numerical_gradient(smooth, g.copy(), 1e-6),
                               atol=1e-9)
