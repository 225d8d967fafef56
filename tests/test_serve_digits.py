"""Ten hand-drawn-style digit pictures (tests/drawn_digits.py): all right through `predict` and the API.

The model: ``digit_model`` below. Until shipped weights exist it is the SimpleConvNet the test
session trains on the shipped sample; NNSCRATCH_DIGIT_MODEL=path/to/model.npz checks another
(e.g. a DeepConvNet from `nnscratch train --model deepcnn`).
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

from nnscratch import serialization
from nnscratch.cli import main
from nnscratch.images import load_digit, to_mnist

PIL = pytest.importorskip("PIL.Image")
from drawn_digits import pictures  # noqa: E402
from serve_helpers import request, running_server  # noqa: E402

PICTURES = pictures()


@pytest.fixture(scope="module", params=["shipped-deepcnn", "session-trained"])
def digit_model(request, small_models) -> tuple[str, str]:
    """The model the ten pictures are checked with, as ("file", path) or ("pretrained", name):
    the shipped DeepConvNet, and the small SimpleConvNet trained in this session (or the file
    named by NNSCRATCH_DIGIT_MODEL)."""
    if request.param == "shipped-deepcnn":
        return "pretrained", "deepcnn"
    return "file", os.environ.get("NNSCRATCH_DIGIT_MODEL") or str(small_models["cnn"])


def _predict_args(spec: tuple[str, str]) -> list[str]:
    return [spec[1]] if spec[0] == "file" else ["--pretrained", spec[1]]


def _server(spec: tuple[str, str]):
    return running_server([spec[1]]) if spec[0] == "file" else running_server([], pretrained=[spec[1]])


def _load(spec: tuple[str, str]):
    if spec[0] == "file":
        return serialization.load(spec[1])
    from nnscratch.pretrained import load_pretrained

    return load_pretrained(spec[1])


@pytest.fixture(scope="module")
def picture_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drawn")
    files = []
    for p in PICTURES:
        path = folder / f"digit{p.label}{p.suffix}"
        path.write_bytes(p.data)
        files.append(path)
    return files


def test_ten_pictures_through_predict(digit_model, picture_files, capsys):
    assert main(["predict", *_predict_args(digit_model), *map(str, picture_files), "--top", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    got = {re.search(r"digit(\d)\.", line).group(1): line.split(": ", 1)[1].split(" ")[0] for line in lines}
    wrong = {p.name: got[str(p.label)] for p in PICTURES if got[str(p.label)] != str(p.label)}
    assert not wrong, f"misread: {wrong}"


def test_ten_pictures_through_the_api(digit_model):
    with _server(digit_model) as (host, port, _):
        wrong = {}
        for p in PICTURES:
            r = request((host, port), "POST", "/api/predict?layers=none", p.data, {"Content-Type": p.mime})
            assert r.status == 200, r.body[:300]
            top = r.json()["top"][0]
            if top[0] != p.label:
                wrong[p.name] = top
    assert not wrong, f"misread: {wrong}"


def test_show_input_saves_what_the_network_saw(digit_model, picture_files, tmp_path, capsys):
    out = tmp_path / "seen.png"
    assert main(["predict", *_predict_args(digit_model), str(picture_files[8]), "--show-input", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    with PIL.open(out) as img:
        assert img.size == (280, 280) and img.mode == "L"
        seen = np.asarray(img, dtype=np.float32)[::10, ::10] / 255
    assert np.abs(seen - load_digit(picture_files[8])).max() <= 1 / 255 + 1e-6
    assert main(["predict", *_predict_args(digit_model), *map(str, picture_files[:2]), "--show-input", str(out)]) == 0
    assert (tmp_path / "seen-digit0.png").exists() and (tmp_path / "seen-digit1.png").exists()


def _noisy_eight() -> np.ndarray:
    return next(np.asarray(PIL.open(__import__("io").BytesIO(p.data)).convert("L"), dtype=np.float32) / 255
                for p in PICTURES if p.label == 8)


def test_noisy_grey_background_is_cut_away():
    """The issue's case: a dark 8 on a noisy grey background; the frame must not survive the crop."""
    x = to_mnist(_noisy_eight())
    assert x[:3].max() == 0 and x[-3:].max() == 0 and x[:, :3].max() == 0 and x[:, -3:].max() == 0
    ys, xs = np.nonzero(x > 0.05)
    assert 18 <= ys.max() - ys.min() + 1 <= 20  # the digit fills the 20-pixel box, not the frame
    assert (x > 0.05).mean() < 0.3 and x.max() == pytest.approx(1.0, abs=0.01)


def test_polarity_is_found_from_ink_mass_and_can_be_forced():
    from nnscratch.datasets import load_mnist_sample

    _, (xt, _) = load_mnist_sample(flatten=False)
    digit = xt[0, 0]
    big = np.kron(digit, np.ones((8, 8), dtype=np.float32))
    for img, invert in ((big, False), (1 - big, True), (0.3 + 0.4 * big, False), (0.8 - 0.5 * big, True)):
        auto = to_mnist(img)
        assert np.corrcoef(auto.ravel(), to_mnist(img, invert=invert).ravel())[0, 1] > 0.999
        assert np.corrcoef(auto.ravel(), digit.ravel())[0, 1] > 0.8


def test_gradient_lit_photo_keeps_only_the_digit():
    h, w = 300, 240
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
    light = 0.35 + 0.6 * x + 0.2 * y  # far darker on the left than the ink is on the right
    img = light * 0.9
    img[60:240, 100:125] = light[60:240, 100:125] * 0.15  # a "1"
    out = to_mnist(img.astype(np.float32))
    cols = np.nonzero(out.max(axis=0) > 0.2)[0]
    assert cols.max() - cols.min() <= 6  # a thin upright bar, not the lit background
    assert out[:, :8].max() < 0.05 and out[:, -8:].max() < 0.05


def test_huge_and_unreadable_images_are_clear_errors(tmp_path):
    big = tmp_path / "huge.png"
    PIL.new("L", (7000, 7000), 255).save(big)
    with pytest.raises(ValueError, match="too large"):
        load_digit(big)
    with pytest.raises(ValueError, match="cannot read the image"):
        load_digit(b"GIF89a not really")
    with pytest.raises(ValueError, match="blank"):
        to_mnist(np.full((40, 40), 0.5, dtype=np.float32) + np.random.default_rng(0).normal(0, 0.01, (40, 40)))


def test_the_model_used_is_a_real_trained_model(digit_model):
    model = _load(digit_model)
    from nnscratch.datasets import load_mnist_sample

    _, (xt, tt) = load_mnist_sample(flatten=False)
    assert model.accuracy(xt, tt) >= 0.9
