"""`nnscratch train`: train a model of the zoo, save it with its history, figure and checkpoint."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import serialization
from ..augmentation import STRENGTH_LIMITS, Augmenter
from ..argtypes import (init_spec, int_list, nonnegative_float, nonnegative_int, positive_float, positive_int,
                        probability, thread_count, with_threads)
from ..callbacks import ProgressBar
from ..datasets import DATASET_REGISTRY, get_dataset, load_dataset, train_val_split
from ..kernels.threads import pinned_kernel_note
from ..layers import SoftmaxWithLoss
from ..models import MODEL_REGISTRY, get_model
from ..optimizers import OPTIMIZER_NAMES
from ..plotting import plot_history
from ..preprocessing import PREPROCESS_CHOICES
from ..training import Trainer
from ..validation import check_number
from .runs import (RunCheckpoint, check_model_options, given_options, interrupted_message, option_flag,
                   restore_options, run_options)

#: the command's learning rate per optimizer when --lr is not given (SGD: the book's 0.1 for MNIST)
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001,
              "adamw": 0.001}


def add_parser(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register ``nnscratch train``."""
    t = subparsers.add_parser("train", help="train a network and save it with its history and figure",
                              formatter_class=formatter_class,
                              description="Train a network of the book's zoo on MNIST-like data; writes model.npz, "
                                          "history.json, training.png and checkpoint.npz into --out.")
    t.add_argument("--model", choices=list(MODEL_REGISTRY), default="mlp",
                   help="; ".join(f"{m.name}: {m.description}" for m in MODEL_REGISTRY.values()))
    t.add_argument("--hidden", type=int_list, default=None, metavar="N,N,...",
                   help="hidden layer sizes (mlp default 512,256; twolayer default 50)")
    t.add_argument("--dataset", choices=list(DATASET_REGISTRY), default="mnist",
                   help="mnist-sample is the small sample shipped in the package")
    t.add_argument("--epochs", type=positive_int, default=10, help="shuffled passes over the training data")
    t.add_argument("--batch-size", type=positive_int, default=100, help="mini-batch size")
    t.add_argument("--optimizer", choices=OPTIMIZER_NAMES, default="adam", help="update rule (ch. 6.1)")
    t.add_argument("--lr", type=positive_float, default=None, help="learning rate (default per optimizer: sgd 0.1, adam 0.001, ...)")
    t.add_argument("--schedule", choices=("cosine", "step", "none"), default="cosine",
                   help="learning-rate schedule over the run: cosine decay to 0, step (x0.1 every third), or constant")
    t.add_argument("--weight-decay", type=nonnegative_float, default=0.0, help="L2 weight decay lambda (ch. 6.4.1), mlp only")
    t.add_argument("--dropout", type=probability, default=None, metavar="RATIO",
                   help="dropout ratio (ch. 6.4.3), mlp: after each hidden layer (default off); deepcnn: its two "
                        "Dropout layers (default the book's 0.5)")
    t.add_argument("--batchnorm", action="store_true", help="batch normalization after each hidden Affine (ch. 6.3), mlp only")
    t.add_argument("--activation", choices=("relu", "sigmoid", "tanh"), default="relu", help="hidden activation, mlp only")
    t.add_argument("--init", type=init_spec, default="auto",
                   help="weight init: a std like 0.01, 'xavier', 'he', or 'auto' (the model's book default)")
    t.add_argument("--seed", type=nonnegative_int, default=0, help="seed for initialisation, shuffling and dropout")
    t.add_argument("--train-size", type=positive_int, default=None, help="use only the first N training images")
    t.add_argument("--val-split", type=probability, default=0.0, help="hold out this fraction of training data for validation")
    t.add_argument("--eval-samples", type=nonnegative_int, default=10000,
                   help="per-epoch accuracies use the first N training/validation/test images (0 = all)")
    t.add_argument("--preprocess", choices=PREPROCESS_CHOICES, default="none",
                   help="fitted on the training images and saved in the model (ch. 3.6.2): normalize (min-max), "
                        "standardize (zero mean, unit variance per pixel), whiten (ZCA, epsilon 0.1)")
    t.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue from a checkpoint.npz written by an earlier run, with that run's options "
                        "(any option given here overrides the saved one)")
    t.add_argument("--out", default="runs/train", help="directory receiving model.npz, history.json, training.png")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--augment", action="store_true",
                   help="data augmentation (ch. 8.1.2): random shifts, rotations and rescaling (by default "
                        "2 px, 10 deg, 10 %%; the --augment-* options) and optionally elastic distortion "
                        "(--elastic-alpha) of every training batch, seeded by --seed")
    t.add_argument("--augment-shift", type=nonnegative_float, default=2.0, metavar="PX",
                   help="with --augment: largest shift along each axis, pixels")
    t.add_argument("--augment-rotation", type=nonnegative_float, default=10.0, metavar="DEG",
                   help="with --augment: largest rotation either way, degrees (at most 90)")
    t.add_argument("--augment-scale", type=nonnegative_float, default=0.1, metavar="FRAC",
                   help="with --augment: rescaling by a factor in [1 - FRAC, 1 + FRAC] (FRAC below 0.9)")
    t.add_argument("--elastic-alpha", type=nonnegative_float, default=0.0, metavar="PX",
                   help="with --augment: elastic distortion (Simard et al. 2003), a random displacement field "
                        "smoothed over --elastic-sigma pixels and scaled by PX (e.g. 34; 0 = off)")
    t.add_argument("--elastic-sigma", type=positive_float, default=4.0, metavar="PX",
                   help="with --augment and --elastic-alpha: smoothing of the displacement field, pixels")
    t.add_argument("--label-smoothing", type=probability, default=0.0, metavar="EPS",
                   help="train on smoothed targets (1 - EPS) one-hot + EPS / classes (beyond the book; as "
                        "torch's CrossEntropyLoss(label_smoothing=EPS)); 0 = the book's cross-entropy")
    t.add_argument("--clean-epochs", type=nonnegative_int, default=0, metavar="N",
                   help="with --augment: train the last N epochs on the undistorted images (0: augment every epoch)")
    t.add_argument("--threads", type=thread_count, default=None, metavar="N",
                   help="BLAS and kernel threads (threadpoolctl), e.g. 1 on a machine shared with other work "
                        "(default: OPENBLAS_NUM_THREADS or all cores)")
    t.add_argument("--workers", type=thread_count, default=1, metavar="N",
                   help="split each batch over N processes, one BLAS thread each (data parallelism; on 2 cores "
                        "DeepConvNet's step ran 1.3x faster than at 2 threads, see the README's Speed); the "
                        "result depends on N, and a resumed run's worker dropout masks restart. Not with --batchnorm")
    t.set_defaults(func=run, _parser=t)
    return t


