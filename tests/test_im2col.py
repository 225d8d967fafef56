"""im2col / col2im (ch. 7.4) and their batched forms unfold / fold: against a per-pixel loop, adjointness, torch."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnscratch.layers.im2col import col2im, conv_output_size, fold, im2col, unfold


def ref_im2col(x: np.ndarray, fh: int, fw: int, stride: int, pad: int) -> np.ndarray:
    """The definition, one output pixel at a time: row (n, oh, ow) holds the window, ordered (c, i, j)."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = np.zeros((n * oh * ow, c * fh * fw), dtype=x.dtype)
    for b in range(n):
        for y in range(oh):
            for z in range(ow):
                window = xp[b, :, y * stride:y * stride + fh, z * stride:z * stride + fw]
                col[(b * oh + y) * ow + z] = window.reshape(-1)
    return col


def ref_col2im(col: np.ndarray, shape: tuple, fh: int, fw: int, stride: int, pad: int) -> np.ndarray:
    """Scatter-add every window of ``col`` back to the pixel it came from, one pixel at a time."""
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    img = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=col.dtype)
    for b in range(n):
        for y in range(oh):
            for z in range(ow):
                window = col[(b * oh + y) * ow + z].reshape(c, fh, fw)
                img[b, :, y * stride:y * stride + fh, z * stride:z * stride + fw] += window
    return img[:, :, pad:pad + h, pad:pad + w]


# (N, C, H, W, FH, FW, stride, pad): square, rectangular, strides that do not divide, big pads
CASES = [
    (2, 3, 7, 7, 3, 3, 1, 0),
    (2, 3, 7, 7, 3, 3, 1, 1),
    (2, 3, 7, 7, 3, 3, 2, 1),
    (1, 2, 5, 6, 2, 3, 1, 2),
    (3, 1, 8, 5, 5, 2, 3, 1),
    (2, 2, 6, 6, 1, 1, 1, 0),
    (2, 2, 6, 6, 1, 1, 2, 1),
    (1, 4, 9, 9, 4, 4, 2, 2),
    (2, 1, 4, 4, 4, 4, 1, 0),
    (1, 3, 5, 5, 3, 3, 3, 2),
]


@pytest.mark.parametrize("case", CASES)
def test_im2col_matches_reference_loop(case, rng):
    n, c, h, w, fh, fw, s, p = case
    x = rng.standard_normal((n, c, h, w))
    np.testing.assert_array_equal(im2col(x, fh, fw, s, p), ref_im2col(x, fh, fw, s, p))


@pytest.mark.parametrize("case", CASES)
def test_col2im_matches_reference_loop(case, rng):
    n, c, h, w, fh, fw, s, p = case
    rows = n * conv_output_size(h, fh, s, p) * conv_output_size(w, fw, s, p)
    col = rng.standard_normal((rows, c * fh * fw))
    out = col2im(col, (n, c, h, w), fh, fw, s, p)
    assert out.shape == (n, c, h, w)
    np.testing.assert_allclose(out, ref_col2im(col, (n, c, h, w), fh, fw, s, p), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("case", CASES)
def test_col2im_is_the_adjoint_of_im2col(case, rng):
    """<im2col(x), c> == <x, col2im(c)>: col2im is exactly the transpose of the linear map im2col."""
    n, c, h, w, fh, fw, s, p = case
    x = rng.standard_normal((n, c, h, w))
    col = rng.standard_normal(im2col(x, fh, fw, s, p).shape)
    lhs = np.sum(im2col(x, fh, fw, s, p) * col)
    rhs = np.sum(x * col2im(col, x.shape, fh, fw, s, p))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


@pytest.mark.parametrize("case", CASES)
def test_unfold_is_im2col_per_sample_and_fold_its_adjoint(case, rng):
    n, c, h, w, fh, fw, s, p = case
    x = rng.standard_normal((n, c, h, w))
    cols = unfold(x, fh, fw, s, p)
    oh, ow = conv_output_size(h, fh, s, p), conv_output_size(w, fw, s, p)
    assert cols.shape == (n, c * fh * fw, oh * ow)
    np.testing.assert_array_equal(cols.transpose(0, 2, 1).reshape(-1, c * fh * fw), im2col(x, fh, fw, s, p))
    d = rng.standard_normal(cols.shape)
    assert abs(np.sum(cols * d) - np.sum(x * fold(d, x.shape, fh, fw, s, p))) < 1e-10


@pytest.mark.parametrize("case", CASES[:6])
def test_unfold_fold_match_torch(case, rng):
    torch = pytest.importorskip("torch")
    n, c, h, w, fh, fw, s, p = case
    x = rng.standard_normal((n, c, h, w))
    cols = unfold(x, fh, fw, s, p)
    ref = torch.nn.functional.unfold(torch.tensor(x), (fh, fw), padding=p, stride=s).numpy()
    np.testing.assert_array_equal(cols, ref)
    d = rng.standard_normal(cols.shape)
    ref_fold = torch.nn.functional.fold(torch.tensor(d), (h, w), (fh, fw), padding=p, stride=s).numpy()
    np.testing.assert_allclose(fold(d, x.shape, fh, fw, s, p), ref_fold, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       fh=st.integers(1, 4), fw=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2))
