"""Convolution, Pooling (max / average) and Flatten (ch. 7): gradient checks, torch parity, ties, errors, dtypes."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnscratch.layers import LAYER_REGISTRY, AveragePooling, Convolution, Flatten, MaxPooling, Pooling
from nnscratch.layers.im2col import col2im, im2col

im2col_module = importlib.import_module("nnscratch.layers.im2col")  # the name im2col is also the function


def make_conv(rng, fn, c, fh, fw, stride=1, pad=0, dtype=np.float64) -> Convolution:
    W = rng.standard_normal((fn, c, fh, fw)).astype(dtype)
    b = rng.standard_normal(fn).astype(dtype)
    return Convolution(W, b, stride=stride, pad=pad)


def distinct(rng, shape) -> np.ndarray:
    """Values pairwise >= 0.01 apart, so a 1e-5 nudge never changes which input is a window's max."""
    return (rng.permutation(int(np.prod(shape))) * 0.01 - 1.0).reshape(shape)


def book_conv(x, W, b, stride, pad) -> np.ndarray:
    """The book's Convolution.forward (ch. 7.4.3): im2col, one dot, reshape, transpose."""
    fn, _, fh, fw = W.shape
    n, _, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    out = im2col(x, fh, fw, stride, pad) @ W.reshape(fn, -1).T + b
    return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)


# ---------------------------------------------------------------- Convolution

CONV_CASES = [  # (N, C, H, W, FN, FH, FW, stride, pad)
    (2, 3, 7, 7, 4, 3, 3, 1, 0),
    (2, 3, 7, 7, 4, 3, 3, 1, 1),
    (2, 2, 7, 6, 3, 3, 3, 2, 1),
    (2, 2, 6, 7, 3, 2, 3, 1, 2),
    (2, 1, 8, 8, 2, 5, 5, 2, 2),
    (1, 4, 5, 5, 5, 1, 1, 1, 0),
    (3, 2, 6, 6, 2, 3, 2, 2, 0),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_gradient_check(case, rng, grad_errors):
    n, c, h, w, fn, fh, fw, s, p = case
    layer = make_conv(rng, fn, c, fh, fw, s, p)
    errors = grad_errors(layer, rng.standard_normal((n, c, h, w)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_torch_parity(case, rng):
    torch = pytest.importorskip("torch")
    n, c, h, w, fn, fh, fw, s, p = case
    layer = make_conv(rng, fn, c, fh, fw, s, p)
    x = rng.standard_normal((n, c, h, w))
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.W, requires_grad=True)
    bt = torch.tensor(layer.b, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads["W"], wt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("chunk_bytes", [None, 1, 30_000])
@pytest.mark.parametrize("case", [(37, 16, 9, 9, 8, 3, 3, 1, 1), (70, 3, 12, 10, 5, 5, 5, 1, 0),
                                  (45, 8, 9, 9, 16, 3, 3, 2, 1), (9, 2, 8, 8, 3, 3, 3, 3, 0)])
def test_convolution_big_batch_matches_book_forward_and_adjoint(case, chunk_bytes, rng, monkeypatch):
    """Whole batches, one sample per chunk, and uneven chunks all agree with the book's im2col + dot."""
    if chunk_bytes is not None:
        monkeypatch.setattr(im2col_module, "CHUNK_BYTES", chunk_bytes)
    n, c, h, w, fn, fh, fw, s, p = case
    layer = make_conv(rng, fn, c, fh, fw, s, p)
    x = rng.standard_normal((n, c, h, w))
    out = layer.forward(x)
    np.testing.assert_allclose(out, book_conv(x, layer.W, layer.b, s, p), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    # adjoint identities: <conv(x) - b, dout> == <x, dx> == <W, dW>
    lin = np.sum((out - layer.b[:, None, None]) * dout)
    assert abs(lin - np.sum(x * dx)) < 1e-9 * abs(lin)
    assert abs(lin - np.sum(layer.W * layer.grads["W"])) < 1e-9 * abs(lin)
    np.testing.assert_allclose(layer.grads["b"], dout.sum(axis=(0, 2, 3)), rtol=1e-12)


def book_conv_backward(x, W, dout, stride, pad):
    """The book's Convolution.backward (ch. 7.4.3): (dx, dW, db) through im2col / col2im."""
    fn, c, fh, fw = W.shape
    col = im2col(x, fh, fw, stride, pad)
    d2 = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
    dW = (col.T @ d2).T.reshape(W.shape)
    dx = col2im(d2 @ W.reshape(fn, -1), x.shape, fh, fw, stride, pad)
    return dx, dW, d2.sum(axis=0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), fn=st.integers(1, 3),
       fh=st.integers(1, 4), fw=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 3),
       chunk_bytes=st.sampled_from([1, 2000, 2**21]))
def test_property_any_geometry_matches_the_book(n, c, h, w, fn, fh, fw, s, p, chunk_bytes):
    """Every geometry (stride-1 shift plan, strided plan, any chunking) equals the book's im2col layer."""
    if fh > h + 2 * p or fw > w + 2 * p:
        return
    rng = np.random.default_rng(h * 1000 + w * 100 + fh * 10 + fw)
    layer = make_conv(rng, fn, c, fh, fw, s, p)
    x = rng.standard_normal((n, c, h, w))
    saved = im2col_module.CHUNK_BYTES
    im2col_module.CHUNK_BYTES = chunk_bytes
    try:
        out = layer.forward(x)
        dout = rng.standard_normal(out.shape)
        dx = layer.backward(dout)
    finally:
        im2col_module.CHUNK_BYTES = saved
    np.testing.assert_allclose(out, book_conv(x, layer.W, layer.b, s, p), rtol=1e-10, atol=1e-10)
    ref_dx, ref_dW, ref_db = book_conv_backward(x, layer.W, dout, s, p)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["W"], ref_dW, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["b"], ref_db, rtol=1e-10, atol=1e-10)


def test_convolution_float32_in_float32_out_and_close_to_float64(rng):
    layer64 = make_conv(rng, 6, 3, 3, 3, 1, 1)
    layer32 = Convolution(layer64.W.astype(np.float32), layer64.b.astype(np.float32), stride=1, pad=1)
    x = rng.standard_normal((20, 3, 10, 10))
    dout = rng.standard_normal((20, 6, 10, 10))
    out32, out64 = layer32.forward(x.astype(np.float32)), layer64.forward(x)
    dx32, dx64 = layer32.backward(dout.astype(np.float32)), layer64.backward(dout)
    assert out32.dtype == dx32.dtype == np.float32
    assert layer32.grads["W"].dtype == layer32.grads["b"].dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer32.grads["W"], layer64.grads["W"], rtol=1e-4, atol=1e-3)


