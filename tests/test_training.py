"""Trainer: shuffled epochs, one forward per step, reproducibility, NaN guard, callbacks, exact resume."""
from __future__ import annotations

import io
import json
import sys
import warnings

import numpy as np
import pytest

from nnscratch.callbacks import Callback, Checkpoint, EarlyStopping, ProgressBar, latest_checkpoint
from nnscratch.models import MultiLayerNet, TwoLayerNet
from nnscratch.serialization import ModelFileError, save
from nnscratch.training import History, Trainer, TrainingDiverged


def blobs(n: int = 240, d: int = 10, classes: int = 3, seed: int = 0, spread: float = 0.6):
    """Linearly separable Gaussian blobs: class k centred at 3 * e_k."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, classes, n)
    centres = 3.0 * np.eye(classes, d)
    x = centres[t] + spread * rng.standard_normal((n, d))
    return x.astype(np.float32), t


@pytest.fixture
def data():
    x, t = blobs()
    return x[:180], t[:180], x[180:], t[180:]


def test_loss_decreases_and_accuracy_rises(data):
    x, t, xt, tt = data
    net = TwoLayerNet(10, 16, 3, weight_init_std=0.1, seed=0)
    tr = Trainer(net, x, t, xt, tt, epochs=8, mini_batch_size=20, optimizer_param={"lr": 0.1},
                 verbose=False, seed=0)
    h = tr.train()
    assert h.epochs == 8 and len(h.loss) == 8 * 9 == tr.max_iter
    assert h.epoch_loss[-1] < 0.5 * h.epoch_loss[0]
    assert h.train_acc[-1] > 0.95 and h.test_acc[-1] > 0.9 and h.final_test_acc > 0.9
    assert tr.train_loss_list is h.loss and tr.train_acc_list is h.train_acc and tr.test_acc_list is h.test_acc
    assert h.lr == [0.1] * 8 and all(s >= 0 for s in h.epoch_time)


def test_every_epoch_visits_each_sample_once(data):
    x, t, _, _ = data
    x, t = x[:103], t[:103]  # 103 = 10 full batches + one of 3
    row_id = {r.tobytes(): i for i, r in enumerate(x)}
    net = TwoLayerNet(10, 8, 3, seed=0)
    seen: list[list[int]] = []
    real_gradient = net.gradient

    def gradient(xb, tb):
        ids = [row_id[r.tobytes()] for r in np.asarray(xb)]
        assert [int(v) for v in tb] == [int(t[i]) for i in ids]  # labels travel with their inputs
        seen[-1].extend(ids)
        return real_gradient(xb, tb)

    net.gradient = gradient

    class Mark(Callback):
        def on_epoch_begin(self, trainer):
            seen.append([])

    tr = Trainer(net, x, t, epochs=3, mini_batch_size=10, verbose=False, seed=1, callbacks=[Mark()])
    tr.train()
    assert tr.iter_per_epoch == 11 and len(tr.history.loss) == 33
    assert len(seen) == 3
    for order in seen:
        assert sorted(order) == list(range(103))
    assert seen[0] != seen[1] != seen[2]  # reshuffled every epoch


def test_one_forward_per_step(data):
    x, t, xt, tt = data
    net = MultiLayerNet(10, [8], 3, use_dropout=True, seed=0)
    calls = {"train": 0, "eval": 0, "loss": 0}
    real_predict, real_loss = net.predict, net.loss

    def predict(xb, train=False):
        calls["train" if train else "eval"] += 1
        return real_predict(xb, train)

    def loss(xb, tb, train=None):
        calls["loss"] += 1
        return real_loss(xb, tb, train)

    net.predict, net.loss = predict, loss
    tr = Trainer(net, x, t, xt, tt, epochs=2, mini_batch_size=30, verbose=False, seed=0)
    tr.train()
    steps = 2 * 6
    assert calls["train"] == steps and calls["loss"] == steps
    assert calls["eval"] > 0 and net.training  # evaluated in eval mode, then back to train()


def _run(data, seed, model_seed=0, **kw):
    x, t, xt, tt = data
    net = MultiLayerNet(10, [12, 12], 3, use_dropout=True, dropout_ration=0.2, use_batchnorm=True, seed=model_seed)
    tr = Trainer(net, x, t, xt, tt, epochs=kw.pop("epochs", 3), mini_batch_size=32, optimizer="Adam",
                 optimizer_param={"lr": 0.01}, verbose=False, seed=seed, **kw)
    return net, tr


def test_same_seed_same_result(data):
    (n1, t1), (n2, t2), (_, t3) = _run(data, 7), _run(data, 7), _run(data, 8)
    for tr in (t1, t2, t3):
        tr.train()
    assert t1.history.loss == t2.history.loss and t1.history.test_acc == t2.history.test_acc
    for k, v in n1.params.items():
        assert np.array_equal(v, n2.params[k])
    assert t1.history.loss != t3.history.loss


def test_nan_guard_stops_with_a_clear_message(data):
    x, t, _, _ = data
    net = MultiLayerNet(10, [50, 50, 50], 3, seed=0)
    tr = Trainer(net, x * 10, t, epochs=10, mini_batch_size=20, optimizer="SGD", optimizer_param={"lr": 10},
                 verbose=False, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TrainingDiverged, match=r"step \d+ \(epoch \d+\).*smaller learning rate") as info:
            tr.train()
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert f"step {tr.current_iter + 1} " in str(info.value) and "lr=10" in str(info.value)
    assert all(np.isfinite(p).all() for p in net.params.values())  # the bad update was not applied


def test_nan_guard_catches_non_finite_gradients(data):
    x, t, _, _ = data
    net = TwoLayerNet(10, 8, 3, seed=0)
    tr = Trainer(net, x, t, epochs=1, verbose=False, seed=0)
    real = net.gradient

    def bad_gradient(xb, tb):
        g = real(xb, tb)
        g["affine2.b"][0] = np.inf
        return g

    net.gradient = bad_gradient
    with pytest.raises(TrainingDiverged, match="affine2.b"):
        tr.train()


def test_without_guard_and_with_bad_input_errors_stay_value_errors(data):
    x, t, _, _ = data
    tr = Trainer(MultiLayerNet(10, [50, 50, 50], 3, seed=0), x * 10, t, epochs=10, mini_batch_size=20,
                 optimizer_param={"lr": 10}, verbose=False, seed=0, nan_guard=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite"):
            tr.train()
    bad = x.copy()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN") as info:
        Trainer(TwoLayerNet(10, 8, 3, seed=0), bad, t, epochs=1, verbose=False).train()
    assert not isinstance(info.value, TrainingDiverged)


def test_early_stopping(data):
    x, t, xt, tt = data
    stop = EarlyStopping(monitor="test_acc", patience=2)
    tr = Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, xt, tt, epochs=20, optimizer_param={"lr": 1e-12},
                 verbose=False, seed=0, callbacks=[stop])
    h = tr.train()
    assert h.epochs == 3 and stop.stopped_epoch == 3 and tr.stop_training
    with pytest.raises(ValueError, match="x_val"):
        Trainer(TwoLayerNet(10, 8, 3), x, t, verbose=False, callbacks=[EarlyStopping()]).train()
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(monitor="accuracy")


def test_early_stopping_on_val_and_loss(data):
    x, t, xt, tt = data
    for stop in (EarlyStopping("val_acc", patience=1, min_delta=0.5), EarlyStopping("loss", patience=1, min_delta=10)):
        tr = Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, x_val=xt, t_val=tt, epochs=10, verbose=False,
                     seed=0, callbacks=[stop])
        assert tr.train().epochs == 2 and len(tr.history.val_acc) == 2 and tr.history.test_acc == []


class Crash(Exception):
    pass


class CrashAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, trainer):
        if trainer.current_epoch == self.epoch:
            raise Crash


def test_resume_after_epoch_2_is_bit_for_bit(data, tmp_path):
    x, t, xt, tt = data
    ref_net, ref = _run(data, seed=5, epochs=4)
    ref.train()

    net, tr = _run(data, seed=5, epochs=4, callbacks=[CrashAt(2), Checkpoint(tmp_path / "ck")])
    with pytest.raises(Crash):
        tr.train()
    assert latest_checkpoint(tmp_path / "ck").name == "epoch_002.npz"

    resumed = Trainer.resume(tmp_path / "ck", x, t, xt, tt, verbose=False)
    assert resumed.current_epoch == 2 and resumed.epochs == 4
    resumed.train()
    assert resumed.history.loss == ref.history.loss and resumed.history.test_acc == ref.history.test_acc
    for k, v in ref_net.state_dict().items():
        assert np.array_equal(resumed.network.state_dict()[k], v), k

    net2, tr2 = _run(data, seed=123, epochs=4)  # train(resume_from=...) into a fresh trainer, in place
    tr2.train(resume_from=tmp_path / "ck" / "epoch_002.npz")
    for k, v in ref_net.state_dict().items():
        assert np.array_equal(net2.state_dict()[k], v), k
    assert tr2.history.loss == ref.history.loss


def test_checkpoint_every_and_single_file(data, tmp_path):
    x, t, xt, tt = data
    ck = Checkpoint(tmp_path / "run", every=2)
    Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, epochs=3, verbose=False, callbacks=[ck]).train()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["epoch_002.npz", "epoch_003.npz"]
    assert ck.last_path.name == "epoch_003.npz"
    one = Checkpoint(tmp_path / "last.npz")
    Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, epochs=2, verbose=False, callbacks=[one]).train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz", "run"]
    tr = Trainer.resume(tmp_path / "last.npz", x, t, verbose=False)
    assert tr.current_epoch == 2 and tr.train().epochs == 2  # already complete: nothing more to do
    with pytest.raises(ValueError, match="every"):
        Checkpoint(tmp_path, every=0)


def test_resume_rejects_plain_model_and_other_architecture(data, tmp_path):
    x, t, _, _ = data
    save(TwoLayerNet(10, 8, 3, seed=0), tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match="not a Trainer checkpoint"):
        Trainer.resume(tmp_path / "model.npz", x, t)
    Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, epochs=1, verbose=False,
            callbacks=[Checkpoint(tmp_path / "c.npz")]).train()
    with pytest.raises(ValueError, match="architecture"):
        Trainer(TwoLayerNet(10, 9, 3), x, t, verbose=False).train(resume_from=tmp_path / "c.npz")
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(TwoLayerNet(10, 8, 3), x, t, optimizer="adam", verbose=False).train(resume_from=tmp_path / "c.npz")


def test_history_json_round_trip(data, tmp_path):
    x, t, xt, tt = data
    h = Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, xt, tt, epochs=2, verbose=False, x_val=xt, t_val=tt).train()
    path = h.save_json(tmp_path / "h" / "history.json")
    assert json.loads(path.read_text())["test_acc"] == h.test_acc
    back = History.load_json(path)
    assert back == h and back.to_dict() == h.to_dict()
    with pytest.raises(ValueError, match="unknown keys"):
        History.from_dict({"loss": [], "bogus": 1})


def test_step_evaluate_sample_num_and_verbose_output(data, capsys):
    x, t, xt, tt = data
    net = TwoLayerNet(10, 8, 3, seed=0)
    tr = Trainer(net, x, t, xt, tt, epochs=1, mini_batch_size=50, evaluate_sample_num_per_epoch=40, seed=0,
                 progress=False)
    loss = tr.step(x[:7], t[:7])
    assert loss == tr.last_loss == tr.history.loss[-1] and tr.current_epoch == 0
    tr.train()
    assert tr.history.train_acc[-1] == net.accuracy(x[:40], t[:40])
    assert tr.history.test_acc[-1] == net.accuracy(xt[:40], tt[:40])
    out = capsys.readouterr().out
    assert "=== epoch:1" in out and "Final Test Accuracy" in out


def test_progress_bar_and_plain_fallback(data, monkeypatch):
    x, t, xt, tt = data
    stream = io.StringIO()
    Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, xt, tt, epochs=2, verbose=False,
            callbacks=[ProgressBar(stream=stream)]).train()
    assert "epoch 2/2" in stream.getvalue() and "loss" in stream.getvalue()
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # simulate tqdm missing
    stream = io.StringIO()
    Trainer(TwoLayerNet(10, 8, 3, seed=0), x, t, xt, tt, epochs=1, verbose=False,
            callbacks=[ProgressBar(explicit=True, stream=stream)]).train()
    text = stream.getvalue()
    assert "pip install nnscratch[progress]" in text and "step 2/2" in text


def test_argument_errors(data):
    x, t, _, _ = data
    net = TwoLayerNet(10, 8, 3)
    with pytest.raises(ValueError, match="labels"):
        Trainer(net, x, t[:-1])
    with pytest.raises(ValueError, match="mini_batch_size"):
        Trainer(net, x, t, mini_batch_size=0)
    with pytest.raises(ValueError, match="epochs"):
        Trainer(net, x, t, epochs=-1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        Trainer(net, x, t, optimizer="sgdd")
    with pytest.raises(ValueError, match="both"):
        Trainer(net, x, t, x_val=x)
