"""nnscratch.kernels: float64 parity with the reference layers and torch (1e-10), gradient checks, layout, threads."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch import gradient, kernels
from nnscratch.kernels import blas, cblas, threads
from nnscratch.kernels import conv as kconv
from nnscratch.kernels.geometry import Geometry
from nnscratch.layers import Convolution, Pooling

torch = pytest.importorskip("torch")
F = torch.nn.functional
threadpoolctl = pytest.importorskip("threadpoolctl")

# (N, C, H, W, FN, FH, FW, stride, pad): both stride-1 modes (few channels: columns; else one
# product per offset), the im2col path (stride 2, pad >= kernel), odd sizes, 1x1 to 5x5 kernels
CONV_CASES = [
    (1, 1, 7, 9, 4, 3, 3, 1, 1),
    (3, 3, 7, 9, 5, 5, 5, 1, 2),
    (2, 16, 7, 9, 8, 3, 3, 1, 0),
    (2, 16, 9, 7, 8, 3, 3, 1, 2),
    (2, 8, 7, 9, 3, 2, 2, 1, 1),
    (2, 64, 5, 5, 64, 3, 3, 1, 1),
    (2, 12, 7, 9, 5, 1, 1, 1, 0),
    (2, 4, 7, 9, 3, 1, 1, 1, 1),
    (2, 3, 7, 9, 4, 3, 3, 2, 1),
    (3, 10, 9, 7, 6, 5, 5, 2, 2),
    (2, 2, 8, 8, 4, 2, 2, 2, 0),
    (37, 16, 6, 6, 9, 3, 3, 1, 1),
]


def channels_last(a: np.ndarray) -> np.ndarray:
    """The same NCHW array stored channels-last."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def torch_conv(x, W, b, stride, pad, dout, relu=False):
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    y = F.conv2d(xt, Wt, bt, stride=stride, padding=pad)
    if relu:
        y = y.relu()
    y.backward(torch.tensor(dout))
    return y.detach().numpy(), xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_layer_and_torch(case, workers, rng):
    n, c, h, w, fn, fh, fw, s, p = case
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn)
    layer = Convolution(W.copy(), b.copy(), stride=s, pad=p)
    layer.fast = False  # the book-readable reference
    with threadpoolctl.threadpool_limits(workers):
        y, saved = kernels.conv2d_forward(x, W, b, s, p, workspace=kernels.Workspace())
        dout = rng.standard_normal(y.shape)
        dx, dW, db = kernels.conv2d_backward(dout, saved, W)
    assert saved.geometry.shift == (s == 1 and p < min(fh, fw))
    ref = layer.forward(x), layer.backward(dout), layer.grads["W"], layer.grads["b"]
    for ours, theirs in zip((y, dx, dW, db), ref):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    for ours, theirs in zip((y, dx, dW, db), torch_conv(x, W, b, s, p, dout)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    assert kernels.channels_last(y) and kernels.channels_last(dx) and dW.flags.c_contiguous


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (0, 2, 5, 8)])
def test_conv_folded_relu_matches_torch(case, rng):
    n, c, h, w, fn, fh, fw, s, p = case
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn)
    y, saved = kernels.conv2d_forward(channels_last(x), W, b, s, p, relu=True)
    dout = rng.standard_normal(y.shape)
    got = (y, *kernels.conv2d_backward(dout, saved, W))
    for ours, theirs in zip(got, torch_conv(x, W, b, s, p, dout, relu=True)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_conv_without_input_grad_and_workspace_reuse(rng):
    """input_grad=False skips dx only; a workspace reused over batch sizes keeps its padding zero."""
    W, b = rng.standard_normal((6, 16, 3, 3)), rng.standard_normal(6)
    ws = kernels.Workspace()
    for n in (5, 2, 5):
        x = rng.standard_normal((n, 16, 7, 9))
        y, saved = kernels.conv2d_forward(x, W, b, 1, 1, workspace=ws)
        dout = rng.standard_normal(y.shape)
        dx, dW, db = kernels.conv2d_backward(dout, saved, W, input_grad=False, workspace=ws)
        ref = torch_conv(x, W, b, 1, 1, dout)
        assert dx is None
        for ours, theirs in zip((y, dW, db), (ref[0], ref[2], ref[3])):
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    y2, _ = kernels.conv2d_forward(x, W, b, 1, 1, workspace=ws, keep=False)
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("case", [(2, 3, 5, 6, 2, 3, 3, 1, 1), (2, 8, 5, 5, 3, 2, 2, 1, 1),
                                  (1, 2, 6, 5, 2, 3, 3, 2, 2)])
def test_conv_gradient_check(case, rng):
    n, c, h, w, fn, fh, fw, s, p = case
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn)
    probe = rng.standard_normal((n, fn, (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1))

    def f(_=None):
        return float(np.sum(kernels.conv2d_forward(x, W, b, s, p)[0] * probe))

    _, saved = kernels.conv2d_forward(x, W, b, s, p)
    dx, dW, db = kernels.conv2d_backward(probe, saved, W)
    for analytic, arr in ((dx, x), (dW, W), (db, b)):
        assert gradient.relative_error(analytic, gradient.numerical_gradient(f, arr, 1e-5)) < 1e-6


def test_conv_float32_and_errors(rng):
    x = rng.standard_normal((4, 16, 9, 9)).astype(np.float32)
    W, b = (rng.standard_normal((8, 16, 3, 3)) * 0.1).astype(np.float32), np.zeros(8, np.float32)
    y, saved = kernels.conv2d_forward(x, W, b, 1, 1)
    assert y.dtype == np.float32
    ref = F.conv2d(torch.tensor(x), torch.tensor(W), torch.tensor(b), padding=1).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="expects 16 input channels"):
        kernels.conv2d_forward(x[:, :3], W, b)
    with pytest.raises(ValueError, match="does not fit"):
        kernels.conv2d_forward(x[:, :, :2, :2], W, b)
    with pytest.raises(ValueError, match="stride"):
        kernels.conv2d_forward(x, W, b, stride=0)
    with pytest.raises(ValueError, match="dout of shape"):
        kernels.conv2d_backward(np.zeros((4, 8, 9, 8), np.float32), saved, W)


