"""DataParallel: a batch's gradient split over worker processes equals the one-process gradient
(float64, 1e-12); updates reach the workers; errors, a dead worker and cleanup; Trainer and CLI."""
from __future__ import annotations

import os

import numpy as np
import pytest

from nnscratch.cli import main
from nnscratch.data_parallel import MIN_PART, DataParallel
from nnscratch.datasets.sample import load_mnist_sample
from nnscratch.models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from nnscratch.optimizers import Adam
from nnscratch.step import train_step
from nnscratch.training import Trainer


def _shared_blocks() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@pytest.mark.parametrize("make, workers, n, one_hot", [
    (lambda: SimpleConvNet(seed=2, dtype=np.float64), 2, 21, False),
    (lambda: TwoLayerNet(784, 30, 10, seed=1, dtype=np.float64), 3, 50, True),
    (lambda: MultiLayerNet(784, [20, 20], 10, weight_decay_lambda=0.1, seed=4, dtype=np.float64), 2, 40, False),
])
def test_split_gradient_equals_the_one_process_gradient(make, workers, n, one_hot, rng):
    net = make()
    shape = (n, 1, 28, 28) if isinstance(net, SimpleConvNet) else (n, 784)
    x, t = rng.random(shape), rng.integers(0, 10, n)
    if one_hot:
        t = np.eye(10)[t]
    ref = {k: v.copy() for k, v in net.gradient(x, t).items()}
    ref_loss = net.last_loss
    with DataParallel(net, workers, seed=0) as dp:
        got = dp.gradient(x, t)
        assert abs(dp.last_loss - ref_loss) < 1e-12
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-12, err_msg=k)
        bigger = rng.random((2 * n, *shape[1:]))  # a larger batch than the first: new shared blocks
        labels = rng.integers(0, 10, 2 * n)
        got = {k: v.copy() for k, v in dp.gradient(bigger, np.eye(10)[labels] if one_hot else labels).items()}
    ref = net.gradient(bigger, np.eye(10)[labels] if one_hot else labels)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-12, err_msg=k)


def test_updates_reach_the_workers_and_training_matches_one_process(rng):
    a, b = SimpleConvNet(seed=0, dtype=np.float64), SimpleConvNet(seed=0, dtype=np.float64)
    opt_a, opt_b = Adam(lr=0.01), Adam(lr=0.01)
    x, t = rng.random((24, 1, 28, 28)), rng.integers(0, 10, 24)
    with DataParallel(b, 2) as dp:
        for _ in range(3):
            la, lb = train_step(a, opt_a, x, t), train_step(dp, opt_b, x, t)
            assert abs(la - lb) < 1e-12
    for k, v in a.params.items():
        np.testing.assert_allclose(b.params[k], v, rtol=0, atol=1e-10, err_msg=k)


def test_a_small_batch_runs_in_the_caller_alone(rng):
    net = TwoLayerNet(784, 10, 10, seed=0, dtype=np.float64)
    x, t = rng.random((MIN_PART, 784)), rng.integers(0, 10, MIN_PART)
    ref = {k: v.copy() for k, v in net.gradient(x, t).items()}
    with DataParallel(net, 2) as dp:
        got = dp.gradient(x, t)
        assert all(part.x is None for part in dp._parts)  # no batch was sent
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k])


