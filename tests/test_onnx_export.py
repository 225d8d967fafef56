"""ONNX export: every exported graph runs in onnxruntime (CPU) and matches nnscratch's own forward pass.

Zoo models use the shipped trained weights; the batch-norm/dropout MLPs and the average-pooling net
are trained briefly on the shipped MNIST sample so that "identical predictions" means something.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nnscratch  # noqa: E402
from nnscratch.cli import main  # noqa: E402
from nnscratch.datasets import load_mnist_sample  # noqa: E402
from nnscratch.layers import (Affine, AveragePooling, BatchNormalization, Convolution, Dropout, Flatten,  # noqa: E402
                              MaxPooling, Relu, Sigmoid, Tanh)
from nnscratch.layers.base import LAYER_REGISTRY, Layer  # noqa: E402
from nnscratch.models import MultiLayerNet, Sequential  # noqa: E402
from nnscratch.onnx_export import ExportError, build_onnx, to_onnx  # noqa: E402
from nnscratch.optimizers import get_optimizer  # noqa: E402
from nnscratch.pretrained import load_pretrained  # noqa: E402
from nnscratch.tuning import train_epochs  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def sample():
    (x_train, t_train), (x_test, t_test) = load_mnist_sample(normalize=True, flatten=False)
    return x_train, t_train, x_test, t_test


def _session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run(sess, x):
    inp = sess.get_inputs()[0]
    return sess.run(None, {inp.name: x.reshape(len(x), *inp.shape[1:]).astype(np.float32)})[0]


def _check_matches(model, path, x):
    """onnxruntime vs nnscratch float32 on all of x (in batches of 257 and 1), predictions identical."""
    onnx.checker.check_model(str(path), full_check=True)
    sess = _session(path)
    ours = np.concatenate([model.predict(x[i:i + 500]) for i in range(0, len(x), 500)])
    theirs = np.concatenate([_run(sess, x[i:i + 257]) for i in range(0, len(x), 257)])  # 3 x 257 + 229
    assert theirs.shape == ours.shape and theirs.dtype == np.float32
    diff = float(np.abs(ours - theirs).max())
    assert diff <= TOL, diff
    np.testing.assert_array_equal(ours.argmax(axis=1), theirs.argmax(axis=1))
    one = _run(sess, x[:1])
    assert one.shape == (1, ours.shape[1])
    np.testing.assert_allclose(one[0], ours[0], rtol=0, atol=TOL)
    print(f"{path.name}: max |onnxruntime - nnscratch| = {diff:.2e} over {len(x)} images (batches of 257, "
          f"and 1: {float(np.abs(one[0] - ours[0]).max()):.2e}), predictions identical")
    return diff


@pytest.mark.parametrize("name", ["twolayer", "ch3", "mlp", "simplecnn", "deepcnn"])
def test_shipped_zoo_models_match_onnxruntime(name, sample, tmp_path):
    x_test, t_test = sample[2], sample[3]
    model = load_pretrained(name)
    path = to_onnx(model, tmp_path / f"{name}.onnx")
    _check_matches(model, path, x_test)
    acc = float((_run(_session(path), x_test).argmax(axis=1) == t_test).mean())
    assert acc >= 0.95, acc  # trained weights: predictions are meaningful


def _train(model, x, t, epochs=2, lr=0.001, seed=0):
    train_epochs(model, get_optimizer("adam", lr=lr), x, t, epochs, 100, seed=seed)
    return model.eval()


def _dense(rng, n_in, n_out):
    return Affine(W=rng.standard_normal((n_in, n_out)).astype(np.float32) * np.sqrt(2 / n_in),
                  b=np.zeros(n_out, np.float32))


@pytest.mark.parametrize("inverted", [True, False])
def test_mlp_with_batchnorm_and_dropout_matches(inverted, sample, tmp_path):
    x_train, t_train, x_test, t_test = sample
    rng = np.random.default_rng(0)
    layers = []
    for n_in, n_out in ((784, 100), (100, 100)):
        layers += [_dense(rng, n_in, n_out), BatchNormalization(gamma=np.ones(n_out, np.float32),
                                                                beta=np.zeros(n_out, np.float32)),
                   Relu(), Dropout(0.3, inverted=inverted, seed=1)]
    model = _train(Sequential(layers + [_dense(rng, 100, 10)]), x_train.reshape(-1, 784), t_train)
    bn = model.layers["batchnorm1"]
    assert np.abs(bn.running_mean).max() > 0.01  # the running statistics are trained, not the defaults
    assert model.accuracy(x_test.reshape(-1, 784), t_test) > 0.85
    path = to_onnx(model, tmp_path / "bn.onnx")
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("BatchNormalization") == 2
    assert ops.count("Mul") == (0 if inverted else 2)  # the book's dropout scales by 1 - ratio at test time
    assert "Dropout" not in ops
    _check_matches(model, path, x_test.reshape(-1, 784))


def test_convnet_with_average_pooling_padding_and_4d_batchnorm_matches(sample, tmp_path):
    x_train, t_train, x_test, t_test = sample
    rng = np.random.default_rng(1)
    W1 = rng.standard_normal((8, 1, 3, 3)).astype(np.float32) * 0.4
    W2 = rng.standard_normal((12, 8, 3, 3)).astype(np.float32) * 0.15
    model = Sequential([
        Convolution(W=W1, b=np.zeros(8, np.float32), stride=1, pad=1),
        BatchNormalization(gamma=np.ones(8, np.float32), beta=np.zeros(8, np.float32)),
        Relu(),
        AveragePooling(3, 3, stride=2, pad=1),  # 28 -> 14, the padded zeros count in each mean
        Convolution(W=W2, b=np.zeros(12, np.float32), stride=2, pad=1),  # 14 -> 7
        Tanh(),
        MaxPooling(2, 2, stride=2, pad=1),  # 7 -> 4
        Flatten(),
        _dense(rng, 12 * 4 * 4, 32),
        Sigmoid(),
        _dense(rng, 32, 10),
    ])
    _train(model, x_train, t_train, epochs=3, lr=0.003)
    assert model.accuracy(x_test, t_test) > 0.8
    path = to_onnx(model, tmp_path / "avg.onnx")
    graph = onnx.load(str(path)).graph
    avg = next(n for n in graph.node if n.op_type == "AveragePool")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in avg.attribute}
    assert attrs["count_include_pad"] == 1 and list(attrs["pads"]) == [1, 1, 1, 1]
    _check_matches(model, path, x_test)


def test_softmax_option_metadata_and_dynamic_batch(sample, tmp_path):
    x_test = sample[2]
    model = load_pretrained("simplecnn")
    path = to_onnx(model, tmp_path / "p.onnx", softmax=True, name="simplecnn", accuracy=0.99,
                   metadata={"dataset": "mnist"})
    m = onnx.load(str(path))
    assert m.producer_name == "nnscratch" and m.producer_version == nnscratch.__version__
    assert m.opset_import[0].version >= 15
    props = {p.key: p.value for p in m.metadata_props}
    assert props["model_name"] == "simplecnn" and props["test_accuracy"] == "0.990000"
    assert props["nnscratch_version"] == nnscratch.__version__ and props["dataset"] == "mnist"
    inp, out = m.graph.input[0], m.graph.output[0]
    assert inp.name == "input" and out.name == "probabilities"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    probs = _run(_session(path), x_test[:257])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, nnscratch.functions.softmax(model.predict(x_test[:257])), atol=1e-5)


def test_mlp_exported_with_image_input_flattens_first(sample, tmp_path):
    model = load_pretrained("twolayer")
    path = to_onnx(model, tmp_path / "img.onnx", input_shape=(1, 28, 28))
    graph = onnx.load(str(path)).graph
    assert graph.node[0].op_type == "Flatten"
    _check_matches(model, path, sample[2])


@pytest.fixture
def mystery_model():
    class Mystery(Layer):
        """A layer with no ONNX form (test only; registered while the test runs, so it can be saved and loaded)."""

        prefix = "mystery"

        def forward(self, x, train=True):
            return x * 2

        def backward(self, dout):
            return dout * 2

    yield Sequential([Affine(W=np.ones((784, 10), np.float32), b=np.zeros(10, np.float32)), Mystery()])
    LAYER_REGISTRY.pop("Mystery", None)


def test_unsupported_layer_is_named_and_leaves_no_file(mystery_model, tmp_path):
    target = tmp_path / "out.onnx"
    with pytest.raises(ExportError, match=r"layer 'mystery1' \(Mystery\) has no ONNX form"):
        to_onnx(mystery_model, target)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


def test_cli_export_unsupported_layer_one_error_no_file(mystery_model, tmp_path, capsys):
    from nnscratch import serialization

    src = serialization.save(mystery_model, tmp_path / "mystery.npz")
    target = tmp_path / "mystery.onnx"
    assert main(["export", str(src), str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'mystery1' (Mystery) has no ONNX form" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mystery.npz"]


def test_cli_export_pretrained_with_verify(tmp_path, capsys):
    target = tmp_path / "deep.onnx"
    assert main(["export", "--pretrained", "deepcnn", str(target), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "identical predictions" in out
    props = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    assert props["model_name"] == "deepcnn" and float(props["test_accuracy"]) >= 0.995


def test_bad_arguments(tmp_path):
    model = MultiLayerNet(784, [10], 10, seed=0)
    with pytest.raises(ValueError, match="opset must be >= 15"):
        build_onnx(model, opset=13)
    with pytest.raises(ExportError, match="does not fit"):
        build_onnx(model, input_shape=(3, 28, 28))
    with pytest.raises(TypeError, match="Sequential"):
        build_onnx(object())
    assert main(["export", str(tmp_path / "a.npz")]) == 2  # the output path is missing


def test_missing_onnx_package_names_the_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"nnscratch\[onnx\]"):
        to_onnx(MultiLayerNet(784, [10], 10, seed=0), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
