"""Data augmentation (ch. 8.1.2): exact geometry, seeding, Trainer resume, and the experiment's effect."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

from nnscratch.augmentation import Augmenter, affine_grid, bilinear_sample, gaussian_smooth
from nnscratch.models import SimpleConvNet, TwoLayerNet
from nnscratch.training import Trainer


def _grid(n, angle=0.0, scale=1.0, dy=0.0, dx=0.0, h=7, w=9):
    f = lambda v: np.full(n, v, dtype=np.float64)  # noqa: E731
    return affine_grid(h, w, f(angle), f(scale), f(dy), f(dx))


def test_identity_shift_and_quarter_turn_are_exact(rng):
    x = rng.random((3, 2, 7, 9))
    np.testing.assert_array_equal(bilinear_sample(x, *_grid(3)), x)
    y = bilinear_sample(x, *_grid(3, dy=2, dx=-3))  # content moves 2 down and 3 left, zeros come in
    np.testing.assert_allclose(y[:, :, 2:, :-3], x[:, :, :-2, 3:], atol=1e-12)
    assert not y[:, :, :2].any() and not y[:, :, :, -3:].any()
    sq = rng.random((2, 1, 9, 9))
    turned = bilinear_sample(sq, *_grid(2, angle=np.pi / 2, h=9, w=9))
    np.testing.assert_allclose(turned, np.rot90(sq, k=-1, axes=(2, 3)), atol=1e-9)  # clockwise on screen


def test_half_pixel_shift_interpolates_linearly():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    y = bilinear_sample(x, *_grid(1, dx=0.5, h=5, w=5))
    np.testing.assert_allclose(y[0, 0, 2, 2:4], [0.5, 0.5])
    assert y.sum() == pytest.approx(1.0)


def test_augmenter_is_seeded_keeps_shape_and_dtype_and_changes_images(rng):
    x = rng.random((10, 1, 28, 28)).astype(np.float32)
    a, b = Augmenter(seed=3), Augmenter(seed=3)
    ya, yb = a(x), b(x)
    assert ya.shape == x.shape and ya.dtype == np.float32
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a(x), ya)  # the next batch draws new distortions
    flat = Augmenter(seed=3)(x.reshape(10, -1))
    np.testing.assert_array_equal(flat, ya.reshape(10, -1))
    assert np.abs(ya - x).mean() > 0.01
    assert 0.8 < ya.sum() / x.sum() < 1.25  # the digit is moved, not lost
    np.testing.assert_array_equal(Augmenter(shift=0, rotation=0, scale=0, seed=0)(x), x)


def test_elastic_distortion_and_smoothing(rng):
    field = rng.uniform(-1, 1, (2, 28, 28))
    smooth = gaussian_smooth(field, 4.0)
    assert smooth.shape == field.shape and smooth.std() < 0.2 * field.std()
    np.testing.assert_allclose(gaussian_smooth(np.ones((1, 8, 8)), 2.0), 1.0)
    x = rng.random((4, 1, 28, 28)).astype(np.float32)
    plain = Augmenter(seed=1)(x)
    elastic = Augmenter(elastic_alpha=3.0, seed=1)(x)
    assert elastic.shape == x.shape and not np.allclose(plain, elastic)


@pytest.mark.parametrize("kwargs, word", [({"shift": -1}, "shift"), ({"rotation": 120}, "rotation"),
                                          ({"scale": 1.5}, "scale"), ({"elastic_sigma": 0}, "elastic_sigma")])
def test_bad_settings_name_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Augmenter(**kwargs)


def test_bad_batches_are_rejected():
    with pytest.raises(ValueError, match="square"):
        Augmenter(seed=0)(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="batch"):
        Augmenter(seed=0)(np.zeros((5, 5, 5)))
    with pytest.raises(ValueError, match="augment"):
        Trainer(TwoLayerNet(784, 5, 10, seed=0), np.zeros((10, 784)), np.zeros(10, int), augment=3)


def _trainer(x, t, epochs, seed=0):
    model = SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5}, hidden_size=10, seed=0)
    return Trainer(model, x, t, epochs=epochs, mini_batch_size=20, optimizer="adam", optimizer_param={"lr": 0.01},
                   verbose=False, seed=seed, augment=Augmenter(seed=7))


def test_trainer_augments_batches_and_resume_repeats_the_same_distortions(rng, tmp_path):
    x = rng.random((60, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, 60)
    seen = []
    whole = _trainer(x, t, 2)
    real = whole.augment
    whole.augment = lambda b: seen.append(b.shape) or real(b)
    whole.augment.rng = real.rng  # noqa: checkpointing looks for .rng on the callable
    whole.train()
    assert seen == [(20, 1, 28, 28)] * 6
    first = _trainer(x, t, 1)
    first.train()
    first.save_checkpoint(tmp_path / "ckpt.npz")
    resumed = _trainer(x, t, 2)
    resumed.train(resume_from=tmp_path / "ckpt.npz")
    for k, v in whole.network.params.items():
        np.testing.assert_array_equal(resumed.network.params[k], v, err_msg=k)
    other = _trainer(x, t, 2)
    other.augment = Augmenter(seed=8)
    other.train()
    assert not np.array_equal(other.network.params["affine1.W"], whole.network.params["affine1.W"])


def test_trainer_augments_only_the_first_augment_epochs(rng):
    x = rng.random((40, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, 40)
    trainer = _trainer(x, t, 3)
    trainer.augment_epochs = 2
    epochs_seen = []
    real = trainer.augment
    trainer.augment = lambda b: epochs_seen.append(trainer.current_epoch) or real(b)
    trainer.train()
    assert epochs_seen == [0, 0, 1, 1]  # two batches per epoch; the third epoch trains on the images as they are
    with pytest.raises(ValueError, match="augment_epochs"):
        Trainer(trainer.network, x, t, augment=real, augment_epochs=-1)


def test_augmentation_experiment_beats_plain_training(tmp_path):
    """Quick size: SimpleConvNet on 1 000 sample images, 30 epochs; augmented test accuracy must beat
    plain training by at least 3 points (measured: 90.0 % -> 96.3 %, seed 0)."""
    from nnscratch.experiments import run_experiment

    try:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(1)
    except ImportError:  # pragma: no cover
        limit = contextlib.nullcontext()
    with limit:
        rec = run_experiment("augmentation", tmp_path, quick=True, seed=0)
    n = rec["numbers"]
    assert n["settings"]["train_images"] == 1000 and len(n["test_acc"]["plain"]) == 30
    assert n["gain_points"] >= 3.0, n["final_test_acc"]
    assert (tmp_path / "augmentation.png").stat().st_size > 0
