# %% [markdown]
# # Chapter 3 — Neural networks (ニューラルネットワーク / 神经网络)
#
# From the perceptron's step to smooth activation functions (ch. 3.2), matrix products that run a whole
# layer at once (ch. 3.3-3.4), the output layer and softmax (ch. 3.5), and inference on MNIST with the
# trained network of ch. 3.6, one image at a time and in batches. Two asides the book names but does not
# build: preprocessing beyond ÷255 (ch. 3.6.2) and regression with the identity output (ch. 3.5).

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: full MNIST

# %%
%matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from nnscratch import functions as F
from nnscratch.datasets import load_mnist, load_mnist_sample
from nnscratch.plotting import show_image
from nnscratch.pretrained import load_pretrained, pretrained_info

# %% [markdown]
# ## 3.2 Activation functions (活性化関数 / 激活函数)
# The step function (ステップ関数 / 阶跃函数) jumps from 0 to 1; the sigmoid (シグモイド関数) `1 / (1 + exp(-x))`
# is its smooth version, and ReLU `max(0, x)` is 0 and then the identity. All three take whole arrays.

# %%
x = np.linspace(-5, 5, 401)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for ax, (name, h) in zip(axes, {"step (3.2.3)": F.step_function, "sigmoid (3.2.4)": F.sigmoid,
                                 "ReLU (3.2.7)": F.relu}.items()):
    ax.plot(x, h(x), lw=2)
    if name.startswith("sigmoid"):
        ax.plot(x, F.step_function(x), "k--", lw=1, label="step")
        ax.legend()
    ax.set(title=name, xlabel="x", ylabel="h(x)")
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## 3.3-3.4 Multi-dimensional arrays and a 3-layer network
# One layer is one matrix product (行列の積 / 矩阵乘积): `A = X·W + B`, then the activation. Shapes must
# chain: (2,) · (2, 3) → (3,), then (3,) · (3, 2) → (2,), then (2,) · (2, 2) → (2,). The weights here are
# random; the point is the flow of shapes, signal by signal.

# %%
rng = np.random.default_rng(0)
X = np.array([1.0, 0.5])
sizes = [2, 3, 2, 2]
z = X
for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
    W, b = rng.normal(0, 0.5, (n_in, n_out)), rng.normal(0, 0.1, n_out)
    a = z @ W + b
    z = F.sigmoid(a) if i < len(sizes) - 1 else F.identity_function(a)
    print(f"layer {i}: {z.shape} <- ({n_in},) @ W{W.shape} + b{b.shape};  output {np.round(z, 3)}")

# %% [markdown]
# ## 3.5 The output layer: identity and softmax (恒等関数・ソフトマックス関数 / 恒等函数・softmax函数)
# Classification ends in softmax `exp(a_k) / Σ exp(a_i)`: outputs between 0 and 1 that sum to 1.
# Computed naively it overflows for large scores; nnscratch subtracts the maximum first (ch. 3.5.2),
# which changes nothing mathematically.

# %%
a = np.array([1010.0, 1000.0, 990.0])
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.exp(a) / np.exp(a).sum()
print("naive:", naive, "| nnscratch softmax:", F.softmax(a), "| sum:", F.softmax(a).sum())
print("softmax keeps the order:", F.softmax(np.array([0.3, 2.9, 4.0])))

# %% [markdown]
# ### Regression: the identity output (回帰 / 回归, ch. 3.5)
# For a real-valued target the output layer is the identity and the loss the squared error (ch. 4.2.1).
# The same `Trainer` fits such a network, and then reports RMSE and R² instead of an accuracy.
# Here an MLP fits a noisy sin(x) (the experiment `nnscratch experiment regression` does the same).

# %%
from nnscratch.experiments.ch3_data import mlp_regressor, noisy_sin
from nnscratch.training import Trainer

rng = np.random.default_rng(0)
xr, tr = noisy_sin(400, 0.1, rng)
xr_test, tr_test = noisy_sin(200, 0.1, rng)
reg = mlp_regressor((1, 32, 32, 1), seed=0)
hist = Trainer(reg, xr, tr, xr_test, tr_test, epochs=60 if QUICK else 300, mini_batch_size=32, optimizer="adam",
               optimizer_param={"lr": 0.01}, verbose=False, seed=0).train()