# ---------------------------------------------------------------- pooling

POOL_CASES = [  # (N, C, H, W, PH, PW, stride, pad)
    (2, 3, 8, 8, 2, 2, 2, 0),
    (1, 5, 7, 9, 2, 2, 2, 0),  # odd sizes: the last row / column is in no window
    (3, 4, 7, 9, 3, 3, 2, 1),  # overlapping windows, padding
    (2, 3, 7, 9, 3, 2, 1, 1),
    (2, 64, 6, 6, 3, 3, 3, 0),
]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_matches_layer_and_torch_with_ties(case, mode, workers, rng):
    n, c, h, w, ph, pw, s, p = case
    x = np.round(rng.standard_normal((n, c, h, w)))  # integers: many tied maxima
    with threadpoolctl.threadpool_limits(workers):
        y, saved = kernels.pool2d_forward(channels_last(x), ph, pw, s, p, mode)
        dout = rng.standard_normal(y.shape)
        dx = kernels.pool2d_backward(dout, saved)
    layer = Pooling(ph, pw, s, p, mode)
    layer.fast = False  # the book-readable reference
    np.testing.assert_allclose(y, layer.forward(x), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, layer.backward(dout), rtol=0, atol=1e-10)
    xt = torch.tensor(x, requires_grad=True)
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    yt = pool(xt, (ph, pw), s, p)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    assert kernels.channels_last(y) and kernels.channels_last(dx)


def test_max_pool_routes_ties_to_the_first_maximum():
    x = np.zeros((1, 1, 2, 2))
    y, saved = kernels.pool2d_forward(x, 2, 2)
    assert kernels.pool2d_backward(np.ones((1, 1, 1, 1)), saved)[0, 0].tolist() == [[1, 0], [0, 0]]


@pytest.mark.parametrize("case", POOL_CASES[:3])
def test_pool_folded_relu_matches_relu_then_pool(case, rng):
    n, c, h, w, ph, pw, s, p = case
    x = np.round(rng.standard_normal((n, c, h, w)) * 2) / 2
    y, saved = kernels.pool2d_forward(x, ph, pw, s, p, relu=True)
    dout = rng.standard_normal(y.shape)
    dx = kernels.pool2d_backward(dout, saved)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.max_pool2d(xt.relu(), (ph, pw), s, p)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="max pooling only"):
        kernels.pool2d_forward(x, 2, 2, mode="avg", relu=True)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_gradient_check(mode, rng):
    x = (rng.permutation(2 * 3 * 7 * 7) * 0.01 - 1.0).reshape(2, 3, 7, 7)  # distinct: no tie moves
    probe = rng.standard_normal(kernels.pool2d_forward(x, 3, 3, 2, 1, mode)[0].shape)

    def f(_=None):
        return float(np.sum(kernels.pool2d_forward(x, 3, 3, 2, 1, mode)[0] * probe))

    _, saved = kernels.pool2d_forward(x, 3, 3, 2, 1, mode)
    dx = kernels.pool2d_backward(probe, saved)
    assert gradient.relative_error(dx, gradient.numerical_gradient(f, x, 1e-5)) < 1e-6


