"""The restricted reader of the book's weight pickles: the book's three files load and convert; a pickle
that would run code is refused by load_params, convert, evaluate and predict, naming the global."""
from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from nnscratch import book_pickle, cli, serialization
from nnscratch.book_pickle import BookPickleError, load_params

BOOK = Path(__file__).resolve().parents[1].parent / "shared" / "book-code"
needs_book = pytest.mark.skipif(not BOOK.is_dir(), reason=f"the book's code is not at {BOOK} (a fresh clone)")
FILES = {"neuralnet": "ch03/sample_weight.pkl", "simplecnn": "ch07/params.pkl",
         "deepcnn": "ch08/deep_convnet_params.pkl"}


class _Evil:
    """Unpickling this would run a shell command that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path, str]:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": np.zeros((2, 2)), "b1": _Evil(marker)}))
    return path, marker, f"{os.system.__module__}.system"


def test_load_params_refuses_code_and_names_the_global(evil):
    path, marker, name = evil
    with pytest.raises(BookPickleError, match=f"refused global {name}"):
        load_params(path)
    assert not marker.exists()


@pytest.mark.parametrize("argv", [["convert", "{p}", "--model", "simplecnn", "--out", "{d}/m.npz"],
                                  ["convert", "{p}", "--out", "{d}/m.npz"],
                                  ["evaluate", "{p}"],
                                  ["predict", "{p}", "{d}/digit.png"]])
def test_commands_refuse_the_malicious_pickle(evil, argv, capsys, tmp_path):
    path, marker, name = evil
    code = cli.main([a.format(p=path, d=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and f"refused global {name}" in err
    assert not marker.exists() and not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("reduce", [(eval, ("1+1",)), (getattr, (1, "real")), (__import__, ("os",)), (np.load, ("x",))])
def test_other_globals_are_refused(reduce, tmp_path):
    class Obj:
        def __reduce__(self):
            return reduce

    with pytest.raises(BookPickleError, match="refused global"):
        book_pickle.loads(pickle.dumps([Obj()]))


def test_object_arrays_and_non_dict_pickles_are_refused(tmp_path):
    with pytest.raises(BookPickleError, match="refused dtype"):
        book_pickle.loads(pickle.dumps(np.array([1, "a"], dtype=object)))
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([np.zeros(3)]))
    with pytest.raises(BookPickleError, match="dict of named numpy arrays"):
        load_params(tmp_path / "list.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(BookPickleError):
        load_params(tmp_path / "junk.pkl")


def test_plain_arrays_round_trip_in_every_protocol():
    data = {"W1": np.arange(12, dtype=np.float32).reshape(3, 4), "b1": np.ones(4), "n": [1, 2.5, "x", (3,)]}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        got = book_pickle.loads(pickle.dumps(data, protocol=protocol))
        assert got["n"] == data["n"] and got["W1"].dtype == np.float32
        np.testing.assert_array_equal(got["W1"], data["W1"])


@needs_book
@pytest.mark.parametrize("model", list(FILES))
def test_the_books_files_convert_and_predict_like_the_books_code(model, tmp_path, capsys, monkeypatch):
    """The converted model gives the book's network's predictions (the book's code imported as a peer)."""
    from nnscratch.datasets import load_mnist_sample

    src = BOOK / FILES[model]
    assert cli.main(["convert", str(src), "--model", model, "--out", str(tmp_path / "m.npz")]) == 0
    net = serialization.load(tmp_path / "m.npz")
    (_, _), (x, _) = load_mnist_sample(flatten=False)
    x = x[:200]
    ours = net.predict(x, train=False)
    book = _book_scores(model, src, x, monkeypatch)
    np.testing.assert_array_equal(ours.argmax(axis=1), book.argmax(axis=1))
    np.testing.assert_allclose(ours, book, rtol=1e-4, atol=1e-4)
    code = cli.main(["evaluate", str(src)])
    assert code == 2 and f"nnscratch convert {src} --model {model}" in capsys.readouterr().err


BOOK_ACCURACY = {"neuralnet": 0.9352, "simplecnn": 0.9600, "deepcnn": 0.9797}  # the book's code, measured


@pytest.mark.slow
@needs_book
@pytest.mark.parametrize("model", list(FILES))
def test_converted_models_predict_all_10000_like_the_books_code(model, tmp_path, capsys, monkeypatch):
    """Full MNIST test set: ``nnscratch convert`` + ``nnscratch evaluate`` vs the book's network."""
    from nnscratch.datasets import load_mnist

    src = BOOK / FILES[model]
    assert cli.main(["convert", str(src), "--model", model, "--out", str(tmp_path / "m.npz")]) == 0
    assert cli.main(["evaluate", str(tmp_path / "m.npz"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    (_, _), (x, t) = load_mnist(flatten=False)
    net = serialization.load(tmp_path / "m.npz")
    ours = np.concatenate([net.predict(x[i:i + 500]).argmax(axis=1) for i in range(0, len(x), 500)])
    book = np.concatenate([_book_scores(model, src, x[i:i + 500], monkeypatch).argmax(axis=1)
                           for i in range(0, len(x), 500)])
    assert int((ours != book).sum()) == 0
    assert float((book == t).mean()) == BOOK_ACCURACY[model]
    assert f"{100 * BOOK_ACCURACY[model]:.2f} % ({int(BOOK_ACCURACY[model] * 10000)}/10000)" in printed


def _book_scores(model: str, src: Path, x: np.ndarray, monkeypatch) -> np.ndarray:
    """Scores of the book's own network on ``x``, its weights read by the book's loader (a trusted fixture)."""
    chapter = src.parent
    for p in (str(BOOK), str(chapter)):
        monkeypatch.syspath_prepend(p)
    for mod in ("common", "common.layers", "common.functions", "common.util", "common.gradient",
                "simple_convnet", "deep_convnet"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    params = load_params(src)
    if model == "neuralnet":
        from common.functions import sigmoid  # the book's code, as the peer

        h = x.reshape(len(x), -1)
        a1 = sigmoid(h @ params["W1"] + params["b1"])
        a2 = sigmoid(a1 @ params["W2"] + params["b2"])
        return a2 @ params["W3"] + params["b3"]
    if model == "simplecnn":
        from simple_convnet import SimpleConvNet

        net = SimpleConvNet()
        net.params.update(params)
        for i, key in enumerate(("Conv1", "Affine1", "Affine2")):
            net.layers[key].W, net.layers[key].b = params[f"W{i + 1}"], params[f"b{i + 1}"]
        return net.predict(x)
    from deep_convnet import DeepConvNet

    net = DeepConvNet()
    for i, layer_idx in enumerate((0, 2, 5, 7, 10, 12, 15, 18)):
        net.layers[layer_idx].W, net.layers[layer_idx].b = params[f"W{i + 1}"], params[f"b{i + 1}"]
    return net.predict(x, train_flg=False)