def test_convolution_contract(rng):
    layer = make_conv(rng, 4, 3, 3, 2, stride=2, pad=1)
    assert layer.prefix == "conv" and LAYER_REGISTRY["Convolution"] is Convolution
    assert layer.get_config() == {"stride": 2, "pad": 1}
    x = rng.standard_normal((2, 3, 9, 8))
    W_before = layer.params["W"]
    out = layer.forward(x)
    assert out.shape[1:] == layer.output_shape((3, 9, 8)) == (4, 5, 5)
    layer.backward(np.ones_like(out))
    assert layer.params["W"] is W_before, "a parameter array was rebound"
    assert layer.grads["W"].shape == layer.W.shape and layer.grads["b"].shape == layer.b.shape
    rebuilt = Convolution(**layer.get_config(), **layer.params)
    np.testing.assert_array_equal(rebuilt.forward(x), out)
    layer.params["W"] -= 1.0  # an optimizer's in-place update is seen by the next forward
    assert not np.allclose(layer.forward(x), out)
    assert "Convolution" in repr(layer)


def test_convolution_without_input_grad_still_computes_dW_db(rng):
    layer = make_conv(rng, 3, 2, 3, 3, 1, 1)
    x = rng.standard_normal((4, 2, 6, 6))
    dout = rng.standard_normal((4, 3, 6, 6))
    layer.forward(x)
    dx = layer.backward(dout)
    dW, db = layer.grads["W"].copy(), layer.grads["b"].copy()
    layer.input_grad = False
    layer.forward(x)
    assert layer.backward(dout) is None
    np.testing.assert_array_equal(layer.grads["W"], dW)
    np.testing.assert_array_equal(layer.grads["b"], db)
    assert "input_grad" not in layer.get_config() and dx.shape == x.shape


@pytest.mark.parametrize("x_shape, words", [
    ((2, 4, 8, 8), ["(2, 4, 8, 8)", "(5, 3, 3, 3)", "3"]),  # channels do not match W.shape[1]
    ((2, 3, 8), ["4-D", "(2, 3, 8)"]),
    ((2, 3, 1, 1), ["3x3", "(2, 3, 1, 1)"]),  # kernel larger than the padded input (pad=0)
])
def test_convolution_bad_input_names_shapes(x_shape, words):
    layer = Convolution(np.zeros((5, 3, 3, 3)), np.zeros(5))
    with pytest.raises(ValueError) as exc:
        layer.forward(np.zeros(x_shape))
    for word in words:
        assert word in str(exc.value)