def test_pool_errors():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="mode"):
        kernels.pool2d_forward(x, 2, 2, mode="min")
    with pytest.raises(ValueError, match="pad must be at most half"):
        kernels.pool2d_forward(x, 2, 2, pad=2)
    _, saved = kernels.pool2d_forward(x, 2, 2)
    with pytest.raises(ValueError, match="dout of shape"):
        kernels.pool2d_backward(np.zeros((1, 1, 3, 3)), saved)


# ---------------------------------------------------------------- helpers

@pytest.fixture(params=[True, False], ids=["cblas", "numpy"])
def blas_path(request, monkeypatch):
    """Each test twice: through the cblas accumulate (where there is one) and through NumPy alone."""
    if request.param and not cblas.available():
        pytest.skip("no OpenBLAS with cblas_?gemm loaded")
    monkeypatch.setattr(blas, "USE_CBLAS", request.param)


def test_gemm_accumulates_in_place(blas_path, rng):
    for dtype in (np.float32, np.float64):
        a, b = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
        out = np.ones((7, 3), dtype)
        res = kernels.gemm(a, b, out, accumulate=True)
        assert res is out
        np.testing.assert_allclose(out, 1 + a @ b, rtol=1e-5)
        kernels.gemm(np.asfortranarray(a), b.T.copy().T, out, accumulate=True)  # F-ordered operands
        np.testing.assert_allclose(out, 1 + 2 * (a @ b), rtol=1e-5)
        kernels.gemm(a[:, ::2], b[::2], out, accumulate=True)  # strided operands: the portable path
        np.testing.assert_allclose(out, 1 + 2 * (a @ b) + a[:, ::2] @ b[::2], rtol=1e-5)
        kernels.gemm(a[:, :4].T.copy().T, b[:4], out)
        np.testing.assert_allclose(out, a[:, :4] @ b[:4], rtol=1e-5)
        kernels.gemm(b.T, a.T, out.T.copy())  # transposed views are fine too


def test_row_accumulator_adds_each_offsets_product(blas_path, rng):
    for dtype in (np.float32, np.float64):
        a, w = rng.standard_normal((50, 6)).astype(dtype), rng.standard_normal((3, 6, 4)).astype(dtype)
        out, tmp = np.zeros((40, 4), dtype), np.empty((40, 4), dtype)
        acc = blas.accumulator(a, w, out, tmp)
        acc(7, 2, 30, 1)
        acc(0, 10, 25, 2)
        want = np.zeros((40, 4))
        want[2:32] += a[7:37].astype(np.float64) @ w[1]
        want[10:35] += a[0:25].astype(np.float64) @ w[2]
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_a_blas_binding_that_gets_a_product_wrong_is_refused():
    if not cblas.available():
        pytest.skip("no OpenBLAS with cblas_?gemm loaded")
    real = cblas._state["fns"]
    assert cblas._works(real) and cblas._state["fns"] is real  # the check leaves the binding in place
    idle = cblas.Gemm(lambda *a: None, lambda *a: None, real["f"].integer, real["f"].real)
    assert not cblas._works({"f": idle, "d": idle})  # computes nothing: refused
    assert cblas._state["fns"] is real
    assert not cblas.gemm(np.ones((2, 2))[:, :1], np.ones((1, 2)), np.zeros((2, 2)), 1.0)  # neither C nor F order


def test_split_covers_the_rows_on_chunk_boundaries():
    assert threads.split(10, 3, 4) == [(0, 4), (4, 8), (8, 10)]
    assert threads.split(10, 2, 4) == [(0, 4), (4, 10)] or threads.split(10, 2, 4) == [(0, 8), (8, 10)]
    assert threads.split(3, 4) == [(0, 1), (1, 2), (2, 3)]
    assert threads.split(5, 1, 2) == [(0, 5)]


