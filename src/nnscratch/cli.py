"""The `nnscratch` command: train, evaluate, predict, data (and experiment, tune).

Every subcommand has --help listing each option with its default.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MODEL_CHOICES = ("mlp", "twolayer", "simplecnn", "deepcnn")
DATASETS = ("mnist", "fashion-mnist", "mnist-sample")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "mnist-sample": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001, "adamw": 0.001}


def load_dataset(name: str, flatten: bool = False) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x_train, t_train), (x_test, t_test)) normalised to [0, 1], images as (N, 1, 28, 28)."""
    from . import datasets  # noqa: PLC0415

    loaders = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist,
               "mnist-sample": datasets.load_mnist_sample}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return loaders[name](normalize=True, flatten=flatten, one_hot_label=False)


def _int_list(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,128, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


def _init_spec(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def build_model(args: argparse.Namespace) -> Any:
    """A model of the zoo from the train command's options."""
    from .models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet  # noqa: PLC0415

    if args.model == "twolayer":
        hidden = args.hidden[0] if args.hidden else 50
        return TwoLayerNet(784, hidden, 10, weight_init_std=args.init if args.init != "auto" else 0.01, seed=args.seed)
    if args.model == "mlp":
        return MultiLayerNet(
            784, args.hidden or [512, 256], 10, activation=args.activation,
            weight_init_std=args.init if args.init != "auto" else args.activation,
            weight_decay_lambda=args.weight_decay, use_dropout=args.dropout > 0,
            dropout_ration=args.dropout if args.dropout > 0 else 0.5,
            use_batchnorm=args.batchnorm, seed=args.seed,
        )
    if args.model == "simplecnn":
        return SimpleConvNet(weight_init_std=args.init if args.init != "auto" else 0.01, seed=args.seed)
    return DeepConvNet(seed=args.seed, **({} if args.init == "auto" else {"weight_init_std": args.init}))


def cmd_train(args: argparse.Namespace) -> int:
    from . import serialization  # noqa: PLC0415
    from .callbacks import Checkpoint, ProgressBar  # noqa: PLC0415
    from .plotting import plot_history  # noqa: PLC0415
    from .training import Trainer  # noqa: PLC0415

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    (x_train, t_train), (x_test, t_test) = load_dataset(args.dataset)
    if args.train_size:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]
    print(f"data: {args.dataset}, {len(x_train)} training and {len(x_test)} test images "
          f"({time.perf_counter() - t0:.1f} s)")
    x_val = t_val = None
    if args.val_split > 0:
        from .datasets import train_val_split  # noqa: PLC0415

        (x_train, t_train), (x_val, t_val) = train_val_split(x_train, t_train, val_ratio=args.val_split, seed=args.seed)
    model = build_model(args)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer_param: dict[str, Any] = {"lr": lr}
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    if args.schedule == "cosine":
        optimizer_param["lr_schedule"] = {"name": "cosine", "lr": lr, "total_steps": steps}
    elif args.schedule == "step":
        optimizer_param["lr_schedule"] = {"name": "step", "lr": lr, "step_size": max(steps // 3, 1), "gamma": 0.1}
    callbacks: list[Any] = [Checkpoint(out / "checkpoint.npz")]
    if not args.quiet:
        callbacks.append(ProgressBar())
    trainer = Trainer(
        model, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=args.batch_size,
        optimizer=args.optimizer, optimizer_param=optimizer_param, verbose=not args.quiet,
        x_val=x_val, t_val=t_val, seed=args.seed, callbacks=callbacks,
        evaluate_sample_num_per_epoch=args.eval_samples or None,
    )
    print(f"model: {args.model} ({model.num_params():,} parameters), optimizer: {args.optimizer} lr={lr} "
          f"({args.schedule} schedule), "
          f"{args.epochs} epochs of batch {args.batch_size}")
    history = trainer.train(resume_from=args.resume) if args.resume else trainer.train()
    test_acc = model.accuracy(x_test, t_test)
    extra = {"dataset": args.dataset, "class_names": CLASS_NAMES[args.dataset], "test_acc": test_acc,
             "command": sys.argv[1:]}
    model_path = serialization.save(model, out / "model.npz", extra=extra)
    history.save_json(out / "history.json")
    figure = plot_history(history, out / "training.png", title=f"{args.model} on {args.dataset}")
    epoch_times = history.to_dict().get("epoch_time", [])
    if epoch_times:
        print(f"time per epoch: {np.mean(epoch_times):.1f} s (total {sum(epoch_times):.1f} s)")
    print(f"test accuracy: {100 * test_acc:.2f} %")
    print(f"model: {model_path}\nhistory: {out / 'history.json'}\nfigure: {figure}")
    return 0


def _load_model(path: str | None, pretrained: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The model file ``path``, else the shipped network ``pretrained``, else the default shipped one."""
    from .pretrained import load_model_or_pretrained  # noqa: PLC0415

    model, extra, _ = load_model_or_pretrained(path, pretrained)
    return model, extra


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .plotting import plot_confusion  # noqa: PLC0415

    model, extra = _load_model(args.model, args.pretrained)
    dataset = args.dataset or extra.get("dataset", "mnist")
    _, (x_test, t_test) = load_dataset(dataset)
    names = CLASS_NAMES[dataset]
    pred = np.concatenate([model.predict(x_test[i : i + 1000]).argmax(axis=1) for i in range(0, len(x_test), 1000)])
    t = np.asarray(t_test).astype(np.int64)
    cm = np.zeros((10, 10), dtype=np.int64)
    np.add.at(cm, (t, pred), 1)
    acc = float(np.trace(cm) / cm.sum())
    print(f"{dataset} test accuracy: {100 * acc:.2f} % ({int(np.trace(cm))}/{int(cm.sum())})")
    print("per-class accuracy:")
    for i, name in enumerate(names):
        total = cm[i].sum()
        print(f"  {name:>12}: {100 * cm[i, i] / max(total, 1):6.2f} %  ({cm[i, i]}/{total})")
    out = Path(args.out) if args.out else (Path(args.model).resolve().parent if args.model
                                           else Path("runs") / f"evaluate-{extra.get('pretrained')}")
    fig = plot_confusion(cm, out / "confusion.png", names, title=f"Confusion matrix, {dataset} test set")
    result = {"dataset": dataset, "accuracy": acc, "confusion": cm.tolist(),
              "per_class": {n: float(cm[i, i] / max(cm[i].sum(), 1)) for i, n in enumerate(names)}}
    from .fileio import write_json_atomic  # noqa: PLC0415

    write_json_atomic(out / "evaluation.json", result)
    print(f"confusion matrix: {fig}\nnumbers: {out / 'evaluation.json'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .functions import softmax  # noqa: PLC0415
    from .images import load_digit  # noqa: PLC0415

    from .cli_models import split_model_and_images  # noqa: PLC0415

    model_path, images = split_model_and_images(args.images)
    model, extra = _load_model(model_path, args.pretrained)
    names = extra.get("class_names") or [str(i) for i in range(10)]
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    for path in images:
        x = load_digit(path, invert=invert).reshape(1, 1, 28, 28)
        p = softmax(model.predict(x))[0]
        top = np.argsort(p)[::-1][: args.top]
        ranked = ", ".join(f"{names[i]} ({100 * p[i]:.1f} %)" for i in top)
        print(f"{path}: {ranked}")
    return 0


def describe_dataset(name: str) -> str:
    """Where a dataset lives, which files are present and verified, and the sources tried."""
    from .datasets import info  # noqa: PLC0415

    i = info(name)
    lines = [f"{i['title']}: {'complete and verified' if i['complete'] else 'incomplete'} in {i['dir']}"]
    for f in i["files"]:
        state = "verified" if f["verified"] else (f["problem"] or ("present" if f["present"] else "missing"))
        lines.append(f"  {f['file']:<28} {state}")
    lines.append("  sources, in order: data directory, " + ", ".join(i["sources"]))
    return "\n".join(lines)


def cmd_data(args: argparse.Namespace) -> int:
    names = ["mnist", "fashion-mnist"] if args.dataset == "all" else [args.dataset]
    for name in names:
        t0 = time.perf_counter()
        if args.fetch:
            load_dataset(name)
            print(f"{name}: ready ({time.perf_counter() - t0:.1f} s)")
        print(describe_dataset(name))
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' after each option, except where there is no default to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    fmt = _HelpFormatter
    p = argparse.ArgumentParser(prog="nnscratch", formatter_class=fmt,
                                description="Deep Learning from Scratch (ch. 1-8): train, evaluate and use networks on MNIST.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__import__('nnscratch').__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a network and save it with its history and figure", formatter_class=fmt,
                       description="Train a network of the book's zoo on MNIST-like data; writes model.npz, "
                                   "history.json, training.png and checkpoint.npz into --out.")
    t.add_argument("--model", choices=MODEL_CHOICES, default="mlp",
                   help="mlp: MultiLayerNet (ch. 6); twolayer: TwoLayerNet (ch. 5); simplecnn: SimpleConvNet (ch. 7); deepcnn: DeepConvNet (ch. 8)")
    t.add_argument("--hidden", type=_int_list, default=None, metavar="N,N,...",
                   help="hidden layer sizes (mlp default 512,256; twolayer default 50)")
    t.add_argument("--dataset", choices=DATASETS, default="mnist", help="mnist-sample is the small sample shipped in the package")
    t.add_argument("--epochs", type=int, default=10, help="shuffled passes over the training data")
    t.add_argument("--batch-size", type=int, default=100, help="mini-batch size")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="update rule (ch. 6.1)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default per optimizer: sgd 0.1, adam 0.001, ...)")
    t.add_argument("--schedule", choices=("cosine", "step", "none"), default="cosine",
                   help="learning-rate schedule over the run: cosine decay to 0, step (x0.1 every third), or constant")
    t.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay lambda (ch. 6.4.1), mlp only")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout ratio after each hidden layer (0 = off), mlp only")
    t.add_argument("--batchnorm", action="store_true", help="batch normalization after each hidden Affine (ch. 6.3), mlp only")
    t.add_argument("--activation", choices=("relu", "sigmoid", "tanh"), default="relu", help="hidden activation, mlp only")
    t.add_argument("--init", type=_init_spec, default="auto",
                   help="weight init: a std like 0.01, 'xavier', 'he', or 'auto' (the model's book default)")
    t.add_argument("--seed", type=int, default=0, help="seed for initialisation, shuffling and dropout")
    t.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    t.add_argument("--val-split", type=float, default=0.0, help="hold out this fraction of training data for validation")
    t.add_argument("--eval-samples", type=int, default=10000,
                   help="per-epoch accuracies use the first N training/validation/test images (0 = all)")
    t.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue from a checkpoint.npz written by an earlier run")
    t.add_argument("--out", default="runs/train", help="directory receiving model.npz, history.json, training.png")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy and a confusion matrix", formatter_class=fmt,
                       description="Evaluate a model file, or a shipped network (--pretrained NAME; deepcnn when "
                                   "neither is given), on a test set; writes confusion.png and evaluation.json.")
    e.add_argument("model", nargs="?", default=None,
                   help="a model.npz written by `nnscratch train` (default: the shipped deepcnn, see --pretrained)")
    e.add_argument("--pretrained", default=None, metavar="NAME", help="evaluate a shipped network (`nnscratch models`)")
    e.add_argument("--dataset", choices=DATASETS, default=None, help="test set to use; without it, the one the model was trained on")
    e.add_argument("--out", default=None, help="where confusion.png and evaluation.json go; without it, the model's directory")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify digit images (PNG/JPEG of any size)", formatter_class=fmt,
                        usage="%(prog)s [-h] [--pretrained NAME] [--top TOP] [--invert {auto,yes,no}] "
                              "[MODEL.npz] IMAGE [IMAGE ...]",
                        description="Each image is made MNIST-like: grayscale, inverted when the background is light, "
                                    "the digit scaled into a 20x20 box and centred by mass in 28x28. Without a model "
                                    "file, a shipped trained network classifies it (deepcnn unless --pretrained "
                                    "names another; `nnscratch models` lists them).")
    pr.add_argument("images", nargs="+", metavar="[MODEL.npz] IMAGE",
                    help="a model.npz written by `nnscratch train` (default: the shipped deepcnn), then image files")
    pr.add_argument("--pretrained", default=None, metavar="NAME", help="use a shipped network (`nnscratch models`)")
    pr.add_argument("--top", type=int, default=3, help="how many classes to show")
    pr.add_argument("--invert", choices=("auto", "yes", "no"), default="auto", help="invert the image (auto: when its border is light)")
    pr.set_defaults(func=cmd_predict)

    d = sub.add_parser("data", help="fetch and verify the datasets, show where they are", formatter_class=fmt)
    d.add_argument("--dataset", choices=("all", "mnist", "fashion-mnist"), default="mnist", help="which dataset")
    d.add_argument("--no-fetch", dest="fetch", action="store_false", help="only show the status, fetch nothing")
    d.set_defaults(func=cmd_data)

    from . import cli_export, cli_models  # noqa: PLC0415

    for command in (cli_models, cli_export):
        command.add_parser(sub, fmt)

    try:
        from .experiments.cli import add_subcommands  # noqa: PLC0415
    except ImportError:
        pass
    else:
        add_subcommands(sub, fmt)

    try:
        from .tune import add_tune_subcommand  # noqa: PLC0415
    except ImportError:
        pass
    else:
        add_tune_subcommand(sub, fmt)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, FileNotFoundError, ImportError) as exc:
        print(f"nnscratch {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
