"""Convolution and Pooling on the fast path (nnscratch.kernels, the default) against the reference
(``fast = False``, the book's im2col form) and torch, float64 to 1e-10: outputs and every gradient;
gradient checks; ReLU folding in the book's networks."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch import kernels
from nnscratch.layers import Convolution, Pooling, Relu, fold_relus
from nnscratch.models import DeepConvNet, SimpleConvNet

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (N, C, H, W, FN, K, stride, pad): strides 1-2, padding 0-2, odd sizes, 1-64 channels
CONV_CASES = [(n, c, h, w, fn, k, s, p)
              for (n, c, h, w, fn, k) in [(2, 1, 7, 9, 3, 3), (3, 3, 9, 7, 5, 3), (2, 16, 7, 7, 8, 3),
                                          (1, 64, 5, 7, 64, 3), (2, 5, 11, 9, 7, 5), (2, 32, 6, 6, 1, 2)]
              for s in (1, 2) for p in (0, 1, 2)]

ATOL = 1e-10


def _pair(make):
    fast, ref = make(), make()
    ref.fast = False
    return fast, ref


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c)))
def test_convolution_fast_matches_reference_and_torch(case, rng):
    n, c, h, w, fn, k, s, p = case
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, k, k)), rng.standard_normal(fn)
    fast, ref = _pair(lambda: Convolution(W.copy(), b.copy(), stride=s, pad=p))
    assert fast.fast and not ref.fast
    y, y_ref = fast.forward(x), ref.forward(x)
    dout = rng.standard_normal(y.shape)
    dx, dx_ref = fast.backward(dout), ref.backward(dout)
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    yt = F.conv2d(xt, Wt, bt, stride=s, padding=p)
    yt.backward(torch.tensor(dout))
    for ours, refs, theirs in [(y, y_ref, yt), (dx, dx_ref, xt.grad), (fast.grads["W"], ref.grads["W"], Wt.grad),
                               (fast.grads["b"], ref.grads["b"], bt.grad)]:
        np.testing.assert_allclose(ours, refs, rtol=0, atol=ATOL)
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=ATOL)


POOL_CASES = [(2, 3, 8, 8, 2, 2, 2, 0), (2, 5, 9, 7, 3, 3, 2, 1), (1, 64, 7, 9, 2, 2, 1, 1),
              (2, 1, 11, 11, 3, 3, 3, 0), (3, 16, 6, 6, 4, 4, 2, 2)]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "x".join(map(str, c)))
def test_pooling_fast_matches_reference_and_torch(case, mode, rng):
    n, c, h, w, ph, pw, s, p = case
    x = rng.standard_normal((n, c, h, w))
    fast, ref = _pair(lambda: Pooling(ph, pw, s, p, mode))
    y, y_ref = fast.forward(x), ref.forward(x)
    dout = rng.standard_normal(y.shape)
    dx, dx_ref = fast.backward(dout), ref.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    yt = pool(xt, (ph, pw), s, p)
    yt.backward(torch.tensor(dout))
    for ours, refs, theirs in [(y, y_ref, yt), (dx, dx_ref, xt.grad)]:
        np.testing.assert_allclose(ours, refs, rtol=0, atol=ATOL)
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=ATOL)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("s, p", [(1, 0), (1, 2), (2, 1)])
def test_convolution_gradient_check(grad_errors, rng, fast, relu, s, p):
    layer = Convolution(rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), stride=s, pad=p)
    layer.fast, layer.relu = fast, relu
    errors = grad_errors(layer, rng.standard_normal((2, 3, 7, 6)))
    assert set(errors) == {"W", "b", "x"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("mode, relu", [("max", False), ("max", True), ("avg", False)])
def test_pooling_gradient_check(grad_errors, rng, fast, mode, relu):
    layer = Pooling(3, 3, stride=2, pad=1, mode=mode)
    layer.fast, layer.relu = fast, relu
    errors = grad_errors(layer, rng.standard_normal((2, 3, 7, 9)))
    assert max(errors.values()) < 1e-6, errors


def test_fast_outputs_are_channels_last_and_nchw_shaped(rng):
    conv = Convolution(rng.standard_normal((8, 3, 3, 3)), np.zeros(8), pad=1)
    y = conv.forward(rng.standard_normal((2, 3, 6, 6)))
    assert y.shape == (2, 8, 6, 6) and kernels.channels_last(y)
    assert Pooling(2, 2).forward(y).shape == (2, 8, 3, 3)


def test_backward_before_forward_and_after_inference_raise(rng):
    conv = Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    with pytest.raises(RuntimeError, match="before"):
        conv.backward(np.zeros((1, 2, 3, 3)))
    conv.forward(rng.standard_normal((1, 1, 5, 5)), train=False)  # keeps nothing for backward
    with pytest.raises(RuntimeError, match="before"):
        conv.backward(np.zeros((1, 2, 3, 3)))
    pool = Pooling(2, 2)
    with pytest.raises(RuntimeError, match="before"):
        pool.backward(np.zeros((1, 2, 1, 1)))


def test_fold_relus_in_the_book_networks():
    deep = DeepConvNet(seed=0)
    layers = list(deep.layers.values())
    folded = [l for l in layers if isinstance(l, Relu) and l.folded]
    assert len(folded) == 6  # each conv's ReLU: 3 into the pools, 3 into the convs before a conv
    assert [l.relu for l in layers if isinstance(l, Pooling)] == [True, True, True]
    assert [l.relu for l in layers if isinstance(l, Convolution)] == [True, False, True, False, True, False]
    assert not any(l.folded for l in layers if isinstance(l, Relu) and l not in folded)  # the Affine's ReLU
    assert fold_relus(layers) == 0  # idempotent
    ref = [Convolution(np.ones((1, 1, 1, 1)), np.zeros(1)), Relu()]
    ref[0].fast = False
    assert fold_relus(ref) == 0 and not ref[1].folded


@pytest.mark.parametrize("make", [SimpleConvNet, DeepConvNet])
def test_network_fast_matches_reference_and_torch_float64(make, rng):
    """Whole networks in float64: the fast, folded model against the same weights on the reference
    layers (nothing folded) and against torch: scores, loss and every parameter's gradient."""
    fast = make(seed=1, dtype=np.float64)
    ref = make(seed=1, dtype=np.float64)
    for layer in ref.layers.values():
        layer.fast, layer.relu, layer.folded = False, False, False
    x, t = rng.standard_normal((3, 1, 28, 28)), rng.integers(0, 10, 3)
    g_fast, g_ref = fast.gradient(x, t), ref.gradient(x, t)
    assert abs(fast.last_loss - ref.last_loss) < 1e-10
    np.testing.assert_allclose(fast.predict(x), ref.predict(x), rtol=0, atol=1e-10)
    for k in g_ref:
        np.testing.assert_allclose(g_fast[k], g_ref[k], rtol=0, atol=1e-10, err_msg=k)
    if make is DeepConvNet:
        return  # its Dropout layers draw their own masks (the same in both models above, not in torch)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in fast.params.items()}
    h = torch.tensor(x)
    for name, layer in fast.layers.items():
        kind = type(layer).__name__
        if kind == "Convolution":
            h = F.conv2d(h, params[f"{name}.W"], params[f"{name}.b"], stride=layer.stride, padding=layer.pad)
        elif kind == "Pooling":
            h = F.max_pool2d(h, (layer.pool_h, layer.pool_w), layer.stride, layer.pad)
        elif kind == "Relu":
            h = h.relu()
        elif kind == "Affine":
            h = h.reshape(h.shape[0], -1) @ params[f"{name}.W"] + params[f"{name}.b"]
    loss = F.cross_entropy(h, torch.tensor(t))
    loss.backward()
    assert abs(float(loss.detach()) - fast.last_loss) < 1e-10
    for k, p in params.items():
        np.testing.assert_allclose(g_fast[k], p.grad.numpy(), rtol=0, atol=1e-10, err_msg=k)