def test_convolution_bad_construction_and_dout():
    with pytest.raises(ValueError, match=r"\(5, 3, 3\)"):
        Convolution(np.zeros((5, 3, 3)), np.zeros(5))
    with pytest.raises(ValueError, match=r"\(4,\)"):
        Convolution(np.zeros((5, 3, 3, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="stride"):
        Convolution(np.zeros((5, 3, 3, 3)), np.zeros(5), stride=0)
    with pytest.raises(ValueError, match="pad"):
        Convolution(np.zeros((5, 3, 3, 3)), np.zeros(5), pad=-1)
    with pytest.raises(ValueError, match=r"3x3.*\(3, 2, 2\)"):  # output size would be 0
        Convolution(np.zeros((5, 3, 3, 3)), np.zeros(5)).output_shape((3, 2, 2))
    with pytest.raises(ValueError, match=r"\(5, 3, 3, 3\)"):
        Convolution(np.zeros((5, 3, 3, 3)), np.zeros(5)).output_shape((4, 8, 8))
    layer = Convolution(np.zeros((5, 3, 3, 3)), np.zeros(5), pad=1)
    with pytest.raises(RuntimeError):
        layer.backward(np.zeros((1, 5, 4, 4)))
    layer.forward(np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"\(1, 5, 4, 4\)"):
        layer.backward(np.zeros((1, 5, 3, 4)))


# ---------------------------------------------------------------- Pooling

POOL_CASES = [  # (N, C, H, W, pool_h, pool_w, stride, pad): tiling fast path first, then general
    (2, 3, 6, 6, 2, 2, None, 0),
    (2, 2, 6, 8, 3, 2, 3, 0),  # stride 3 along the width of a 2-wide window: general path
    (2, 2, 7, 7, 2, 2, None, 0),
    (2, 2, 7, 7, 3, 3, 2, 1),
    (1, 3, 5, 6, 2, 3, 1, 1),
    (2, 1, 8, 8, 4, 4, 4, 2),
]


def pool_args(case):
    n, c, h, w, ph, pw, s, p = case
    return (n, c, h, w), dict(pool_h=ph, pool_w=pw, stride=s, pad=p)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_gradient_check(case, mode, rng, grad_errors):
    shape, kw = pool_args(case)
    layer = Pooling(**kw, mode=mode)
    errors = grad_errors(layer, distinct(rng, shape))
    assert set(errors) == {"x"}
    assert errors["x"] < 1e-6, errors


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_torch_parity(case, mode, rng):
    torch = pytest.importorskip("torch")
    shape, kw = pool_args(case)
    layer = Pooling(**kw, mode=mode)
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    f = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    yt = f(xt, (kw["pool_h"], kw["pool_w"]), stride=kw["stride"], padding=kw["pad"])
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kw", [dict(pool_h=2, pool_w=2), dict(pool_h=3, pool_w=3, stride=2, pad=1),
                                dict(pool_h=2, pool_w=2, stride=1), dict(pool_h=2, pool_w=2, stride=2),
                                dict(pool_h=3, pool_w=2, stride=1, pad=1)])
def test_max_pool_ties_route_to_one_input_like_torch(kw, rng):
    """ReLU outputs are full of tied zeros: each output gradient goes to exactly one input (the first max)."""
    torch = pytest.importorskip("torch")
    x = np.maximum(rng.integers(-3, 2, size=(3, 4, 8, 8)), 0).astype(np.float64)  # ~80 % zeros, rest ones
    layer = MaxPooling(**kw)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, (kw["pool_h"], kw["pool_w"]), stride=kw.get("stride"),
                                        padding=kw.get("pad", 0))
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)
    # with dout = 1, the gradient mass equals the number of outputs: nothing duplicated or lost
    assert layer.backward(np.ones_like(out)).sum() == out.size
    zeros = MaxPooling(**kw)
    zeros.forward(np.zeros_like(x))
    assert zeros.backward(np.ones_like(out)).sum() == out.size