def test_chunk_length_tracks_channels(monkeypatch):
    g = Geometry((2, 16, 28, 28), (16, 16, 3, 3), 1, 1)
    assert (g.row, g.m) == (29, 28 * 29 * 2)  # (H, W, N) grid: 28 rows of 29 pixels of 2 images
    monkeypatch.setattr(kconv, "CHUNK_MACS", 1)
    monkeypatch.setattr(kconv, "PARALLEL_CHUNK_MACS", 1)
    assert kconv._chunk_rows(g) == 256
    wide = Geometry((2, 64, 8, 8), (64, 64, 3, 3), 1, 1)
    monkeypatch.setattr(kconv, "CHUNK_MACS", 2**19)
    monkeypatch.setattr(kconv, "PARALLEL_CHUNK_MACS", 2**21)
    monkeypatch.setattr(threads, "workers", lambda: 1)
    assert kconv._chunk_rows(g) == 2048  # 2**19 multiply-adds per product: 2048 rows x 16 x 16
    monkeypatch.setattr(threads, "workers", lambda: 2)
    assert kconv._chunk_rows(g) == 8192  # split across threads: 4x longer products
    monkeypatch.setattr(threads, "workers", lambda: 1)
    assert kconv._chunk_rows(wide) == 256  # 16x the channel pairs: 16x shorter (at least 256 rows)
    assert kconv._ranges(g, 2, 28) == [(0, 56), (58, 114)]  # two output rows of 28 pixels x 2 images


def test_kernel_threads_accumulate_through_cblas(monkeypatch):
    """Worker threads take the GIL-free cblas accumulate too (SciPy's wrappers, used before, held the GIL)."""
    if not cblas.available():
        pytest.skip("no OpenBLAS with cblas_?gemm loaded")
    calls: list[str] = []
    real = cblas.gemm
    monkeypatch.setattr(cblas, "gemm", lambda *a: calls.append("cblas") or real(*a))
    a, b = np.ones((64, 8)), np.ones((8, 4))

    def rows(lo: int, hi: int, _: int) -> None:
        out = np.zeros((64, 4))
        blas.gemm(a, b, out, accumulate=True)
        assert np.all(out == 8)

    threads.run(rows, 10, n_workers=2)
    assert calls == ["cblas", "cblas"]