def test_property_any_geometry_matches_reference(n, c, h, w, fh, fw, s, p):
    if fh > h + 2 * p or fw > w + 2 * p:
        with pytest.raises(ValueError):
            im2col(np.zeros((n, c, h, w)), fh, fw, s, p)
        return
    rng = np.random.default_rng(n * 1000 + h * 100 + w * 10 + fh)
    x = rng.standard_normal((n, c, h, w))
    col = im2col(x, fh, fw, s, p)
    np.testing.assert_array_equal(col, ref_im2col(x, fh, fw, s, p))
    np.testing.assert_allclose(col2im(col, x.shape, fh, fw, s, p), ref_col2im(col, x.shape, fh, fw, s, p),
                               rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    col = im2col(x, 3, 3, 1, 1)
    assert col.dtype == dtype and unfold(x, 3, 3, 2, 1).dtype == dtype
    assert col2im(col, x.shape, 3, 3, 1, 1).dtype == dtype
    assert fold(unfold(x, 3, 3), x.shape, 3, 3).dtype == dtype


def test_book_example_shapes():
    """The book's two examples (ch. 7.4.3): (1,3,7,7) and (10,3,7,7) with a 5x5 filter."""
    assert im2col(np.random.default_rng(0).random((1, 3, 7, 7)), 5, 5).shape == (9, 75)
    assert im2col(np.random.default_rng(0).random((10, 3, 7, 7)), 5, 5).shape == (90, 75)


def test_conv_output_size():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(28, 3, 1, 1) == 28
    assert conv_output_size(7, 2, 2) == 3
    assert conv_output_size(4, 4) == 1


@pytest.mark.parametrize("args, words", [
    (((2, 3, 4, 4), 5, 3, 1, 0), ["5x3", "(2, 3, 4, 4)"]),  # kernel larger than the (padded) input
    (((2, 3, 4, 4), 3, 7, 1, 1), ["3x7", "(2, 3, 4, 4)", "6x6"]),
    (((2, 3, 4, 4), 3, 3, 0, 0), ["stride"]),
    (((2, 3, 4, 4), 3, 3, 1, -1), ["pad"]),
    (((3, 4, 4), 3, 3, 1, 0), ["4-D", "(3, 4, 4)"]),
])
def test_bad_geometry_raises_value_error_naming_shapes(args, words):
    shape, fh, fw, s, p = args
    with pytest.raises(ValueError) as exc:
        im2col(np.zeros(shape), fh, fw, s, p)
    for word in words:
        assert word in str(exc.value)


def test_col2im_rejects_wrong_col_shape():
    with pytest.raises(ValueError) as exc:
        col2im(np.zeros((10, 27)), (2, 3, 5, 5), 3, 3)
    assert "(10, 27)" in str(exc.value) and "(18, 27)" in str(exc.value)
    with pytest.raises(ValueError) as exc:
        fold(np.zeros((2, 27, 10)), (2, 3, 5, 5), 3, 3)
    assert "(2, 27, 10)" in str(exc.value) and "(2, 27, 9)" in str(exc.value)
    with pytest.raises(ValueError):
        conv_output_size(4, 3, 2, -1)
