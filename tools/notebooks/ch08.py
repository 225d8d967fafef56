# %% [markdown]
# # Chapter 8 — Deep learning (ディープラーニング / 深度学习)
#
# A deeper network (ch. 8.1): DeepConvNet, six 3 × 3 convolution layers and two fully connected ones, with He
# initialisation, Adam and Dropout, reaching about 99.4 % on MNIST in the book. Here: its architecture, the digits it still gets wrong,
# half-precision inference (ch. 8.3.4), data augmentation (データ拡張 / 数据增强, ch. 8.1.2), and what depth buys
# (ch. 8.2.1). The trained network ships with nnscratch (`load_pretrained("deepcnn")`): training it takes hours.

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: the full 10 000 test images

# %%
%matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from nnscratch import functions as F
from nnscratch.datasets import load_mnist, load_mnist_sample
from nnscratch.pretrained import list_pretrained, load_pretrained

load = load_mnist_sample if QUICK else load_mnist
(x_train, t_train), (x_test, t_test) = load(normalize=True, flatten=False)
t_test = t_test.astype(np.int64)

# %% [markdown]
# ## 8.1 Going deeper: DeepConvNet
# conv - ReLU - conv - ReLU - pool, three times (16, 32, 64 channels), then Affine - ReLU - Dropout -
# Affine - Dropout - Softmax. Small 3 × 3 filters stacked deep see as far as one large filter with fewer
# parameters.

# %%
deep = load_pretrained("deepcnn")
print(deep.summary(input_shape=(1, 28, 28)))

# %% [markdown]
# ### 8.1.1 The digits it gets wrong (認識を間違えた画像 / 识别错误的图像)
# Scored on the test images: the mistakes are mostly digits a person would hesitate over.

# %%
def predict(model, x, batch_size=500):
    return np.concatenate([np.asarray(model.predict(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])


t0 = time.perf_counter()
scores = predict(deep, x_test)
elapsed = time.perf_counter() - t0
pred = scores.argmax(axis=1)
wrong = np.flatnonzero(pred != t_test)
print(f"accuracy {1 - len(wrong) / len(t_test):.4f} on {len(t_test)} test images ({elapsed:.1f} s); "
      f"{len(wrong)} misclassified")
probs = F.softmax(scores)
shown = wrong[:10]
fig, axes = plt.subplots(1, max(len(shown), 1), figsize=(1.5 * max(len(shown), 1) + 1, 2.2), squeeze=False)
for ax, i in zip(axes[0], shown):
    ax.imshow(x_test[i, 0], cmap="gray_r")
    ax.set_title(f"{t_test[i]} → {pred[i]}\n({probs[i, pred[i]]:.0%})", fontsize=9)
for ax in axes[0]:
    ax.axis("off")
fig.suptitle("misclassified: true → predicted (confidence)", fontsize=10)
plt.show()

# %% [markdown]
# ### 8.1.2 Data augmentation (Data Augmentation)
# More training images from the ones we have: small shifts, rotations and rescalings keep the label.
# `nnscratch.augmentation.Augmenter` draws one random affine transform per image and resamples the whole
# batch at once (bilinear, no loop over images); `Trainer(augment=...)` and `nnscratch train --augment`
# apply it to every training batch. Below: each digit shifted by up to 2 pixels, rotated by up to 15°,
# scaled by up to 10 %. The trained network should, and does, still recognise nearly all of them.

# %%
from nnscratch.augmentation import Augmenter

augment = Augmenter(shift=2, rotation=15, scale=0.1, seed=0)
originals = x_test[:8]
fig, axes = plt.subplots(4, 8, figsize=(9, 4.8))
for r in range(4):
    batch = originals if r == 0 else augment(originals)
    for c in range(8):
        axes[r, c].imshow(batch[c, 0], cmap="gray_r")
        axes[r, c].axis("off")
    axes[r, 0].set_title("original" if r == 0 else f"augmented #{r}", loc="left", fontsize=8)
plt.show()
n_aug = 500 if QUICK else 10000
x_aug = augment(x_test[:n_aug])
acc_aug = float((predict(deep, x_aug).argmax(axis=1) == t_test[:n_aug]).mean())
print(f"accuracy on {n_aug} augmented test digits: {acc_aug:.4f} (on the originals: {(pred[:n_aug] == t_test[:n_aug]).mean():.4f})")

# %% [markdown]
# ## 8.3.4 Half-precision inference (16 ビット / 半精度)
# Deep learning needs few digits. First the weights stored in 16 bits (`astype("float16")`, half the
# memory) and computed in float32, on every test image; then float16 arithmetic throughout on a few images
# (NumPy has no fast float16 matrix product, so that part is slow on a CPU, not wrong).

# %%
half = deep.astype("float16")
stored16 = half.astype("float32")
pred16w = predict(stored16, x_test).argmax(axis=1)
mb = lambda m: sum(p.nbytes for p in m.params.values()) / 1e6
print(f"float32 weights: accuracy {1 - len(wrong) / len(t_test):.4f}, {mb(deep):.2f} MB")
print(f"float16 weights: accuracy {(pred16w == t_test).mean():.4f}, {mb(half):.2f} MB; "
      f"same prediction on {(pred16w == pred).mean():.2%} of the images")
n16 = 10 if QUICK else 200
t0 = time.perf_counter()
scores16 = predict(half, x_test[:n16].astype(np.float16), batch_size=n16)
t16 = time.perf_counter() - t0
print(f"float16 arithmetic on {n16} images: same prediction on {(scores16.argmax(axis=1) == pred[:n16]).mean():.0%}, "
      f"largest probability change {np.abs(F.softmax(scores16.astype(np.float32)) - probs[:n16]).max():.1e} "
      f"({1000 * t16 / n16:.0f} ms per image)")

# %% [markdown]
# ## 8.2.1 What a deeper network buys
# The five networks shipped with nnscratch, from the ch. 3 sigmoid net to DeepConvNet, scored on the same
# test images: depth and convolution take the error from about 3 % to under 1 %, with fewer parameters
# than the wide MLP.

# %%
x_flat = x_test.reshape(len(x_test), -1)
rows = []
for info in list_pretrained():
    model = load_pretrained(info["name"])
    xs = x_flat if info["input_shape"] == [784] else x_test
    acc = float((predict(model, xs).argmax(axis=1) == t_test).mean())
    rows.append((info["name"], info["model_class"], info["num_params"], acc))
    print(f"{info['name']:>10} {info['model_class']:<14} {info['num_params']:>9,} params  accuracy {acc:.4f}")
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.bar([r[0] for r in rows], [100 * (1 - r[3]) for r in rows], color=["C0", "C0", "C0", "C1", "C3"])
for i, r in enumerate(rows):
    ax.text(i, 100 * (1 - r[3]), f"{r[2] / 1e3:.0f} k params", ha="center", va="bottom", fontsize=8)
ax.set(ylabel="test error (%)", title=f"error on {len(t_test)} test images")
plt.show()