#: the command's augmentation options -> Augmenter's arguments
AUGMENT_OPTIONS = {"augment_shift": "shift", "augment_rotation": "rotation", "augment_scale": "scale",
                   "elastic_alpha": "elastic_alpha", "elastic_sigma": "elastic_sigma"}


def make_augmenter(args: argparse.Namespace) -> Augmenter:
    """The Augmenter of --augment and its strength options; a bad value's error names the option."""
    strengths = {arg: check_number(option_flag(dest), getattr(args, dest), *STRENGTH_LIMITS[arg])
                 for dest, arg in AUGMENT_OPTIONS.items()}
    return Augmenter(**strengths, seed=args.seed + 1)


def optimizer_param(args: argparse.Namespace, n_train: int) -> dict[str, Any]:
    """The optimizer's keyword arguments: the learning rate and its schedule over the whole run."""
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    param: dict[str, Any] = {"lr": lr}
    steps = args.epochs * -(-n_train // args.batch_size)
    if args.schedule == "cosine":
        param["lr_schedule"] = {"name": "cosine", "lr": lr, "total_steps": steps}
    elif args.schedule == "step":
        param["lr_schedule"] = {"name": "step", "lr": lr, "step_size": max(steps // 3, 1), "gamma": 0.1}
    return param


@with_threads
def run(args: argparse.Namespace) -> int:
    """Train, then write model.npz, history.json and training.png (checkpoint.npz after every epoch)."""
    given = given_options(args._parser, getattr(args, "argv", []))
    if args.resume:
        print(restore_options(args, given))  # the checkpoint's options, except those given again
    check_model_options(args, given)
    if args.clean_epochs and not args.augment:
        raise ValueError("--clean-epochs N sets how many final epochs skip the augmentation; it needs --augment")
    if not args.augment and (given & set(AUGMENT_OPTIONS)):
        flags = ", ".join(option_flag(d) for d in AUGMENT_OPTIONS if d in given)
        raise ValueError(f"{flags} set how --augment distorts the images; give --augment too")
    augmenter = make_augmenter(args) if args.augment else None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is an existing file; --out names a directory (it receives model.npz, "
                         "history.json, training.png, checkpoint.npz)")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    (x_train, t_train), (x_test, t_test) = load_dataset(args.dataset)
    if args.train_size:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]
    print(f"data: {args.dataset}, {len(x_train)} training and {len(x_test)} test images "
          f"({time.perf_counter() - t0:.1f} s)")
    x_val = t_val = None
    if args.val_split > 0:
        (x_train, t_train), (x_val, t_val) = train_val_split(x_train, t_train, val_ratio=args.val_split, seed=args.seed)
    model = get_model(args.model).build(args)
    if args.label_smoothing:
        if not isinstance(model.last_layer, SoftmaxWithLoss):
            raise ValueError(f"--label-smoothing needs a softmax cross-entropy output; --model {args.model} ends in "
                             f"{type(model.last_layer).__name__}")
        model.last_layer = SoftmaxWithLoss(label_smoothing=args.label_smoothing)
    param = optimizer_param(args, len(x_train))
    checkpoint = RunCheckpoint(out / "checkpoint.npz", run_options(args))
    callbacks: list[Any] = [checkpoint]
    if not args.quiet:
        callbacks.append(ProgressBar())
    trainer = Trainer(
        model, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=args.batch_size,
        optimizer=args.optimizer, optimizer_param=param, verbose=not args.quiet,
        x_val=x_val, t_val=t_val, seed=args.seed, callbacks=callbacks,
        evaluate_sample_num_per_epoch=args.eval_samples or None, preprocess=args.preprocess,
        augment=augmenter,
        augment_epochs=max(args.epochs - args.clean_epochs, 0) if args.clean_epochs else None,  # needs --augment: checked above
        workers=args.workers,
    )
    print(f"model: {args.model} ({model.num_params():,} parameters), optimizer: {args.optimizer} lr={param['lr']} "
          f"({args.schedule} schedule), "
          + (f"label smoothing {args.label_smoothing}, " if args.label_smoothing else "") +
          f"{args.epochs} epochs of batch {args.batch_size}" + (f" over {args.workers} processes" if args.workers > 1 else ""))
    if not args.quiet and (note := pinned_kernel_note()):
        print(note, file=sys.stderr)
    try:
        history = trainer.train(resume_from=args.resume) if args.resume else trainer.train()
    except KeyboardInterrupt:
        print(interrupted_message(checkpoint, trainer, out), file=sys.stderr)
        return 130
    test_acc = model.accuracy(x_test, t_test)
    extra = {"dataset": args.dataset, "class_names": list(get_dataset(args.dataset).class_names),
             "test_acc": test_acc, "command": getattr(args, "argv", sys.argv[1:]),
             "preprocess": args.preprocess}
    model_path = serialization.save(model, out / "model.npz", extra=extra)
    history.save_json(out / "history.json")
    try:
        figure: Any = plot_history(history, out / "training.png", title=f"{args.model} on {args.dataset}")
    except ImportError as exc:  # a numpy-only install: the numbers above are the result
        figure = f"skipped ({exc})"
    epoch_times = history.to_dict().get("epoch_time", [])
    if epoch_times:
        print(f"time per epoch: {np.mean(epoch_times):.1f} s (total {sum(epoch_times):.1f} s)")
    print(f"test accuracy: {100 * test_acc:.2f} %")
    print(f"model: {model_path}\nhistory: {out / 'history.json'}\nfigure: {figure}")
    return 0
