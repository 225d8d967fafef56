"""The book's small pieces in nnscratch's own modules: MulLayer/AddLayer, tangent_line, SimpleNet, the
ch. 4 SigmoidTwoLayerNet with the book's keys, the ch. 3 network in the zoo, smooth_curve, show_image."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch import backend
from nnscratch.datasets import smooth_curve
from nnscratch.gradient import numerical_diff, numerical_gradient, relative_error, tangent_line
from nnscratch.layers import AddLayer, MulLayer
from nnscratch.models import MODEL_REGISTRY, SigmoidTwoLayerNet, SimpleNet, ch3_network


def test_buy_apple_orange_graph_gives_the_books_numbers():
    """ch. 5.4: 2 apples at 100, 3 oranges at 150, tax 1.1 -> 715; gradients 110, 2.2, 3.3, 165, 650."""
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    a = mul_apple.forward(100, 2)
    o = mul_orange.forward(150, 3)
    price = mul_tax.forward(add.forward(a, o), 1.1)
    dall, dtax = mul_tax.backward(1)
    da, do = add.backward(dall)
    dapple, dapple_num = mul_apple.backward(da)
    dorange, dorange_num = mul_orange.backward(do)
    assert round(price) == 715
    assert (round(dapple_num), round(dapple, 6), round(dorange, 6), round(dorange_num), round(dtax)) == (
        110, 2.2, 3.3, 165, 650)


def test_naive_layers_match_numerical_gradients_on_arrays(rng):
    x, y, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for layer, f in ((MulLayer(), lambda a, b: a * b), (AddLayer(), lambda a, b: a + b)):
        layer.forward(x, y)
        dx, dy = layer.backward(dout)
        nx = numerical_gradient(lambda _: float((f(x, y) * dout).sum()), x, 1e-6)
        ny = numerical_gradient(lambda _: float((f(x, y) * dout).sum()), y, 1e-6)
        assert relative_error(dx, nx) < 1e-8 and relative_error(dy, ny) < 1e-8
    with pytest.raises(RuntimeError):
        MulLayer().backward(1.0)


def test_tangent_line_touches_the_curve():
    f = lambda x: 0.01 * x**2 + 0.1 * x  # noqa: E731  (the book's function_1)
    tf = tangent_line(f, 5)
    assert tf(5) == pytest.approx(f(5))
    assert tf(6) - tf(5) == pytest.approx(numerical_diff(f, 5)) == pytest.approx(0.2)


def test_simple_net_numerical_and_backprop_gradients_agree():
    net = SimpleNet(seed=0, dtype="float64")
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    num = net.numerical_gradient(x, t, h=1e-6)["W"]
    assert num.shape == (2, 3)
    assert relative_error(net.gradient(x, t)["W"], num) < 1e-7
    assert net.loss(x, t) > 0


def test_sigmoid_two_layer_net_has_the_books_keys_and_passes_the_gradient_check(rng):
    net = SigmoidTwoLayerNet(6, 5, 3, seed=0, dtype="float64", weight_init_std=0.5)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.params["W1"] is net.layers["affine1"].params["W"]
    x, t = rng.standard_normal((4, 6)), np.array([0, 2, 1, 2])
    grad = {k: v.copy() for k, v in net.gradient(x, t).items()}
    num = net.numerical_gradient(x, t, h=1e-6)
    for k in ("W1", "b1", "W2", "b2"):
        assert relative_error(grad[k], num[k]) < 1e-7, k
    before = net.loss(x, t)
    for key in ("W1", "b1", "W2", "b2"):  # the book's update loop
        net.params[key] -= 0.5 * grad[key]
    assert net.loss(x, t) < before
    net.params["b2"] = np.ones(3)  # assignment reaches the layer
    assert (net.layers["affine2"].params["b"] == 1).all()
    with pytest.raises(ValueError):
        net.params["b2"] = np.ones(4)
    assert set(net.state_dict()) == {"affine1.W", "affine1.b", "affine2.W", "affine2.b"}
    assert list(net.astype("float32").params) == ["W1", "b1", "W2", "b2"]
    assert 0 <= net.accuracy(x, t) <= 1


def test_sigmoid_two_layer_net_is_the_books_init():
    net = SigmoidTwoLayerNet(784, 50, 10, seed=1)
    assert net.dtype == backend.default_dtype()
    assert abs(float(net.params["W1"].std()) - 0.01) < 5e-4 and not net.params["b1"].any()


def test_ch3_network_is_in_the_zoo_with_the_shipped_architecture():
    from nnscratch.pretrained import load_pretrained

    assert "ch3" in MODEL_REGISTRY
    shipped = load_pretrained("ch3")
    built = ch3_network(seed=0)
    assert [type(l).__name__ for l in built.layers.values()] == [type(l).__name__ for l in shipped.layers.values()]
    assert {k: v.shape for k, v in built.params.items()} == {k: v.shape for k, v in shipped.params.items()}
    with backend.precision("float64"):
        net = ch3_network(seed=0)
    x, t = np.random.default_rng(0).random((3, 784)), np.array([1, 2, 3])
    small = {k: v for k, v in net.params.items() if k.startswith("affine3")}
    grad = net.gradient(x, t)
    num = {k: numerical_gradient(lambda _: net.loss(x, t), p, 1e-6) for k, p in small.items()}
    for k in small:
        assert relative_error(grad[k], num[k]) < 1e-6, k


def test_smooth_curve_keeps_length_and_flattens_noise():
    x = np.sin(np.linspace(0, 3, 200)) + np.random.default_rng(0).normal(0, 0.3, 200)
    y = smooth_curve(x)
    assert y.shape == x.shape and np.std(np.diff(y)) < np.std(np.diff(x)) / 3


def test_show_image_writes_one_image_and_a_labelled_grid(tmp_path):
    from nnscratch.plotting import img_show, show_image

    assert img_show is show_image
    img = np.random.default_rng(0).random(784)
    one = show_image(img, path=tmp_path / "one.png")
    grid = show_image(np.stack([img] * 6), labels=list("abcdef"), ncols=3, path=tmp_path / "grid.png")
    for p in (one, grid):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="labels"):
        show_image(np.stack([img] * 2), labels=["a"], path=tmp_path / "x.png")


def test_show_command_writes_a_labelled_grid(tmp_path, capsys):
    from nnscratch import cli

    out = tmp_path / "digits.png"
    assert cli.main(["show", "0", "3", "--dataset", "mnist-sample", "--split", "test", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mnist-sample test[0]:" in printed and out.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["show", "100000", "--dataset", "mnist-sample"]) == 2
    assert "index must be in" in capsys.readouterr().err