def _blas_threads() -> frozenset[int]:
    """The thread counts of the BLAS libraries loaded (not torch's OpenMP, which threadpoolctl also lists)."""
    return frozenset(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")


def test_a_network_pass_hands_blas_threads_to_the_kernels(monkeypatch):
    """Sequential runs its layers inside threads.handed_over: BLAS at 1 thread, the kernels at the count BLAS had."""
    from nnscratch.models import DeepConvNet, TwoLayerNet

    seen: list[tuple[int, int]] = []
    real = kconv.conv2d_forward

    def spy(*a, **kw):
        seen.append((_blas_threads(), threads.workers()))
        return real(*a, **kw)

    monkeypatch.setattr(kconv, "conv2d_forward", spy)
    monkeypatch.setattr(kernels, "conv2d_forward", spy)
    net = DeepConvNet()
    with threadpoolctl.threadpool_limits(2):
        net.predict(np.zeros((2, 1, 28, 28), np.float32))
        assert threads.workers() == 2  # restored after the pass
    assert len(seen) == 6 and set(seen) == {(frozenset({1}), 2)}
    with threadpoolctl.threadpool_limits(2):  # no layer on the kernels: BLAS keeps its threads
        with threads.handed_over():
            assert threads.workers() == 2
        TwoLayerNet(784, 50, 10).predict(np.zeros((2, 784), np.float32))
        assert _blas_threads() == {2}


def test_matmul_splits_over_the_workers_only_inside_a_handed_over_pass(rng, monkeypatch):
    """threads.matmul (Affine's product): a @ b everywhere; inside handed_over split over two workers by
    a's rows, b's columns or the reduction, whichever leaves the workers the least to read twice."""
    ranges: list[tuple[int, int, int]] = []
    real = threads.run
    monkeypatch.setattr(threads, "run", lambda fn, total, **kw: real(
        lambda lo, hi, w: ranges.append((total, lo, hi)) or fn(lo, hi, w), total, **kw))
    monkeypatch.setattr(threads, "SPLIT_MATMUL_MACS", 1000)
    long_k = rng.standard_normal((100, 300)), rng.standard_normal((300, 40))  # x @ W: split the reduction
    tall = rng.standard_normal((400, 20)), rng.standard_normal((20, 30))  # x^T @ dout: a's rows
    wide = rng.standard_normal((10, 20)), rng.standard_normal((20, 500))  # dout @ W^T: b's columns
    with threadpoolctl.threadpool_limits(2):
        np.testing.assert_allclose(threads.matmul(*long_k), long_k[0] @ long_k[1], rtol=1e-12)
        assert ranges == []  # outside a pass BLAS has its own threads
        with threads.handed_over():
            for (a, b), total in ((long_k, 300), (tall, 400), (wide, 500)):
                ranges.clear()
                np.testing.assert_allclose(threads.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)
                assert sorted(ranges) == [(total, 0, total // 2), (total, total // 2, total)]
    monkeypatch.setattr(threads, "SPLIT_MATMUL_MACS", 10**9)
    ranges.clear()
    with threadpoolctl.threadpool_limits(2), threads.handed_over():
        threads.matmul(*long_k)
    assert ranges == []  # a small product stays on one worker


def test_inference_forward_matches_and_keeps_nothing_batch_sized(rng, monkeypatch):
    """keep=False runs the images through a small buffer in blocks; results equal the training path."""
    monkeypatch.setattr(kconv, "INFERENCE_IMAGES", 3)
    x = rng.standard_normal((8, 16, 7, 9))
    W, b = rng.standard_normal((5, 16, 3, 3)), rng.standard_normal(5)
    ws = kernels.Workspace()
    y, saved = kernels.conv2d_forward(x, W, b, 1, 1, relu=True, workspace=ws, keep=False)
    np.testing.assert_allclose(y, kernels.conv2d_forward(x, W, b, 1, 1, relu=True)[0], rtol=0, atol=1e-12)
    full = Geometry(x.shape, W.shape, 1, 1).rows
    buffers = [shape for name, shape, _ in ws._arrays if name == "conv.x"]
    assert buffers and all(rows < full / 2 for rows, _ in buffers)  # 3- and 2-image buffers only
    with pytest.raises(ValueError, match="keep=True"):
        kernels.conv2d_backward(np.zeros(y.shape), saved, W)
    p, psaved = kernels.pool2d_forward(y, 2, 2, keep=False)
    np.testing.assert_array_equal(p, kernels.pool2d_forward(y, 2, 2)[0])
    with pytest.raises(ValueError, match="keep=True"):
        kernels.pool2d_backward(np.zeros(p.shape), psaved)


def test_pinned_kernel_note_only_when_coretype_holds_an_avx512_cpu_to_a_narrower_kernel():
    pinned, avx512 = {"OPENBLAS_CORETYPE": "Haswell"}, {"sse2", "avx2", "avx512f"}
    note = threads.pinned_kernel_note(pinned, "Haswell", avx512)
    assert note is not None and "OPENBLAS_CORETYPE=Haswell" in note and "Haswell kernel" in note
    assert threads.pinned_kernel_note({}, "Haswell", avx512) is None  # the variable unset
    assert threads.pinned_kernel_note(pinned, "SkylakeX", avx512) is None  # an AVX-512 kernel
    assert threads.pinned_kernel_note(pinned, "Haswell", {"sse2", "avx2"}) is None  # a CPU without AVX-512
    assert threads.pinned_kernel_note(pinned, "", avx512) is None  # no OpenBLAS loaded


def test_train_prints_the_pinned_kernel_note_unless_quiet(tmp_path, capsys, monkeypatch):
    from nnscratch.cli import main
    from nnscratch.cli import train as train_cli

    monkeypatch.setattr(train_cli, "pinned_kernel_note", lambda: threads.pinned_kernel_note(
        {"OPENBLAS_CORETYPE": "Haswell"}, "Haswell", {"avx512f"}))
    base = ["train", "--model", "mlp", "--hidden", "16", "--dataset", "mnist-sample", "--epochs", "1",
            "--train-size", "100", "--threads", "1"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert "note: OPENBLAS_CORETYPE=Haswell" in capsys.readouterr().err
    assert main([*base, "--quiet", "--out", str(tmp_path / "b")]) == 0
    assert "OPENBLAS_CORETYPE" not in capsys.readouterr().err
