"""Ch. 8.1.2 experiment: data augmentation on a small training set.

The book's fig. 8-4 widens MNIST by rotating and shifting its digits. Here a SimpleConvNet is
trained on only 1 000 training images twice, with the same seed, once on the images as they are
and once with every mini-batch freshly distorted (:class:`nnscratch.augmentation.Augmenter`:
shifts of up to 2 px, rotations up to 10 degrees, rescaling by up to 10 %), and the test accuracy
after each epoch is compared. Without augmentation the network learns its 1 000 images by heart
(training accuracy 100 %) and stops improving on the test set; with it, it keeps learning.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..augmentation import Augmenter
from ..models import SimpleConvNet
from ..plotting import pyplot
from ..training import Trainer
from .base import Context, experiment
from .common import dataset_name, load_data

TRAIN_IMAGES = 1000
LR = 0.002


def _train(x: Any, t: Any, x_test: Any, t_test: Any, epochs: int, seed: int, augment: Any) -> Any:
    model = SimpleConvNet(weight_init_std="he", seed=seed)
    trainer = Trainer(model, x, t, x_test, t_test, epochs=epochs, mini_batch_size=100, optimizer="adam",
                      optimizer_param={"lr": LR}, verbose=False, progress=False, seed=seed + 1, augment=augment)
    return trainer.train()


@experiment(
    "augmentation", "8.1.2", "Data augmentation on 1 000 training images",
    "Trained on only 1 000 digits, SimpleConvNet memorises them and its test accuracy stalls; "
    "randomly shifting, rotating and rescaling every batch (ch. 8.1.2) keeps it learning and lifts "
    "the test accuracy by a few points.",
)
def augmentation(ctx: Context) -> tuple[dict[str, Any], Any]:
    """SimpleConvNet (He init, Adam lr 0.002, batch 100) on the first 1 000 training images, with and without
    augmentation; test accuracy per epoch (quick: 30 epochs, 1 000 test images of the shipped sample;
    full: 50 epochs, the 10 000 MNIST test images; ``ctx.options['epochs']`` overrides)."""
    (x_train, t_train), (x_test, t_test) = load_data(ctx, flatten=False)
    x, t = x_train[:TRAIN_IMAGES], t_train[:TRAIN_IMAGES]
    epochs = int(ctx.options.get("epochs") or (30 if ctx.quick else 50))
    seed = int(ctx.rng.integers(2**31))
    augmenter = Augmenter(shift=2.0, rotation=10.0, scale=0.1, seed=seed + 2)
    plain = _train(x, t, x_test, t_test, epochs, seed, None)
    augmented = _train(x, t, x_test, t_test, epochs, seed, augmenter)
    examples = Augmenter(**augmenter.get_config(), seed=seed + 3)(np.repeat(x[:4], 4, axis=0))
    numbers = {
        "test_acc": {"plain": plain.test_acc, "augmented": augmented.test_acc},
        "train_acc": {"plain": plain.train_acc, "augmented": augmented.train_acc},
        "final_test_acc": {"plain": plain.final_test_acc, "augmented": augmented.final_test_acc},
        "gain_points": 100 * (augmented.final_test_acc - plain.final_test_acc),
        "settings": {"model": "SimpleConvNet", "train_images": len(x), "test_images": len(x_test), "epochs": epochs,
                     "optimizer": "adam", "lr": LR, "batch_size": 100, "augmenter": augmenter.get_config(),
                     "dataset": dataset_name(ctx)},
    }
    plt = pyplot()
    fig = plt.figure(figsize=(11, 4.2))
    ax = fig.add_axes((0.06, 0.13, 0.5, 0.78))
    ep = np.arange(1, epochs + 1)
    for key, style in (("plain", "-"), ("augmented", "-")):
        h = plain if key == "plain" else augmented
        ax.plot(ep, np.array(h.test_acc) * 100, style, label=f"{key}: test")
        ax.plot(ep, np.array(h.train_acc) * 100, ":", label=f"{key}: train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(80, 100.5)
    ax.set_title(f"SimpleConvNet on {len(x)} training images")
    ax.legend(loc="lower right")
    for i in range(16):  # 4 digits x 4 random distortions
        sub = fig.add_axes((0.62 + 0.09 * (i % 4), 0.72 - 0.2 * (i // 4), 0.085, 0.18))
        sub.imshow(np.asarray(examples[i, 0]), cmap="gray_r", vmin=0, vmax=1)
        sub.set_axis_off()
    fig.text(0.62, 0.93, "four digits, four random distortions each")
    return numbers, fig
