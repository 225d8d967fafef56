"""The `nnscratch` command end to end on the shipped MNIST sample (no network)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnscratch import serialization
from nnscratch.cli import main
from nnscratch.datasets import load_mnist_sample
from nnscratch.images import load_digit, to_mnist

PIL = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--model", "mlp", "--hidden", "128", "--dataset", "mnist-sample", "--epochs", "4",
                 "--seed", "0", "--quiet", "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_model_history_and_figure(trained, capsys):
    for name in ("model.npz", "history.json", "training.png", "checkpoint.npz"):
        assert (trained / name).stat().st_size > 0, name
    history = json.loads((trained / "history.json").read_text())
    assert len(history["test_acc"]) == 4
    assert history["test_acc"][-1] > 0.85


def test_evaluate_prints_accuracy_and_writes_confusion(trained, capsys):
    assert main(["evaluate", str(trained / "model.npz")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "per-class accuracy" in out
    result = json.loads((trained / "evaluation.json").read_text())
    cm = np.array(result["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == 1000
    assert result["accuracy"] == pytest.approx(np.trace(cm) / 1000)
    assert (trained / "confusion.png").stat().st_size > 0


def _render_black_on_white(digit28: np.ndarray, size: int = 200):
    img = PIL.fromarray((255 * (1.0 - digit28)).astype(np.uint8)).resize((size, size), PIL.BILINEAR)
    return img


def test_predict_black_on_white_200px_png_of_test_digits(trained, tmp_path, capsys):
    model = serialization.load(trained / "model.npz")
    _, (x_test, t_test) = load_mnist_sample(flatten=False)
    direct = model.predict(x_test[:40]).argmax(axis=1)
    picks = [i for i in range(40) if direct[i] == t_test[i]][:20]
    agree = 0
    for i in picks:
        path = tmp_path / f"digit{i}.png"
        _render_black_on_white(x_test[i, 0]).save(path)
        agree += int(model.predict(load_digit(path).reshape(1, 1, 28, 28)).argmax() == t_test[i])
    assert agree >= 0.9 * len(picks)
    # and through the command: the first correctly classified digit
    first = picks[0]
    assert main(["predict", str(trained / "model.npz"), str(tmp_path / f"digit{first}.png")]) == 0
    out = capsys.readouterr().out
    assert out.split(": ", 1)[1].startswith(f"{t_test[first]} (")


def test_preprocessing_inverts_light_background_and_centres():
    _, (x_test, _) = load_mnist_sample(flatten=False)
    digit = x_test[0, 0]
    img = np.asarray(_render_black_on_white(digit), dtype=np.float32) / 255
    out = to_mnist(img)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out[0].max() == 0 and out[:, 0].max() == 0  # background black again
    ys, xs = np.indices(out.shape)
    assert abs((ys * out).sum() / out.sum() - 14.0) < 1.0 and abs((xs * out).sum() / out.sum() - 14.0) < 1.0
    assert np.corrcoef(out.ravel(), digit.ravel())[0, 1] > 0.85


def test_predict_rejects_blank_and_unreadable_images(trained, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    PIL.new("L", (50, 50), 255).save(blank)
    assert main(["predict", str(trained / "model.npz"), str(blank)]) == 2
    assert "blank" in capsys.readouterr().err
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert main(["predict", str(trained / "model.npz"), str(junk)]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_bad_model_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"\x00" * 100)
    assert main(["evaluate", str(bad)]) == 2
    assert "model.npz" in capsys.readouterr().err


def test_help_lists_every_subcommand_and_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("train", "evaluate", "predict", "data"):
        assert cmd in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "(default: 10)" in capsys.readouterr().out


def test_nan_guard_message_with_huge_learning_rate(tmp_path, capsys):
    code = main(["train", "--model", "mlp", "--dataset", "mnist-sample", "--train-size", "2000", "--optimizer", "sgd",
                 "--lr", "10", "--schedule", "none", "--epochs", "1", "--quiet", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "step" in err and "learning rate" in err
    assert "RuntimeWarning" not in err


def test_threads_option_limits_blas_while_the_command_runs(trained, monkeypatch, capsys):
    from threadpoolctl import threadpool_info

    from nnscratch.cli import evaluate as evaluate_cmd

    seen = []
    real = evaluate_cmd.load_model

    def spy(*a, **k):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return real(*a, **k)

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    monkeypatch.setattr(evaluate_cmd, "load_model", spy)
    assert main(["evaluate", str(trained / "model.npz"), "--threads", "1"]) == 0
    assert seen and set(seen) == {1}
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before  # restored


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_threads_option_rejects_bad_counts(bad, capsys):
    assert main(["train", "--threads", bad]) == 2
    err = capsys.readouterr().err
    assert "--threads" in err and len(err.strip().splitlines()) == 1


def test_train_augment_option_runs_and_records_the_command(tmp_path, capsys):
    out = tmp_path / "aug"
    assert main(["train", "--model", "mlp", "--hidden", "32", "--dataset", "mnist-sample", "--epochs", "1",
                 "--train-size", "500", "--augment", "--threads", "1", "--quiet", "--out", str(out)]) == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["test_acc"]) == 1
    _, _, extra = serialization.load_checkpoint(out / "checkpoint.npz")
    assert extra["augment_rng"] is not None  # the augmenter's generator is saved for --resume


@pytest.mark.parametrize("workers", [1, 2])
def test_train_label_smoothing_trains_on_the_smoothed_loss_and_saves_it(tmp_path, capsys, workers):
    base = ["train", "--model", "mlp", "--hidden", "16", "--dataset", "mnist-sample", "--epochs", "1",
            "--train-size", "300", "--threads", "1", "--quiet", "--workers", str(workers)]
    assert main([*base, "--label-smoothing", "0.2", "--out", str(tmp_path / "ls")]) == 0
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    model = serialization.load(tmp_path / "ls" / "model.npz")
    assert model.last_layer.label_smoothing == 0.2
    assert serialization.load(tmp_path / "plain" / "model.npz").last_layer.label_smoothing == 0.0
    smoothed, plain = (json.loads((tmp_path / d / "history.json").read_text())["loss"] for d in ("ls", "plain"))
    # the same seed, weights and first batch: only the loss differs, and the first step already shows it
    assert np.isfinite(smoothed).all() and smoothed[0] != plain[0]


def test_train_augment_strength_options_need_augment_reach_the_augmenter_and_are_saved(tmp_path, capsys,
                                                                                      monkeypatch):
    from nnscratch.cli import train as train_cli

    base = ["train", "--model", "mlp", "--hidden", "16", "--dataset", "mnist-sample", "--epochs", "1",
            "--train-size", "200", "--threads", "1", "--quiet"]
    strength = ["--augment-shift", "3", "--augment-rotation", "15", "--augment-scale", "0.2",
                "--elastic-alpha", "34", "--elastic-sigma", "5"]
    assert main([*base, *strength, "--out", str(tmp_path / "plain")]) == 2
    err = capsys.readouterr().err
    assert "--augment-shift" in err and "--elastic-alpha" in err and "--augment too" in err
    made = []
    real = train_cli.Augmenter
    monkeypatch.setattr(train_cli, "Augmenter", lambda **kw: made.append(kw) or real(**kw))
    assert main([*base, "--augment", *strength, "--out", str(tmp_path / "aug")]) == 0
    assert made == [{"shift": 3.0, "rotation": 15.0, "scale": 0.2, "elastic_alpha": 34.0, "elastic_sigma": 5.0,
                     "seed": 1}]
    _, _, extra = serialization.load_checkpoint(tmp_path / "aug" / "checkpoint.npz")
    assert '"elastic_alpha": 34.0' in json.dumps(extra)  # --resume continues with the same distortions
    assert main([*base, "--augment", "--augment-rotation", "120", "--out", str(tmp_path / "bad")]) == 2
    assert "--augment-rotation must be in [0, 90]" in capsys.readouterr().err


def test_train_clean_epochs_needs_augment_and_is_saved_for_resume(tmp_path, capsys):
    base = ["train", "--model", "mlp", "--hidden", "16", "--dataset", "mnist-sample", "--epochs", "2",
            "--train-size", "200", "--threads", "1", "--quiet", "--clean-epochs", "1"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 2
    assert "--clean-epochs" in capsys.readouterr().err
    assert main([*base, "--augment", "--out", str(tmp_path / "aug")]) == 0
    _, _, extra = serialization.load_checkpoint(tmp_path / "aug" / "checkpoint.npz")
    assert "clean_epochs" in json.dumps(extra)


def _dropout_ratios(model_file):
    return [layer.dropout_ratio for layer in serialization.load(model_file).layers.values()
            if type(layer).__name__ == "Dropout"]


def test_train_dropout_sets_deep_conv_nets_ratio_and_a_resumed_run_keeps_the_trained_one(tmp_path, capsys):
    base = ["train", "--model", "deepcnn", "--dataset", "mnist-sample", "--train-size", "100", "--threads", "1",
            "--quiet"]
    assert main([*base, "--epochs", "1", "--out", str(tmp_path / "book")]) == 0
    assert main([*base, "--epochs", "1", "--dropout", "0.25", "--out", str(tmp_path / "quarter")]) == 0
    assert _dropout_ratios(tmp_path / "book" / "model.npz") == [0.5, 0.5]  # the book's ratio by default
    assert _dropout_ratios(tmp_path / "quarter" / "model.npz") == [0.25, 0.25]
    # a checkpoint from before --dropout applied to deepcnn recorded the option's old default, 0.0,
    # for a run that trained with 0.5: resuming it keeps the ratio its layers have
    ckpt = tmp_path / "book" / "checkpoint.npz"
    model, optimizer, extra = serialization.load_checkpoint(ckpt)
    extra["run_options"]["dropout"] = 0.0
    serialization.save(model, ckpt, optimizer, extra=extra)
    assert main(["train", "--resume", str(ckpt), "--epochs", "2", "--quiet", "--out", str(tmp_path / "book")]) == 0
    assert _dropout_ratios(tmp_path / "book" / "model.npz") == [0.5, 0.5]
    ckpt = tmp_path / "quarter" / "checkpoint.npz"
    assert main(["train", "--resume", str(ckpt), "--epochs", "2", "--quiet", "--out", str(tmp_path / "quarter")]) == 0
    assert _dropout_ratios(tmp_path / "quarter" / "model.npz") == [0.25, 0.25]
    capsys.readouterr()
    # another ratio given again makes another network: refused, not trained on a mismatch
    assert main(["train", "--resume", str(ckpt), "--epochs", "3", "--dropout", "0", "--quiet",
                 "--out", str(tmp_path / "quarter")]) == 2
    assert "architecture differs" in capsys.readouterr().err


def test_train_dropout_zero_leaves_the_mlp_without_dropout(tmp_path, capsys):
    base = ["train", "--model", "mlp", "--hidden", "16", "--dataset", "mnist-sample", "--epochs", "1",
            "--train-size", "100", "--threads", "1", "--quiet"]
    assert main([*base, "--dropout", "0", "--out", str(tmp_path / "off")]) == 0
    assert main([*base, "--dropout", "0.3", "--out", str(tmp_path / "on")]) == 0
    assert _dropout_ratios(tmp_path / "off" / "model.npz") == []
    assert _dropout_ratios(tmp_path / "on" / "model.npz") == [0.3]
    for run, ratios in (("off", []), ("on", [0.3])):  # a resumed run keeps its layers' ratio
        assert main(["train", "--resume", str(tmp_path / run / "checkpoint.npz"), "--epochs", "2", "--quiet",
                     "--out", str(tmp_path / run)]) == 0
        assert _dropout_ratios(tmp_path / run / "model.npz") == ratios
