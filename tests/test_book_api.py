"""nnscratch.book: the book's names and signatures over nnscratch's classes (no copy of the book's code)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from nnscratch import serialization
from nnscratch.book.ch04.gradient_2d import numerical_gradient as gradient_2d
from nnscratch.book.ch04.gradient_simplenet import simpleNet
from nnscratch.book.ch04.two_layer_net import TwoLayerNet as Ch4Net
from nnscratch.book.ch05.two_layer_net import TwoLayerNet
from nnscratch.book.ch07.simple_convnet import SimpleConvNet
from nnscratch.book.ch08.deep_convnet import DeepConvNet
from nnscratch.book.common import layers as L
from nnscratch.book.common.multi_layer_net import MultiLayerNet
from nnscratch.book.common.multi_layer_net_extend import MultiLayerNetExtend
from nnscratch.book.common.optimizer import SGD, Adam, Momentum
from nnscratch.book.common.trainer import Trainer
from nnscratch.book_pickle import BookPickleError
from nnscratch.layers import LAYER_REGISTRY, dense


def test_params_are_the_layers_arrays_under_the_books_keys():
    net = TwoLayerNet(784, 50, 10, seed=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2"] and list(net.layers) == ["Affine1", "Relu1", "Affine2"]
    assert net.params["W1"] is net.layers["Affine1"].W and net.dtype == np.float64
    net.params["b2"] = net.params["b2"] - 1.0  # the book's rebinding update reaches the layer
    assert (net.layers["Affine2"].b == -1).all()
    assert net.lastLayer is net.last_layer
    ext = MultiLayerNetExtend(784, [20, 20], 10, use_batchnorm=True, use_dropout=True, seed=0)
    assert list(ext.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    assert list(ext.layers)[:4] == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1"]
    assert list(SimpleConvNet(seed=0).layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    assert len(DeepConvNet(seed=0).params) == 16
    assert list(MultiLayerNet(784, [10], 10).layers) == ["Affine1", "Activation_function1", "Affine2"]


def test_the_layer_registry_keeps_nnscratchs_classes():
    assert LAYER_REGISTRY["Affine"] is dense.Affine and isinstance(L.Affine(np.ones((2, 3)), 0), dense.Affine)


def test_book_layers_take_train_flg_scalar_bias_and_show_dW():
    conv = L.Convolution(np.ones((1, 1, 3, 3)), 0)
    assert conv.b.shape == (1,) and conv.forward(np.ones((1, 1, 4, 4)), train_flg=False).shape == (1, 1, 2, 2)
    assert L.Pooling(2, 2).stride == 1
    drop = L.Dropout(0.5)
    assert (drop.forward(np.ones((2, 3)), train_flg=False) == 0.5).all()  # the book's test-time scaling
    net = TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((5, 6)), np.array([0, 1, 2, 0, 1]).reshape(5, 1)  # (N, 1) labels
    grads = net.gradient(x, t)
    assert net.layers["Affine1"].dW is grads["W1"] and net.layers["Affine2"].db.shape == (3,)
    assert 0.0 <= net.accuracy(x, t) <= 1.0 and np.isfinite(net.loss(x, t))
    assert net.predict(x, train_flg=False).shape == (5, 3)


def test_numerical_and_backprop_gradients_agree_at_the_books_level():
    """ch07/gradient_check.py's network and data: every mean difference <= 1e-6 in float64."""
    net = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
                        hidden_size=10, output_size=10, weight_init_std=0.01, seed=1)
    X = np.random.default_rng(1).random(100).reshape((1, 1, 10, 10))
    T = np.array([1]).reshape((1, 1))
    num, back = net.numerical_gradient(X, T), net.gradient(X, T)
    diffs = {k: float(np.average(np.abs(back[k] - num[k]))) for k in num}
    assert max(diffs.values()) <= 1e-6, diffs


def test_optimizers_step_python_floats_and_arrays():
    params, grads = {"x": -7.0, "y": 2.0}, {"x": -0.7, "y": 4.0}
    SGD(lr=0.95).update(params, grads)
    assert params == pytest.approx({"x": -7.0 + 0.95 * 0.7, "y": 2.0 - 0.95 * 4.0}) and isinstance(params["x"], float)
    opt = Momentum(lr=0.1)
    for _ in range(2):
        opt.update(params, grads)
    p = {"W": np.ones(3)}
    w = p["W"]
    Adam(lr=0.1).update(p, {"W": np.ones(3)})
    assert p["W"] is w and (w < 1).all()


def test_save_params_and_load_params_round_trip_and_refuse_code(tmp_path):
    net = SimpleConvNet(input_dim=(1, 10, 10), hidden_size=5, seed=0)
    path = tmp_path / "params.pkl"
    net.save_params(str(path))
    other = SimpleConvNet(input_dim=(1, 10, 10), hidden_size=5, seed=1)
    other.load_params(str(path))
    for k in net.params:
        np.testing.assert_array_equal(net.params[k], other.params[k])
    assert set(pickle.loads(path.read_bytes())) == set(net.params)  # the book's own format
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"W1": np.zeros(2), "x": print}))
    with pytest.raises(BookPickleError, match="refused global builtins.print"):
        other.load_params(str(bad))


def test_a_book_network_saves_as_an_nnscratch_model_file(tmp_path):
    net = DeepConvNet(seed=0)
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    path = serialization.save(net, tmp_path / "m.npz")
    again = serialization.load(path)
    np.testing.assert_allclose(again.predict(x), net.predict(x, train_flg=False))


def test_the_books_trainer_runs_a_book_network():
    from nnscratch.datasets import load_mnist_sample

    (x, t), (xt, tt) = load_mnist_sample(flatten=True)
    net = MultiLayerNet(784, [20], 10, seed=0)
    trainer = Trainer(net, x[:200], t[:200], xt[:100], tt[:100], epochs=2, mini_batch_size=50,
                      optimizer="Adam", optimizer_param={"lr": 0.01}, verbose=False)
    trainer.train()
    assert len(trainer.test_acc_list) == 2 and trainer.train_acc_list[-1] > 0.3


def test_chapter_four_pieces():
    net = simpleNet(seed=0)
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    from nnscratch.book.common.gradient import numerical_gradient

    dW = numerical_gradient(lambda w: net.loss(x, t), net.W)
    np.testing.assert_allclose(dW, net.gradient(x, t)["W"], atol=1e-7)
    grid = gradient_2d(lambda v: float(np.sum(v**2)), np.array([[1.0, 2.0], [3.0, -1.0]]))
    np.testing.assert_allclose(grid, [[2.0, 4.0], [6.0, -2.0]], atol=1e-6)
    net4 = Ch4Net(784, 10, 10, seed=0)
    assert list(net4.params) == ["W1", "b1", "W2", "b2"] and net4.dtype == np.float64
