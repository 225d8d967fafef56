"""The book's dataset helpers: shuffle, validation split, mini-batches, one-hot."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnscratch.datasets.utils import iterate_minibatches, shuffle_dataset, to_one_hot, train_val_split


def pairs(n: int = 50):
    """x[i] = [i, 2i] and t[i] = i, so alignment is checkable after any reordering."""
    idx = np.arange(n)
    return np.stack([idx, 2 * idx], axis=1).astype(np.float32), idx


def test_shuffle_keeps_pairs_aligned_and_is_a_permutation():
    x, t = pairs()
    xs, ts = shuffle_dataset(x, t, seed=0)
    np.testing.assert_array_equal(xs[:, 0], ts)
    np.testing.assert_array_equal(np.sort(ts), t)
    assert not np.array_equal(ts, t)


def test_shuffle_same_seed_same_order_other_seed_differs():
    x, t = pairs()
    np.testing.assert_array_equal(shuffle_dataset(x, t, 3)[1], shuffle_dataset(x, t, 3)[1])
    assert not np.array_equal(shuffle_dataset(x, t, 3)[1], shuffle_dataset(x, t, 4)[1])


def test_shuffle_works_on_images_and_one_hot():
    x = np.arange(4 * 28 * 28).reshape(4, 1, 28, 28)
    t = to_one_hot(np.array([0, 1, 2, 3]))
    xs, ts = shuffle_dataset(x, t, seed=1)
    assert xs.shape == x.shape and ts.shape == t.shape
    np.testing.assert_array_equal(xs[:, 0, 0, 0] // 784, ts.argmax(1))


@pytest.mark.parametrize("fn", [shuffle_dataset, train_val_split])
def test_length_mismatch_is_an_error(fn):
    with pytest.raises(ValueError, match="x has 5 samples but t has 4"):
        fn(np.zeros((5, 2)), np.zeros(4))


@pytest.mark.parametrize("n, ratio, n_val", [(100, 0.2, 20), (10, 0.25, 2), (7, 0.0, 0), (3, 0.5, 1)])
def test_train_val_split_sizes_and_disjointness(n, ratio, n_val):
    x, t = pairs(n)
    (xtr, ttr), (xv, tv) = train_val_split(x, t, val_ratio=ratio, seed=0)
    assert len(tv) == n_val and len(ttr) == n - n_val
    np.testing.assert_array_equal(np.sort(np.concatenate([ttr, tv])), t)
    np.testing.assert_array_equal(xtr[:, 0], ttr)
    np.testing.assert_array_equal(xv[:, 0], tv)


def test_train_val_split_is_seeded_and_validates_ratio():
    x, t = pairs()
    a = train_val_split(x, t, seed=5)[1][1]
    b = train_val_split(x, t, seed=5)[1][1]
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="val_ratio"):
        train_val_split(x, t, val_ratio=1.0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), batch=st.integers(1, 70), shuffle=st.booleans(), drop_last=st.booleans())
def test_minibatches_cover_every_sample_once_per_epoch(n, batch, shuffle, drop_last):
    x, t = pairs(n)
    batches = list(iterate_minibatches(x, t, batch, shuffle=shuffle, seed=0, drop_last=drop_last))
    seen = np.concatenate([tb for _, tb in batches]) if batches else np.array([], dtype=int)
    for xb, tb in batches:
        np.testing.assert_array_equal(xb[:, 0], tb)
        assert len(tb) <= batch
    if drop_last:
        assert all(len(tb) == batch for _, tb in batches)
        assert len(seen) == n - n % batch
        assert len(np.unique(seen)) == len(seen)
    else:
        np.testing.assert_array_equal(np.sort(seen), t)
    if not shuffle:
        np.testing.assert_array_equal(seen, t[: len(seen)])


def test_minibatches_same_seed_same_order_generator_varies_per_epoch():
    x, t = pairs(30)
    order = lambda it: np.concatenate([tb for _, tb in it])  # noqa: E731
    np.testing.assert_array_equal(order(iterate_minibatches(x, t, 7, seed=1)),
                                  order(iterate_minibatches(x, t, 7, seed=1)))
    g = np.random.default_rng(1)
    e1, e2 = order(iterate_minibatches(x, t, 7, seed=g)), order(iterate_minibatches(x, t, 7, seed=g))
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(np.sort(e1), np.sort(e2))


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_minibatches_reject_bad_batch_size(bad):
    x, t = pairs(5)
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_minibatches(x, t, bad))


def test_to_one_hot():
    oh = to_one_hot(np.array([3, 0, 9], dtype=np.uint8))
    assert oh.shape == (3, 10) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh.argmax(1), [3, 0, 9])
    assert oh.sum() == 3
    np.testing.assert_array_equal(to_one_hot([1.0, 2.0], 3), [[0, 1, 0], [0, 0, 1]])
    assert to_one_hot(np.array([], dtype=int)).shape == (0, 10)


@pytest.mark.parametrize("labels, match", [([10], r"\[0, 9\]"), ([-1], r"\[0, 9\]"), ([0.5], "integers"),
                                           ([[1, 2]], "1-D")])
def test_to_one_hot_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        to_one_hot(np.array(labels))
