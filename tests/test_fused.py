"""A first Conv - ReLU - max Pool in one pass (kernels.fused, layers.fold.ConvReluPool): float64 parity
with the separate kernels and torch (1e-10), a gradient check, where it applies and where it does not."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch import gradient, kernels
from nnscratch.kernels import fused
from nnscratch.layers import Convolution, Pooling, Relu
from nnscratch.layers.fold import ConvReluPool
from nnscratch.models import DeepConvNet, Sequential, SimpleConvNet

torch = pytest.importorskip("torch")
threadpoolctl = pytest.importorskip("threadpoolctl")
F = torch.nn.functional

# (N, C, H, W, FN, FH, FW, stride, pad, pool): SimpleConvNet's conv1-pool1 and odd geometries
CASES = [
    (5, 1, 28, 28, 30, 5, 5, 1, 0, 2),
    (3, 3, 9, 6, 4, 3, 3, 1, 1, 3),
    (2, 2, 13, 10, 5, 3, 3, 2, 2, 2),
    (4, 7, 11, 11, 6, 4, 4, 1, 2, 4),
    (1, 1, 6, 6, 2, 1, 1, 1, 0, 6),
]


def _torch(x, W, b, s, p, pool, dout):
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    y = F.max_pool2d(F.conv2d(xt, Wt, bt, stride=s, padding=p).relu(), pool, pool)
    y.backward(torch.tensor(dout))
    return y.detach().numpy(), Wt.grad.numpy(), bt.grad.numpy()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", CASES)
def test_fused_matches_separate_kernels_and_torch(case, workers, rng, monkeypatch):
    n, c, h, w, fn, fh, fw, s, p, pool = case
    monkeypatch.setattr(fused, "FUSED_CHUNK_BYTES", 4096)  # many chunks, split over the workers
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn)
    assert fused.fusable(x.shape, W.shape, s, p, pool)
    with threadpoolctl.threadpool_limits(workers):
        y, saved = fused.conv_pool_forward(x, W, b, s, p, pool, relu=True)
        dout = rng.standard_normal(y.shape)
        dW, db = fused.conv_pool_backward(dout, saved, W)
        conv, conv_saved = kernels.conv2d_forward(x, W, b, s, p)
        ref, pool_saved = kernels.pool2d_forward(conv, pool, pool, pool, relu=True)
        _, ref_dW, ref_db = kernels.conv2d_backward(kernels.pool2d_backward(dout, pool_saved), conv_saved, W)
    for ours, theirs in zip((y, dW, db), (ref, ref_dW, ref_db)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    for ours, theirs in zip((y, dW, db), _torch(x, W, b, s, p, pool, dout)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    assert y.flags.c_contiguous  # NCHW, like the book's: an Affine after it reshapes without a copy


def test_fused_without_relu_and_ties_go_to_the_first_maximum():
    x = np.zeros((2, 1, 4, 4))  # a constant image: every window is one tie, at the bias
    W, b = np.ones((3, 1, 1, 1)), np.array([-1.0, 0.5, 2.0])
    y, saved = fused.conv_pool_forward(x, W, b, 1, 0, 2, relu=False)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], (2, 3, 2, 2)))
    assert (saved.arg == 0).all()  # offset 0 of each window: torch's choice
    y, saved = fused.conv_pool_forward(x, W, b, 1, 0, 2, relu=True)
    assert (y[:, 0] == 0).all() and (saved.arg[..., 0] == 4).all()  # the ReLU's zeros route nothing
    dW, db = fused.conv_pool_backward(np.ones(y.shape), saved, W)
    np.testing.assert_array_equal(db, [0.0, 8.0, 8.0])


def test_fused_gradient_check(rng):
    x, W, b = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    probe = rng.standard_normal((2, 3, 2, 2))

    def f(_=None):
        return float(np.sum(fused.conv_pool_forward(x, W, b, 1, 0, 2, relu=True, keep=False)[0] * probe))

    _, saved = fused.conv_pool_forward(x, W, b, 1, 0, 2, relu=True)
    dW, db = fused.conv_pool_backward(probe, saved, W)
    for analytic, arr in ((dW, W), (db, b)):
        assert gradient.relative_error(analytic, gradient.numerical_gradient(f, arr, 1e-5)) < 1e-6


@pytest.mark.parametrize("shapes, fuses", [
    (((2, 1, 28, 28), (30, 1, 5, 5), 1, 0, 2), True),
    (((2, 8, 28, 28), (30, 8, 5, 5), 1, 0, 2), False),  # 8 channels: the stride-1 path, not columns
    (((2, 1, 27, 27), (30, 1, 5, 5), 1, 0, 2), False),  # 23x23 output: the windows do not tile it
    (((2, 2, 28, 28), (30, 1, 5, 5), 1, 0, 2), False),  # channels do not match
    (((2, 1, 28), (30, 1, 5, 5), 1, 0, 2), False),
])
def test_where_the_fused_pass_applies(shapes, fuses):
    assert fused.fusable(*shapes) is fuses


def test_fused_errors(rng):
    x, W, b = rng.standard_normal((2, 1, 6, 6)), rng.standard_normal((3, 1, 3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="do not fuse"):
        fused.conv_pool_forward(x[:, :, :5], W, b, 1, 0, 2, relu=True)
    y, saved = fused.conv_pool_forward(x, W, b, 1, 0, 2, relu=True, keep=False)
    with pytest.raises(ValueError, match="keep=True"):
        fused.conv_pool_backward(np.zeros(y.shape), saved, W)
    _, saved = fused.conv_pool_forward(x, W, b, 1, 0, 2, relu=True)
    with pytest.raises(ValueError, match="expects dout of shape"):
        fused.conv_pool_backward(np.zeros((2, 3, 3, 2)), saved, W)


def test_simple_conv_net_runs_its_front_fused_and_matches_it_layer_by_layer(rng):
    fused_net, plain = SimpleConvNet(seed=3, dtype=np.float64), SimpleConvNet(seed=3, dtype=np.float64)
    plain._front = None  # the same fast, folded layers, one by one
    x, t = rng.standard_normal((4, 1, 28, 28)), rng.integers(0, 10, 4)
    g, ref = fused_net.gradient(x, t), plain.gradient(x, t)
    assert fused_net._front._fused and isinstance(fused_net._passes()[0], ConvReluPool)
    assert abs(fused_net.last_loss - plain.last_loss) < 1e-12
    for k in ref:
        np.testing.assert_allclose(g[k], ref[k], rtol=0, atol=1e-10, err_msg=k)
    np.testing.assert_allclose(fused_net.predict(x), plain.predict(x), rtol=0, atol=1e-10)
    assert fused_net.accuracy(x, t) == plain.accuracy(x, t)


def test_the_front_runs_layer_by_layer_where_fusing_does_not_apply(rng):
    net = SimpleConvNet(seed=0, dtype=np.float64)
    x, t = rng.standard_normal((2, 1, 28, 28)), rng.integers(0, 10, 2)
    net.layers["conv1"].fast = False  # a learner switching conv1 to the book's im2col
    g = net.gradient(x, t)
    assert not net._front._fused and np.isfinite(g["conv1.W"]).all()
    net.layers["conv1"].fast = True
    net.layers["conv1"].input_grad = True  # someone wants dx: the separate layers give it
    net.gradient(x, t)
    assert not net._front._fused
    assert DeepConvNet(seed=0)._front is None  # conv - ReLU - conv: nothing to fuse
    net2 = Sequential([Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2)), Relu(), Pooling(2, 2)])
    net2.layers["relu1"] = Relu()  # a model edited after it was built runs its layers as they now are
    assert net2._passes() == list(net2.layers.values())