def ref_pool(x, ph, pw, s, p, mode, dout):
    """One window at a time: max (first maximum in row-major order gets the gradient) or mean."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * p - ph) // s + 1, (w + 2 * p - pw) // s + 1
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], constant_values=-np.inf if mode == "max" else 0.0)
    out, dxp = np.zeros((n, c, oh, ow)), np.zeros_like(xp)
    for b in range(n):
        for ch in range(c):
            for y in range(oh):
                for z in range(ow):
                    win = xp[b, ch, y * s:y * s + ph, z * s:z * s + pw]
                    dwin = dxp[b, ch, y * s:y * s + ph, z * s:z * s + pw]
                    if mode == "max":
                        i, j = np.unravel_index(np.argmax(win), win.shape)  # argmax: the first maximum
                        out[b, ch, y, z] = win[i, j]
                        dwin[i, j] += dout[b, ch, y, z]
                    else:
                        out[b, ch, y, z] = win.sum() / (ph * pw)
                        dwin += dout[b, ch, y, z] / (ph * pw)
    return out, dxp[:, :, p:p + h, p:p + w]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(1, 7), w=st.integers(1, 7), ph=st.integers(1, 3),
       pw=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1), mode=st.sampled_from(["max", "avg"]),
       ties=st.booleans())
def test_property_pooling_any_geometry_matches_loop(n, c, h, w, ph, pw, s, p, mode, ties):
    if 2 * p > min(ph, pw) or ph > h + 2 * p or pw > w + 2 * p:
        return
    rng = np.random.default_rng(h * 100 + w * 10 + ph)
    x = rng.integers(-1, 2, size=(n, c, h, w)).astype(float) if ties else rng.standard_normal((n, c, h, w))
    layer = Pooling(ph, pw, stride=s, pad=p, mode=mode)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    ref_out, ref_dx = ref_pool(x, ph, pw, s, p, mode, dout)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), ref_dx, rtol=1e-12, atol=1e-12)


def test_pooling_values_fast_path(rng):
    x = rng.standard_normal((2, 3, 4, 6))
    windows = x.reshape(2, 3, 2, 2, 3, 2)
    np.testing.assert_array_equal(MaxPooling(2, 2).forward(x), windows.max(axis=(3, 5)))
    np.testing.assert_allclose(AveragePooling(2, 2).forward(x), windows.mean(axis=(3, 5)), rtol=1e-14)


def test_avg_pool_with_padding_counts_the_zeros():
    """count_include_pad (torch's default): a corner 2x2 window with pad 1 sees one pixel and three zeros."""
    out = AveragePooling(2, 2, stride=2, pad=1).forward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 0.25))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_float32_and_contract(mode, rng):
    layer = Pooling(3, 3, stride=2, pad=1, mode=mode)
    assert layer.prefix == "pool" and layer.params == {} and layer.grads == {}
    assert layer.get_config() == {"pool_h": 3, "pool_w": 3, "stride": 2, "pad": 1, "mode": mode}
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32 and out.shape[1:] == layer.output_shape((3, 9, 8)) == (3, 5, 4)
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    x_before = x.copy()
    np.testing.assert_array_equal(Pooling(**layer.get_config()).forward(x), out)
    np.testing.assert_array_equal(x, x_before)
    assert Pooling(2, 2).get_config()["stride"] == 2


def test_pooling_subclasses():
    m, a = MaxPooling(2, 2), AveragePooling(3, 3, stride=1, pad=1)
    assert m.mode == "max" and a.mode == "avg" and isinstance(m, Pooling)
    assert m.get_config() == {"pool_h": 2, "pool_w": 2, "stride": 2, "pad": 0}
    assert LAYER_REGISTRY["AveragePooling"](**a.get_config()).get_config() == a.get_config()


def test_pooling_bad_input():
    with pytest.raises(ValueError, match="mode"):
        Pooling(2, 2, mode="median")
    with pytest.raises(ValueError, match="pad"):
        Pooling(2, 2, pad=2)  # more than half the window: a window could hold only padding
    with pytest.raises(ValueError, match="stride"):
        Pooling(2, 2, stride=-1)
    with pytest.raises(ValueError, match=r"\(2, 4, 4\)"):
        MaxPooling(2, 2).forward(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"3x3.*\(1, 1, 2, 2\)|\(1, 1, 2, 2\).*3x3"):
        MaxPooling(3, 3).forward(np.zeros((1, 1, 2, 2)))
    layer = MaxPooling(2, 2)
    layer.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"\(1, 1, 2, 2\)"):
        layer.backward(np.zeros((1, 1, 3, 3)))


# ---------------------------------------------------------------- Flatten

def test_flatten(rng):
    layer = Flatten()
    x = rng.standard_normal((4, 3, 2, 5)).astype(np.float32)
    out = layer.forward(x)
    assert out.shape == (4, 30) and out.dtype == np.float32 and layer.prefix == "flatten"
    np.testing.assert_array_equal(out, x.reshape(4, 30))
    assert layer.output_shape((3, 2, 5)) == (30,)
    dout = rng.standard_normal((4, 30)).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dout), dout.reshape(4, 3, 2, 5))
    assert Flatten(**layer.get_config()).get_config() == {}
    with pytest.raises(ValueError, match=r"\(4, 29\)"):
        layer.backward(np.zeros((4, 29)))
    with pytest.raises(ValueError, match=r"\(4,\)"):
        layer.forward(np.zeros(4))
