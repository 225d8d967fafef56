"""Regression (ch. 3.5): identity output + squared error trained by the Trainer reports RMSE / R^2, no accuracy."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnscratch.experiments import EXPERIMENTS, run_experiment
from nnscratch.experiments.ch3_data import REGRESSION_NOISE, mlp_regressor, noisy_sin
from nnscratch.layers import Affine, MeanSquaredLoss
from nnscratch.models import Sequential, model_task, r2_score, rmse
from nnscratch.training import History, Trainer

#: the held-out RMSE the quick regression run must beat: the noise is 0.1, so 0.15 leaves a
#: fit error of at most sqrt(0.15^2 - 0.1^2) ~ 0.11 against sin(x) itself
RMSE_THRESHOLD = 0.15


def test_regression_experiment_held_out_rmse_below_threshold(tmp_path):
    record = run_experiment("regression", tmp_path, quick=True, seed=0)
    n = record["numbers"]
    print(f"\nregression (quick): held-out RMSE {n['test_rmse']:.4f} (noise {REGRESSION_NOISE}), "
          f"R^2 {n['test_r2']:.4f}, RMSE to sin(x) {n['rmse_to_true_function']:.4f}, {record['wall_time_s']} s")
    assert n["test_rmse"] < RMSE_THRESHOLD
    assert n["test_rmse"] > 0.8 * REGRESSION_NOISE  # no better than the noise allows: it is held out
    assert n["test_r2"] > 0.95 and n["rmse_to_true_function"] < 0.08
    assert n["train_acc"] == []
    assert (tmp_path / "regression.png").stat().st_size > 20_000
    assert EXPERIMENTS["regression"].chapter == "3"


def test_trainer_on_a_regression_model_reports_no_accuracy(capsys):
    rng = np.random.default_rng(0)
    x, t = noisy_sin(200, 0.1, rng)
    xt, tt = noisy_sin(100, 0.1, rng)
    net = mlp_regressor((1, 16, 1), seed=0)
    assert model_task(net) == "regression"
    trainer = Trainer(net, x, t, xt, tt, epochs=3, optimizer="adam", optimizer_param={"lr": 0.01}, seed=0,
                      x_val=xt[:50], t_val=tt[:50], progress=False)
    h = trainer.train()
    out = capsys.readouterr().out
    assert "acc" not in out and "rmse" in out and "r2" in out
    assert h.train_acc == h.val_acc == h.test_acc == [] and h.final_test_acc is None
    assert len(h.train_rmse) == len(h.val_rmse) == len(h.test_rmse) == len(h.test_r2) == 3
    assert set(trainer.evaluate()) == {"train_rmse", "train_r2", "val_rmse", "val_r2", "test_rmse", "test_r2"}
    y = net.predict(xt)
    assert h.final_test_rmse == pytest.approx(float(np.sqrt(np.mean((y - tt) ** 2))), rel=1e-5)
    back = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back.final_test_r2 == pytest.approx(h.final_test_r2)


def test_task_can_be_forced_for_an_mse_classifier(rng):
    """Ch. 4.2.1 uses the squared error on one-hot targets for classification: task='classification'."""
    x = rng.normal(size=(60, 4)).astype(np.float32)
    t = (x[:, 0] > 0).astype(np.int64)
    net = Sequential([Affine(W=rng.normal(size=(4, 2)).astype(np.float32) * 0.1, b=np.zeros(2, np.float32))],
                     loss_layer=MeanSquaredLoss())
    h = Trainer(net, x, t, epochs=2, verbose=False, task="classification").train()
    assert len(h.train_acc) == 2 and h.train_rmse == []
    with pytest.raises(ValueError, match="task"):
        Trainer(net, x, t, task="clustering")


def test_rmse_and_r2():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert rmse(t, t) == 0 and r2_score(t, t) == 1
    assert r2_score(np.full(4, t.mean()), t) == pytest.approx(0.0)
    y = t + np.array([0.5, -0.5, 0.5, -0.5])
    assert rmse(y, t) == pytest.approx(0.5)
    assert r2_score(y, t) == pytest.approx(1 - 1.0 / 5.0)
    with pytest.raises(ValueError):
        rmse(np.zeros(3), np.zeros(4))
