"""Chapter 2: the gates' truth tables, scalar and vectorised, and a home-made Perceptron."""
import numpy as np
import pytest

from nnscratch.perceptron import AND, NAND, OR, XOR, Perceptron

X1 = np.array([0, 1, 0, 1])
X2 = np.array([0, 0, 1, 1])
TRUTH = {  # outputs for (x1, x2) = (0,0), (1,0), (0,1), (1,1)
    AND: [0, 0, 0, 1],
    NAND: [1, 1, 1, 0],
    OR: [0, 1, 1, 1],
    # XOR is not linearly separable (no single line splits its 1s from its 0s, ch. 2.4),
    # which is why it is built from two layers: AND(NAND, OR).
    XOR: [0, 1, 1, 0],
}


@pytest.mark.parametrize("gate", list(TRUTH), ids=lambda g: g.__name__)
def test_truth_table_scalars(gate):
    for x1, x2, want in zip(X1.tolist(), X2.tolist(), TRUTH[gate]):
        got = gate(x1, x2)
        assert type(got) is int
        assert got == want, f"{gate.__name__}({x1}, {x2})"


@pytest.mark.parametrize("gate", list(TRUTH), ids=lambda g: g.__name__)
def test_truth_table_vectorised(gate):
    got = gate(X1, X2)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, TRUTH[gate])
    grid = gate(X1.reshape(2, 2), X2.reshape(2, 2))  # any shape, element-wise
    np.testing.assert_array_equal(grid, np.array(TRUTH[gate]).reshape(2, 2))


@pytest.mark.parametrize("gate", list(TRUTH), ids=lambda g: g.__name__)
def test_float_and_bool_inputs(gate):
    np.testing.assert_array_equal(gate(X1.astype(np.float32), X2.astype(bool)), TRUTH[gate])


def test_scalar_broadcasts_against_array():
    np.testing.assert_array_equal(AND(1, X2), X2)
    np.testing.assert_array_equal(OR(0, X2), X2)


def test_book_weights():
    from nnscratch import perceptron

    assert (perceptron._AND.w, perceptron._AND.b) == ((0.5, 0.5), -0.7)
    assert (perceptron._NAND.w, perceptron._NAND.b) == ((-0.5, -0.5), 0.7)
    assert (perceptron._OR.w, perceptron._OR.b) == ((0.5, 0.5), -0.2)


def test_home_made_gate_and_weighted_sum():
    nor = Perceptron((-0.5, -0.5), 0.2)
    np.testing.assert_array_equal(nor(X1, X2), [1, 0, 0, 0])
    np.testing.assert_allclose(nor.weighted_sum(X1, X2), [0.2, -0.3, -0.3, -0.8])
    majority = Perceptron([1, 1, 1], -1.5)  # any number of inputs
    assert majority.n_inputs == 3
    assert [majority(*bits) for bits in [(0, 0, 1), (0, 1, 1), (1, 1, 1)]] == [0, 1, 1]
    assert "Perceptron(w=(-0.5, -0.5), b=0.2)" == repr(nor)


def test_zero_is_not_firing():
    # the book fires only when w.x + b > 0 strictly
    assert Perceptron((1.0,), 0.0)(0) == 0
    assert Perceptron((1.0,), 0.0)(1e-12) == 1


@pytest.mark.parametrize(
    "w, b, match",
    [((), 0.0, "non-empty"), ([[1, 2]], 0.0, "1-D"), ((1.0, np.nan), 0.0, "finite"), ((1.0,), np.inf, "finite")],
)
def test_bad_weights(w, b, match):
    with pytest.raises(ValueError, match=match):
        Perceptron(w, b)


def test_bad_inputs():
    with pytest.raises(ValueError, match="expected 2 inputs.*got 3"):
        Perceptron((0.5, 0.5), -0.7)(1, 0, 1)
    with pytest.raises(ValueError, match="share one shape"):
        AND(np.zeros(4), np.zeros((4, 1)))  # would silently broadcast to (4, 4)
    with pytest.raises(ValueError, match="numeric"):
        OR("1", 0)
