"""serialization: .npz + JSON header round trips bit for bit; corrupt or foreign files raise ModelFileError."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nnscratch import serialization
from nnscratch.models import MultiLayerNet, Sequential, TwoLayerNet
from nnscratch.optimizers import Adam, get_optimizer
from nnscratch.serialization import ModelFileError, load, load_checkpoint, save


def _data(n: int = 64, d: int = 6, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, classes, n)


def _train_a_bit(net, x, t, opt=None, steps: int = 3):
    opt = opt or get_optimizer("sgd", lr=0.1)
    for _ in range(steps):
        opt.update(net.params, net.gradient(x, t))
    return opt


@pytest.fixture
def two_layer(tmp_path):
    x, t = _data()
    net = TwoLayerNet(6, 8, 3, weight_init_std=0.3, seed=1)
    _train_a_bit(net, x, t)
    return net, x, tmp_path / "two.npz"


def test_two_layer_round_trip_bit_for_bit(two_layer):
    net, x, path = two_layer
    written = save(net, path)
    assert written == path and path.exists()
    loaded = load(path)
    assert isinstance(loaded, Sequential)
    assert np.array_equal(loaded.predict(x), net.predict(x))
    for k, v in net.state_dict().items():
        assert loaded.state_dict()[k].dtype == v.dtype
        assert np.array_equal(loaded.state_dict()[k], v)
    assert serialization.read_header(path)["model_name"] == "TwoLayerNet"


def test_batchnorm_dropout_round_trip_with_optimizer(tmp_path):
    x, t = _data(seed=2)
    net = MultiLayerNet(6, [10, 10], 3, use_batchnorm=True, use_dropout=True, dropout_ration=0.3,
                        weight_decay_lambda=0.01, seed=3)
    opt = _train_a_bit(net, x, t, Adam(lr=0.01), steps=4)
    assert not np.allclose(net.layers["batchnorm1"].buffers["running_mean"], 0)
    save(net, tmp_path / "mlp", optimizer=opt, extra={"epoch": np.int64(4), "note": "hi", "acc": [np.float32(0.5)]})
    model, opt2, extra = load_checkpoint(tmp_path / "mlp.npz")
    assert extra == {"epoch": 4, "note": "hi", "acc": [0.5]}
    assert np.array_equal(model.predict(x), net.predict(x))
    assert model.loss(x, t, train=False) == net.loss(x, t, train=False)
    assert type(opt2) is Adam and opt2.iter == opt.iter and opt2.lr == opt.lr
    # one more identical update on both keeps them identical (optimizer state restored exactly)
    for m in (model, net):
        for layer in m.layers.values():
            if hasattr(layer, "fixed_mask"):
                layer.fixed_mask = False
    model.layers["dropout1"].reseed(9)
    net.layers["dropout1"].reseed(9)
    model.layers["dropout2"].reseed(8)
    net.layers["dropout2"].reseed(8)
    opt.update(net.params, net.gradient(x, t))
    opt2.update(model.params, model.gradient(x, t))
    for k, v in net.params.items():
        assert np.array_equal(model.params[k], v), k


def test_conv_net_round_trip(tmp_path):
    pytest.importorskip("nnscratch.layers.conv")
    from nnscratch.models import SimpleConvNet

    net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=10, output_size=3, weight_init_std=0.1, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    save(net, tmp_path / "cnn.npz")
    assert np.array_equal(load(tmp_path / "cnn.npz").predict(x), net.predict(x))


def test_float64_and_suffix(tmp_path):
    net = TwoLayerNet(4, 5, 2, seed=0, dtype="float64")
    out = save(net, tmp_path / "m")
    assert out.name == "m.npz"
    loaded = load(tmp_path / "m")  # the suffix is found on load too
    assert loaded.dtype == np.float64
    assert serialization.read_header(out)["dtype"] == "float64"


def test_loads_without_pickle(two_layer):
    net, _, path = two_layer
    save(net, path, optimizer=_train_a_bit(net, *_data(), opt=Adam()))
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    assert all(a.dtype != object for a in arrays.values())
    meta = json.loads(arrays["__meta__"].tobytes().decode())
    assert meta["format"] == "nnscratch-model" and meta["format_version"] == 1
    assert set(meta) >= {"architecture", "model_name", "dtype", "optimizer", "extra"}
    assert {k for k in arrays if k.startswith("param/")} == {"param/" + k for k in net.state_dict()}
    assert any(k.startswith("optim/m/") for k in arrays)


def _assert_bad(path, *words):
    with pytest.raises(ModelFileError) as info:
        load(path)
    msg = str(info.value)
    assert str(path) in msg or os.path.basename(str(path)) in msg
    for w in words:
        assert w in msg
    return msg


def test_missing_file(tmp_path):
    _assert_bad(tmp_path / "nope.npz", "no such")


def test_truncated_file(two_layer):
    net, _, path = two_layer
    save(net, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        path.write_bytes(data[:cut])
        _assert_bad(path)


def test_flipped_bytes_in_array_data(two_layer):
    net, _, path = two_layer
    save(net, path)
    data = bytearray(path.read_bytes())
    i = data.index(b"affine1.W.npy") + 200  # inside that array's data
    for j in range(i, i + 4):
        data[j] ^= 0xFF
    path.write_bytes(bytes(data))
    _assert_bad(path)


def test_any_flipped_byte_gives_an_error_or_the_same_model(two_layer):
    """Flipping any one byte either raises ModelFileError or leaves the model intact (unused header bytes)."""
    net, x, path = two_layer
    save(net, path)
    clean = path.read_bytes()
    expected = net.predict(x)
    errors = 0
    for i in range(0, len(clean), 3):
        data = bytearray(clean)
        data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            model = load(path)
        except ModelFileError:
            errors += 1
            continue
        assert np.array_equal(model.predict(x), expected), f"byte {i} flipped silently changed the model"
    assert errors > len(clean) // 3 * 0.8


def test_random_garbage(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    _assert_bad(path)


def test_plain_npz_and_npy_are_not_models(tmp_path):
    np.savez(tmp_path / "plain.npz", W=np.zeros(3))
    _assert_bad(tmp_path / "plain.npz", "not an nnscratch model")
    np.save(tmp_path / "single.npy", np.zeros(3))
    _assert_bad(tmp_path / "single.npy", "not an nnscratch model")


def _rewrite(path, change):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays["__meta__"].tobytes().decode())
    change(arrays, meta)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_foreign_format_and_unknown_version(two_layer):
    net, _, path = two_layer
    save(net, path)
    _rewrite(path, lambda a, m: m.update(format_version=99))
    _assert_bad(path, "format_version", "99")
    save(net, path)
    _rewrite(path, lambda a, m: m.update(format="something-else"))
    _assert_bad(path, "not an nnscratch model")


def test_mismatched_and_missing_arrays(two_layer):
    net, _, path = two_layer
    save(net, path)
    _rewrite(path, lambda a, m: a.update({"param/affine1.W": np.zeros((6, 9), np.float32)}))
    _assert_bad(path, "affine1.W", "shape")
    save(net, path)
    _rewrite(path, lambda a, m: a.pop("param/affine2.b"))
    _assert_bad(path, "affine2.b", "missing")
    # header and arrays agree with each other but not with the architecture's layer chain
    save(net, path)

    def inconsistent(a, m):
        a["param/affine1.b"] = np.zeros(5, np.float32)
        m["arrays"]["affine1.b"]["shape"] = [5]
    _rewrite(path, inconsistent)
    _assert_bad(path)


def test_atomic_write_keeps_old_file(two_layer, monkeypatch):
    net, x, path = two_layer
    save(net, path)
    before = path.read_bytes()
    other = TwoLayerNet(6, 8, 3, seed=99)
    real_savez = np.savez

    def failing_savez(f, **arrays):
        real_savez(f, **arrays)
        f.seek(0)
        f.truncate(100)  # half-written file on disk, then the "crash"
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="simulated"):
        save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert np.array_equal(load(path).predict(x), net.predict(x))
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left behind


def test_extra_must_be_json_able(tmp_path):
    net = TwoLayerNet(4, 5, 2, seed=0)
    with pytest.raises(ValueError, match="extra"):
        save(net, tmp_path / "m.npz", extra={"bad": object()})
    assert not (tmp_path / "m.npz").exists()