def test_dropout_masks_are_seeded_per_worker(rng):
    x, t = rng.random((16, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 16)
    grads = []
    for _ in range(2):
        net = DeepConvNet(seed=0)
        with DataParallel(net, 2, seed=7) as dp:
            grads.append({k: v.copy() for k, v in dp.gradient(x, t).items()})
    for k in grads[0]:
        np.testing.assert_array_equal(grads[0][k], grads[1][k], err_msg=k)
        assert np.isfinite(grads[0][k]).all()


def test_refused_models():
    with pytest.raises(ValueError, match="batch normalization"):
        DataParallel(MultiLayerNet(784, [10], 10, use_batchnorm=True), 2)
    with pytest.raises(ValueError, match="Sequential"):
        DataParallel(object(), 2)
    with pytest.raises(ValueError, match="workers"):
        DataParallel(TwoLayerNet(784, 10, 10), 0)


def test_a_workers_bad_labels_are_reported_and_the_next_step_still_works(rng):
    net = TwoLayerNet(784, 10, 10, seed=0, dtype=np.float64)
    x, t = rng.random((40, 784)), rng.integers(0, 10, 40)
    bad = t.copy()
    bad[-1] = 12  # in the worker's half only
    with DataParallel(net, 2) as dp:
        with pytest.raises(ValueError, match="label"):
            dp.gradient(x, bad)
        dp.gradient(x, t)  # the protocol stayed in step
        assert abs(dp.last_loss - net.loss(x, t, train=True)) < 1e-12


def test_a_dead_worker_is_an_error_and_close_frees_everything(rng):
    before = _shared_blocks()
    net = TwoLayerNet(784, 10, 10, seed=0)
    dp = DataParallel(net, 3)
    if os.path.isdir("/dev/shm"):  # Linux: shared memory blocks are files there
        assert len(_shared_blocks() - before) >= 1
    procs = [part.proc for part in dp._parts]
    procs[0].kill()
    procs[0].wait()
    x, t = rng.random((40, 784)).astype(np.float32), rng.integers(0, 10, 40)
    with pytest.raises(RuntimeError, match="worker 1 exited"):
        dp.gradient(x, t)
    dp.close()
    assert all(p.poll() is not None for p in procs)
    assert _shared_blocks() - before == set()
    dp.close()  # twice is fine


def test_trainer_with_two_workers_is_reproducible_and_stops_its_workers():
    (x, t), (xt, tt) = load_mnist_sample(flatten=False)
    results = []
    for _ in range(2):
        net = SimpleConvNet(seed=0)
        trainer = Trainer(net, x[:300], t[:300], xt[:100], tt[:100], epochs=1, mini_batch_size=50,
                          optimizer="adam", optimizer_param={"lr": 0.001}, verbose=False, seed=0, workers=2)
        history = trainer.train()
        assert trainer._parallel is None and np.isfinite(history.loss).all()
        results.append(net.params["conv1.W"].copy())
    np.testing.assert_array_equal(results[0], results[1])
    with pytest.raises(ValueError, match="batch normalization"):
        Trainer(MultiLayerNet(784, [10], 10, use_batchnorm=True), x.reshape(len(x), -1), t, workers=2)


def test_train_command_with_workers(tmp_path, capsys):
    code = main(["train", "--model", "simplecnn", "--dataset", "mnist-sample", "--epochs", "1", "--train-size", "200",
                 "--workers", "2", "--quiet", "--out", str(tmp_path)])
    assert code == 0 and (tmp_path / "model.npz").is_file()
    assert "over 2 processes" in capsys.readouterr().out


def test_labels_that_are_not_whole_numbers_fail_in_every_part(rng):
    net = TwoLayerNet(784, 10, 10, seed=0, dtype=np.float64)
    x, t = rng.random((40, 784)), rng.integers(0, 10, 40).astype(np.float64)
    t[-1] = 2.5  # in the worker's part
    with DataParallel(net, 2) as dp:
        with pytest.raises(ValueError, match="fractional"):
            dp.gradient(x, t)
        with pytest.raises(ValueError, match="numeric"):
            dp.gradient(x, np.array(["a"] * 40))
        dp.gradient(x, t.round())  # nothing was sent for the failed calls: still in step


def test_predict_and_accuracy_split_over_the_workers_equal_one_process(rng):
    net = SimpleConvNet(seed=3, dtype=np.float64)
    (x, t), _ = load_mnist_sample(flatten=False)
    x, t = x[:530].astype(np.float64), t[:530]  # 2 full rounds of 2 x 100 rows, then 130 split 65 / 65
    ref = net.predict(x, train=False)
    before = _shared_blocks()
    with DataParallel(net, 2) as dp:
        np.testing.assert_allclose(dp.predict(x, batch_size=100), ref, rtol=0, atol=1e-12)
        assert dp._parts[0].py.shape == (100, 10)  # one batch per worker and round, not its whole share
        assert dp.accuracy(x, t, batch_size=100) == net.accuracy(x, t, batch_size=100)
        np.testing.assert_array_equal(dp.predict(x[:MIN_PART]), net.predict(x[:MIN_PART]))  # the caller alone
        net.params["affine2.b"][...] += 1.0  # the workers score with the caller's current parameters
        np.testing.assert_allclose(dp.predict(x[:40], batch_size=7), net.predict(x[:40]), rtol=0, atol=1e-12)
        with pytest.raises(TypeError, match="real numbers"):  # the network's own check, as in one process
            dp.predict(np.array([["a"] * 784] * 40).reshape(40, 1, 28, 28))
        with pytest.raises(ValueError):  # the worker's part fails too; the caller hears it before going on
            dp.predict(rng.random((40, 1, 27, 27)))
        with pytest.raises(ValueError, match="fractional"):
            dp.accuracy(x[:40], t[:40] + 0.5)
        np.testing.assert_allclose(dp.predict(x[:40]), net.predict(x[:40]), rtol=0, atol=1e-12)  # still in step
    assert _shared_blocks() - before == set()


def test_trainer_scores_its_epochs_over_the_workers(monkeypatch):
    (x, t), (xt, tt) = load_mnist_sample(flatten=False)
    calls = []
    real = DataParallel.accuracy
    monkeypatch.setattr(DataParallel, "accuracy", lambda self, *a, **k: calls.append(len(a[0])) or real(self, *a, **k))
    trainer = Trainer(SimpleConvNet(seed=0), x[:200], t[:200], xt[:100], tt[:100], epochs=1, mini_batch_size=50,
                      optimizer="adam", verbose=False, seed=0, workers=2)
    history = trainer.train()
    assert calls == [200, 100]
    assert history.test_acc[-1] == trainer.network.accuracy(xt[:100], tt[:100])
