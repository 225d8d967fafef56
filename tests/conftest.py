"""Shared test fixtures: a seeded Generator and the single-layer gradient check."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from nnscratch.gradient import layer_gradient_check


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded Generator per test."""
    return np.random.default_rng(0)


@pytest.fixture
def grad_errors() -> Callable[..., dict[str, float]]:
    """The single-layer gradient check :func:`nnscratch.gradient.layer_gradient_check`."""
    return layer_gradient_check


@pytest.fixture(scope="session")
def small_models(tmp_path_factory) -> dict[str, Any]:
    """Two real models trained on the shipped MNIST sample, saved as model files: {"cnn": path, "mlp": path}.

    A SimpleConvNet (5 epochs, ~92 % on the sample's test part) and an MLP 784-100-10 (~90 %),
    each in a few seconds on one thread. Used by the tests of `nnscratch serve`.
    """
    from threadpoolctl import threadpool_limits

    from nnscratch import serialization
    from nnscratch.datasets import load_mnist_sample
    from nnscratch.models import MultiLayerNet, SimpleConvNet
    from nnscratch.training import Trainer

    (x, t), (xt, tt) = load_mnist_sample(flatten=False)
    out = tmp_path_factory.mktemp("models")
    paths: dict[str, Any] = {}
    specs = {"cnn": (SimpleConvNet(seed=0), 5, 0.002), "mlp": (MultiLayerNet(784, [100], 10, seed=0), 8, 0.002)}
    with threadpool_limits(1):
        for name, (net, epochs, lr) in specs.items():
            schedule = {"name": "cosine", "lr": lr, "total_steps": epochs * 50}
            Trainer(net, x, t, xt, tt, epochs=epochs, mini_batch_size=100, optimizer="adam",
                    optimizer_param={"lr": lr, "lr_schedule": schedule}, evaluate_sample_num_per_epoch=200,
                    verbose=False, seed=0).train()
            acc = net.accuracy(xt, tt)
            assert acc >= 0.9, f"{name} reached only {acc:.3f} on the sample's test part"
            paths[name] = serialization.save(net, out / f"{name}.npz",
                                             extra={"dataset": "mnist-sample", "test_acc": acc,
                                                    "class_names": [str(i) for i in range(10)]})
    return paths