print(f"held-out RMSE {hist.final_test_rmse:.3f} (noise 0.1), R² {hist.final_test_r2:.3f}; "
      f"accuracies recorded: {hist.test_acc}")
grid = np.linspace(-np.pi, np.pi, 200, dtype=np.float32)[:, None]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.scatter(xr, tr, s=5, c="grey", alpha=0.5, label="training data")
ax.plot(grid, np.sin(grid), "k--", label="sin(x)")
ax.plot(grid, reg.predict(grid), "C3", lw=2, label="network")
ax.legend()
ax.set(title="regression with the identity output", xlabel="x", ylabel="y")
plt.show()

# %% [markdown]
# ## 3.6 Handwritten digit recognition (手書き数字認識 / 手写数字识别)
# ### 3.6.1 The MNIST data set
# `load_mnist(normalize=True, flatten=True)` gives images as rows of 784 values in [0, 1] and labels
# 0-9, as in the book. The quick size uses the 5 000 / 1 000 image sample shipped with nnscratch.

# %%
load = load_mnist_sample if QUICK else load_mnist
(x_train, t_train), (x_test, t_test) = load(normalize=True, flatten=True)
print("train", x_train.shape, "test", x_test.shape, "labels", t_test[:10])
show_image(x_test[:10], labels=[int(t) for t in t_test[:10]], title="test digits");

# %% [markdown]
# ### 3.6.2 Inference with the trained network (推論処理 / 推理处理)
# The book ships the weights of a 784-50-100-10 sigmoid network (`sample_weight.pkl`); nnscratch ships the
# same architecture trained by `tools/make_pretrained.py`, loaded with `load_pretrained("ch3")`.

# %%
net = load_pretrained("ch3")
print(net.summary(input_shape=(784,)))
info = pretrained_info("ch3")
y = net.predict(x_test)
p = F.softmax(y)
acc = float((y.argmax(axis=1) == t_test).mean())
print(f"accuracy on {len(x_test)} test images: {acc:.4f}  (recorded on all 10 000: {info['test_acc']})")
print("probabilities for the first image:", np.round(p[0], 3), "→", int(p[0].argmax()))

# %% [markdown]
# ### Preprocessing (前処理 / 预处理, ch. 3.6.2)
# Dividing by 255 is *normalisation* (正規化). The book also names zero-centring, standardisation and
# *whitening* (白色化 / 白化). `nnscratch.preprocessing` fits each on the training images and applies the
# same statistics to test images; `Trainer(preprocess="standardize")` and
# `nnscratch train --preprocess whiten` store them inside the saved model.

# %%
from nnscratch.preprocessing import Standardize, Whiten

fit = x_train[:5000].astype(np.float64)
shown = x_test[:8].astype(np.float64)
rows = {"÷255": shown, "standardised": Standardize().fit(fit).transform(shown),
        "ZCA-whitened (ε = 0.1)": Whiten("zca", epsilon=0.1).fit(fit).transform(shown)}
fig, axes = plt.subplots(3, 8, figsize=(11, 4.4))
for r, (label, imgs) in enumerate(rows.items()):
    for c in range(8):
        axes[r, c].imshow(imgs[c].reshape(28, 28), cmap="gray" if r == 0 else "RdBu_r")
        axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=8)
fig.suptitle("test digits, preprocessed with statistics of 5 000 training images")
plt.show()

# %% [markdown]
# ### 3.6.3 Batch processing (バッチ処理 / 批处理)
# Feeding 100 images at once turns 100 vector-matrix products into one matrix product, which BLAS runs
# far faster than the Python loop over single images. Same answers, different speed:

# %%
def images_per_second(batch_size, n=1000):
    xs = x_test[:n]
    t0 = time.perf_counter()
    preds = [net.predict(xs[i:i + batch_size]).argmax(axis=1) for i in range(0, n, batch_size)]
    return n / (time.perf_counter() - t0), np.concatenate(preds)


speeds = {}
for bs in (1, 10, 100, 1000):
    speeds[bs], pred = images_per_second(bs)
    assert (pred == y[:1000].argmax(axis=1)).all()
for bs, s in speeds.items():
    print(f"batch {bs:>4}: {s:>9,.0f} images/s  ({s / speeds[1]:.0f}x batch 1)")
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar([str(b) for b in speeds], list(speeds.values()))
ax.set(xlabel="batch size", ylabel="images per second", yscale="log", title="batch inference speed (this machine)")
plt.show()
