"""At full size, the filters / misclassified / half-precision experiments use the shipped networks.

The full-size path is run on part of the shipped MNIST sample (``load_data`` patched: 300 test
images) so that it takes seconds: what is checked is that no network is trained and the shipped
weights are the ones used. Its time at full size is in the report of the lead's merge, not asserted.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nnscratch.datasets import load_mnist_sample
from nnscratch.experiments import ch7_8, run_experiment
from nnscratch.pretrained import load_pretrained


def _small(flatten: bool = False) -> Any:
    (x, t), (xt, tt) = load_mnist_sample(flatten=flatten)
    return (x, t), (xt[:300], tt[:300])


@pytest.fixture(scope="module")
def full_size_on_the_sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    out = tmp_path_factory.mktemp("pretrained-experiments")
    mp = pytest.MonkeyPatch()
    mp.setattr(ch7_8, "load_data", lambda ctx, flatten=True: _small(flatten))
    mp.setattr(ch7_8, "_fit", lambda *a, **k: pytest.fail("a full-size run trained a network"))
    try:
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            return {name: run_experiment(name, out, quick=False, seed=0)
                    for name in ("filters", "misclassified", "half-precision")}
    finally:
        mp.undo()


def test_misclassified_uses_the_shipped_deepcnn(full_size_on_the_sample: dict[str, Any]) -> None:
    n = full_size_on_the_sample["misclassified"]["numbers"]
    assert "nnscratch.pretrained 'deepcnn'" in n["settings"]["source"] and n["settings"]["epochs"] == 0
    _, (x, t) = _small()
    assert n["n_test"] == 300 and n["test_acc"] == pytest.approx(load_pretrained("deepcnn").accuracy(x, t))
    assert n["test_acc"] > 0.98 and all(a != b for a, b in zip(n["true"], n["pred"]))


def test_filters_are_the_shipped_simplecnn(full_size_on_the_sample: dict[str, Any]) -> None:
    n = full_size_on_the_sample["filters"]["numbers"]
    assert "nnscratch.pretrained 'simplecnn'" in n["settings"]["source"]
    conv_w = next(v for v in load_pretrained("simplecnn").params.values() if v.ndim == 4)
    np.testing.assert_allclose(n["filters_after"], conv_w, atol=1e-5)
    assert n["neighbour_corr_after"] > n["neighbour_corr_before"] + 0.2
    assert n["test_acc_after"] > 0.97 > 0.5 > n["test_acc_before"]


def test_half_precision_uses_the_shipped_mlp(full_size_on_the_sample: dict[str, Any]) -> None:
    n = full_size_on_the_sample["half-precision"]["numbers"]
    assert "nnscratch.pretrained 'mlp'" in n["settings"]["source"]
    acc = n["accuracy"]
    assert acc["float32"] > 0.95 and abs(acc["float16"] - acc["float32"]) * 100 <= 0.2
