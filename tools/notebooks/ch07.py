# %% [markdown]
# # Chapter 7 — Convolutional neural networks (畳み込みニューラルネットワーク / 卷积神经网络)
#
# A convolution layer (畳み込み層 / 卷积层) slides filters over the image and keeps its shape (ch. 7.2);
# pooling (プーリング / 池化) shrinks it (ch. 7.3); `im2col` turns both into one matrix product (ch. 7.4);
# SimpleConvNet puts them together (ch. 7.5); and its first-layer filters turn out to detect edges (ch. 7.6).
# The trained network comes with nnscratch (`load_pretrained("simplecnn")`), so nothing long trains here.

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: full MNIST test set

# %%
%matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from nnscratch import backend
from nnscratch.datasets import load_mnist, load_mnist_sample
from nnscratch.gradient import gradient_check
from nnscratch.layers import Convolution, MaxPooling, im2col
from nnscratch.layers.im2col import output_hw
from nnscratch.models import SimpleConvNet
from nnscratch.pretrained import load_pretrained, pretrained_info

load = load_mnist_sample if QUICK else load_mnist
(x_train, t_train), (x_test, t_test) = load(normalize=True, flatten=False)
print("images as (N, C, H, W):", x_test.shape)

# %% [markdown]
# ## 7.2 The convolution layer
# ### 7.2.2 The convolution operation (畳み込み演算 / 卷积运算)
# The book's 4 × 4 input and 3 × 3 filter: each output is the sum of the element-wise product of the filter
# with one window (a fused multiply-add). By hand with two loops, and by the `Convolution` layer:

# %%
x = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], dtype=np.float64)
w = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], dtype=np.float64)
by_hand = np.array([[np.sum(x[i:i + 3, j:j + 3] * w) for j in range(2)] for i in range(2)])
conv = Convolution(W=w[None, None], b=np.zeros(1))
print("by hand:\n", by_hand, "\nConvolution layer:\n", conv.forward(x[None, None])[0, 0])

# %% [markdown]
# ### 7.2.3-7.2.4 Padding and stride (パディング・ストライド / 填充・步幅)
# Output size `OH = (H + 2P − FH) / S + 1`. Padding 1 keeps a 4 × 4 input 4 × 4 under a 3 × 3 filter;
# stride 2 roughly halves it.

# %%
for pad, stride in ((0, 1), (1, 1), (1, 2), (0, 2)):
    print(f"pad {pad}, stride {stride}: (4, 4) -> {output_hw((1, 1, 4, 4), 3, 3, stride, pad)}; "
          f"(28, 28) with 5x5 -> {output_hw((1, 1, 28, 28), 5, 5, stride, pad)}")
conv_p = Convolution(W=w[None, None], b=np.zeros(1), pad=1)
print("padded output:\n", conv_p.forward(x[None, None])[0, 0])

# %% [markdown]
# ### 7.2.5-7.2.7 Three-dimensional data and batches
# Input (N, C, H, W), filters (FN, C, FH, FW), output (N, FN, OH, OW): each filter sums over all channels.

# %%
rng = np.random.default_rng(0)
x3 = rng.normal(size=(10, 3, 7, 7))
conv3 = Convolution(W=rng.normal(size=(4, 3, 5, 5)), b=np.zeros(4))
print("input", x3.shape, "filters", conv3.W.shape, "-> output", conv3.forward(x3).shape)

# %% [markdown]
# ## 7.3 Pooling
# Max pooling (Max プーリング) with a 2 × 2 window and stride 2 keeps the largest value of each window: no
# parameters, robust to small shifts.

# %%
xp = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], dtype=np.float64)
pool = MaxPooling(2, 2, stride=2)
print("input:\n", xp, "\nmax pooling:\n", pool.forward(xp[None, None])[0, 0])

# %% [markdown]
# ## 7.4 Implementing convolution and pooling: im2col
# `im2col` unrolls every filter window into one row, so the convolution becomes one matrix product with the
# filters as columns (the book's shapes: (1, 3, 7, 7) with 5 × 5 → (9, 75); a batch of 10 → (90, 75)).

