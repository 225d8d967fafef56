"""Sequential and the model zoo: gradient checks in float64, flat names, in-place updates."""
from __future__ import annotations

import numpy as np
import pytest

from nnscratch import backend
from nnscratch.gradient import gradient_check
from nnscratch.layers import Affine, Dropout, Relu, SoftmaxWithLoss
from nnscratch.models import MultiLayerNet, Sequential, TwoLayerNet
from nnscratch.optimizers import get_optimizer

ALL_OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


def _data(rng, n=6, d=12, c=4):
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


def test_two_layer_net_gradient_check():
    rng = np.random.default_rng(0)
    x, t = _data(rng)
    net = TwoLayerNet(12, 8, 4, weight_init_std=0.5, seed=1, dtype="float64")
    errors = gradient_check(net, x, t)
    assert set(errors) == {"affine1.W", "affine1.b", "affine2.W", "affine2.b"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_multilayer_net_batchnorm_dropout_weight_decay_gradient_check(activation):
    rng = np.random.default_rng(1)
    x, t = _data(rng, n=8)
    net = MultiLayerNet(12, [10, 9, 8], 4, activation=activation, weight_init_std=0.3,
                        weight_decay_lambda=0.1, use_dropout=True, dropout_ration=0.3,
                        use_batchnorm=True, seed=2, dtype="float64")
    net.loss(x, t, train=True)  # draw one mask per dropout layer, then freeze it
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.fixed_mask = True
    errors = gradient_check(net, x, t)
    assert any(k.startswith("batchnorm") for k in errors)
    assert max(errors.values()) < 1e-6, errors


def test_weight_decay_adds_half_lambda_w_squared_to_loss_and_lambda_w_to_grads():
    rng = np.random.default_rng(2)
    x, t = _data(rng)
    with backend.precision("float64"):
        plain = MultiLayerNet(12, [8], 4, seed=3)
        decayed = MultiLayerNet(12, [8], 4, seed=3, weight_decay_lambda=0.5)
    w2 = sum(float((p ** 2).sum()) for k, p in plain.params.items() if k.endswith(".W"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + 0.25 * w2, rel=1e-12)
    g_plain, g_dec = plain.gradient(x, t), decayed.gradient(x, t)
    np.testing.assert_allclose(g_dec["affine1.W"], g_plain["affine1.W"] + 0.5 * plain.params["affine1.W"], rtol=1e-12)
    np.testing.assert_array_equal(g_dec["affine1.b"], g_plain["affine1.b"])  # biases are not decayed


def test_flat_names_are_stable_and_alias_the_layer_arrays():
    net = MultiLayerNet(12, [8, 8], 4, use_batchnorm=True, seed=0)
    assert list(net.params) == ["affine1.W", "affine1.b", "batchnorm1.gamma", "batchnorm1.beta",
                                "affine2.W", "affine2.b", "batchnorm2.gamma", "batchnorm2.beta",
                                "affine3.W", "affine3.b"]
    assert net.params["affine2.W"] is net.layers["affine2"].params["W"]
    assert set(net.buffers) == {"batchnorm1.running_mean", "batchnorm1.running_var",
                                "batchnorm2.running_mean", "batchnorm2.running_var"}


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_optimizer_updates_reach_the_layers_in_place(name):
    rng = np.random.default_rng(3)
    x, t = _data(rng, n=16)
    net = MultiLayerNet(12, [8], 4, use_batchnorm=True, seed=0)
    before = {k: (id(v), v.__array_interface__["data"][0], v.copy()) for k, v in net.params.items()}
    opt = get_optimizer(name, lr=0.01)
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
    for k, v in net.params.items():
        assert id(v) == before[k][0] and v.__array_interface__["data"][0] == before[k][1], f"{k} was rebound"
        layer, key = k.split(".")
        assert net.layers[layer].params[key] is v
    assert any(not np.array_equal(v, before[k][2]) for k, v in net.params.items())


def test_loss_decreases_with_training():
    rng = np.random.default_rng(4)
    centers = rng.standard_normal((4, 12)) * 3
    t = rng.integers(0, 4, 400)
    x = (centers[t] + rng.standard_normal((400, 12))).astype(np.float32)
    net = MultiLayerNet(12, [32], 4, seed=0)
    opt = get_optimizer("adam", lr=0.01)
    first = net.loss(x, t)
    for _ in range(100):
        opt.update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < 0.3 * first
    assert net.accuracy(x, t) > 0.9


def test_float32_by_default_and_inputs_are_cast():
    net = TwoLayerNet(12, 8, 4, seed=0)
    assert net.dtype == np.float32
    y = net.predict(np.ones((2, 12), dtype=np.float64))
    assert y.dtype == np.float32


def test_bad_inputs_raise_value_error():
    net = TwoLayerNet(12, 8, 4, seed=0)
    with pytest.raises(ValueError, match="12"):
        net.predict(np.ones((2, 7)))
    with pytest.raises(ValueError, match="NaN or inf"):
        net.predict(np.full((2, 12), np.nan))
    with pytest.raises(ValueError):
        net.loss(np.ones((2, 12)), np.array([0, 9]))
    with pytest.raises(ValueError, match="activation"):
        MultiLayerNet(12, [8], 4, activation="swish")
    with pytest.raises(ValueError):
        MultiLayerNet(12, [8], 4, weight_init_std="nonsense")


def test_state_dict_round_trip_and_astype():
    rng = np.random.default_rng(5)
    x, t = _data(rng)
    net = MultiLayerNet(12, [8], 4, use_batchnorm=True, seed=0)
    net.gradient(x, t)  # updates running statistics
    clone = Sequential.from_config(net.get_config(), {k: v.copy() for k, v in net.state_dict().items()})
    np.testing.assert_array_equal(clone.predict(x), net.predict(x))
    half = net.astype("float16")
    assert half.dtype == np.float16 and half.predict(x).dtype == np.float16
    with pytest.raises(ValueError, match="missing"):
        net.load_state_dict({})


def test_dropout_ration_spelling_and_book_keywords():
    a = MultiLayerNet(12, [8], 4, use_dropout=True, dropout_ration=0.2, seed=0)
    b = MultiLayerNet(12, [8], 4, use_dropout=True, dropout_ratio=0.2, seed=0)
    assert a.layers["dropout1"].dropout_ratio == b.layers["dropout1"].dropout_ratio == 0.2


def test_train_eval_modes_switch_dropout():
    x = np.ones((4, 12), dtype=np.float32)
    net = Sequential([Affine(np.eye(12, dtype=np.float32), np.zeros(12, dtype=np.float32)), Relu(), Dropout(0.5, seed=0)],
                     SoftmaxWithLoss())
    t = np.zeros(4, dtype=np.int64)
    assert net.eval().loss(x, t) == net.loss(x, t)  # deterministic in eval mode
    np.testing.assert_array_equal(net.predict(x), x)


def test_simple_conv_net_gradient_check():
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((3, 1, 10, 10)), rng.integers(0, 4, 3)
    from nnscratch.models import SimpleConvNet

    net = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=6, output_size=4, weight_init_std=0.3, seed=0, dtype="float64")
    errors = gradient_check(net, x, t)
    assert {"conv1.W", "conv1.b", "affine1.W", "affine2.b"} <= set(errors)
    assert max(errors.values()) < 1e-6, errors


def test_deep_conv_net_gradient_check():
    from nnscratch.models import DeepConvNet

    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((2, 1, 12, 12)), rng.integers(0, 3, 2)
    params = [{"filter_num": n, "filter_size": 3, "pad": p, "stride": 1} for n, p in [(2, 1), (2, 1), (3, 1), (3, 2), (2, 1), (2, 1)]]
    net = DeepConvNet(input_dim=(1, 12, 12), conv_params=params, hidden_size=5, output_size=3, seed=0, dtype="float64")
    for k, p in net.params.items():  # zero biases put padded borders exactly on ReLU's kink
        if k.endswith(".b"):
            p[...] = rng.uniform(0.05, 0.2, p.shape)
    net.loss(x, t, train=True)
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.fixed_mask = True
    errors = gradient_check(net, x, t)
    assert len([k for k in errors if k.startswith("conv")]) == 12
    assert max(errors.values()) < 1e-6, errors


def test_deep_conv_net_book_architecture_and_he_init():
    from nnscratch.models import DeepConvNet

    net = DeepConvNet(seed=0)
    shapes = {k: v.shape for k, v in net.params.items() if k.endswith(".W")}
    assert shapes == {"conv1.W": (16, 1, 3, 3), "conv2.W": (16, 16, 3, 3), "conv3.W": (32, 16, 3, 3),
                      "conv4.W": (32, 32, 3, 3), "conv5.W": (64, 32, 3, 3), "conv6.W": (64, 64, 3, 3),
                      "affine1.W": (1024, 50), "affine2.W": (50, 10)}
    for k, v in net.params.items():
        if k.endswith(".W"):
            fan_in = int(np.prod(v.shape[1:])) if v.ndim == 4 else v.shape[0]
            assert float(v.std()) == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.25), k
    assert net.predict(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