# %%
print("im2col of (1, 3, 7, 7), 5x5:", im2col(rng.normal(size=(1, 3, 7, 7)), 5, 5).shape)
print("im2col of (10, 3, 7, 7), 5x5:", im2col(x3, 5, 5).shape)
cols = im2col(x3, 5, 5)
out = (cols @ conv3.W.reshape(4, -1).T).reshape(10, 3, 3, 4).transpose(0, 3, 1, 2)
print("im2col · W equals the layer's output:", np.allclose(out, conv3.forward(x3)))

# %% [markdown]
# ## 7.5 Implementing a CNN: SimpleConvNet
# Convolution (30 filters 5 × 5) - ReLU - Pooling - Affine - ReLU - Affine - Softmax. Its backprop gradient,
# checked in float64 on a small version (3 filters, 10 × 10 inputs), agrees with the numerical one:

# %%
with backend.precision("float64"):
    small = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 3, "filter_size": 3},
                          hidden_size=10, weight_init_std=0.1, seed=0)
xs = rng.random((2, 1, 10, 10))
errs = gradient_check(small, xs, np.array([1, 7]))
print({k: f"{v:.1e}" for k, v in errs.items()})

# %% [markdown]
# The trained SimpleConvNet shipped with nnscratch (the book's `train_convnet.py` reaches about 98.9 %):

# %%
net = load_pretrained("simplecnn")
print(net.summary(input_shape=(1, 28, 28)))
t0 = time.perf_counter()
acc = net.accuracy(x_test, t_test, batch_size=500)
print(f"test accuracy {acc:.4f} on {len(x_test)} images ({time.perf_counter() - t0:.1f} s); "
      f"recorded on all 10 000: {pretrained_info('simplecnn')['test_acc']}")

# %% [markdown]
# ## 7.6 Visualising the CNN (CNN の可視化 / CNN的可视化)
# ### 7.6.1 First-layer filters before and after training
# The shipped network started from `SimpleConvNet(seed=0)`, so we can rebuild its filters before training
# and set them beside the trained ones. Training changes them by a smooth, structured amount (bottom row:
# after − before): oriented edges and blobs (エッジ・ブロブ), what the first layer of a CNN looks for. The
# neighbour correlation (how alike adjacent weights are: 0 for noise) measures it; shown are the ten
# filters it grew most in.

# %%
from nnscratch.experiments.ch7_8 import neighbour_correlation

W_trained = np.asarray(net.layers["conv1"].W, dtype=np.float64)
W_init = np.asarray(SimpleConvNet(seed=0).layers["conv1"].W, dtype=np.float64)
delta = W_trained - W_init
c_init, c_trained, c_delta = (neighbour_correlation(W) for W in (W_init, W_trained, delta))
print(f"mean neighbour correlation: before {c_init.mean():.2f}, after {c_trained.mean():.2f}, "
      f"of the change {c_delta.mean():.2f}")
top = np.argsort(c_trained - c_init)[::-1][:10]
fig, axes = plt.subplots(3, 10, figsize=(11, 3.8))
for r, (label, W) in enumerate((("before", W_init), ("after", W_trained), ("after − before", delta))):
    for c, f in enumerate(top):
        axes[r, c].imshow(W[f, 0], cmap="gray_r", interpolation="nearest")
        axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        if r == 0:
            axes[r, c].set_title(f"filter {f}", fontsize=8)
    axes[r, 0].set_ylabel(label, fontsize=9)
plt.show()

# %% [markdown]
# ### Applying two trained filters to a digit
# Each response map (the filter's convolution with the digit) is strongest where the digit has strokes
# matching the filter's pattern.

# %%
pick = top[:2]
digit = x_test[:1]
maps = Convolution(W=W_trained[pick], b=np.zeros(2), pad=2).forward(digit.astype(np.float64))[0]
fig, axes = plt.subplots(1, 5, figsize=(12, 2.8))
axes[0].imshow(digit[0, 0], cmap="gray")
axes[0].set_title(f"digit {t_test[0]}")
for j, f in enumerate(pick):
    axes[1 + 2 * j].imshow(W_trained[f, 0], cmap="gray_r")
    axes[1 + 2 * j].set_title(f"filter {f}")
    axes[2 + 2 * j].imshow(maps[j], cmap="RdBu_r")
    axes[2 + 2 * j].set_title(f"response of filter {f}")
for ax in axes:
    ax.axis("off")
plt.show()
