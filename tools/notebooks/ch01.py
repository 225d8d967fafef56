# %% [markdown]
# # Chapter 1 — Python in brief (Python入門 / Python入门)
#
# The book's first chapter introduces the two libraries everything else stands on: **NumPy** for arrays
# (ch. 1.5) and **Matplotlib** for figures (ch. 1.6). nnscratch is written in the same NumPy, so every
# array you meet later (weights, images, gradients) is an ordinary `numpy.ndarray`.
#
# Run it top to bottom. The parameter cell below chooses the size: `QUICK` (the default, under a minute)
# or the full size with `NNSCRATCH_QUICK=0` in the environment.

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: full size

# %%
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import nnscratch
from nnscratch import backend

print("nnscratch", nnscratch.__version__, "| array module:", backend.xp.__name__,
      "| default dtype:", backend.default_dtype())

# %% [markdown]
# ## 1.5 NumPy
# ### 1.5.2-1.5.3 Arrays and element-wise arithmetic (要素ごと / 逐元素)
# Arithmetic between arrays of the same shape works element by element; with a scalar, the scalar
# is applied to every element.

# %%
x = np.array([1.0, 2.0, 3.0])
y = np.array([2.0, 4.0, 6.0])
print("x + y =", x + y, "| x * y =", x * y, "| x / y =", x / y, "| x / 2 =", x / 2.0)

# %% [markdown]
# ### 1.5.4-1.5.5 N-dimensional arrays and broadcasting (ブロードキャスト / 广播)
# A matrix is a 2-D array (`shape` gives its size per axis, `dtype` the element type). Broadcasting
# stretches the smaller operand across the larger: a row vector is added to every row.

# %%
A = np.array([[1, 2], [3, 4]])
B = np.array([10, 20])
print("A.shape =", A.shape, "A.dtype =", A.dtype)
print("A * B (B broadcast over the rows):\n", A * B)

# %% [markdown]
# ### 1.5.6 Accessing elements
# Rows, flattening, and boolean masks (`X[X > 15]`): the last is how later chapters pick, e.g.,
# the misclassified images.

# %%
X = np.array([[51, 55], [14, 19], [0, 4]])
print("row 0:", X[0], "| element (0, 1):", X[0][1])
flat = X.flatten()
print("flattened:", flat, "| elements > 15:", flat[flat > 15])

# %% [markdown]
# ## 1.6 Matplotlib
# ### 1.6.1-1.6.2 Drawing a simple graph: sin and cos
# `np.arange` makes the x values, and `pyplot` draws the curves with labels, a legend and a title.

# %%
x = np.arange(0, 6, 0.1)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(x, np.sin(x), label="sin")
ax.plot(x, np.cos(x), linestyle="--", label="cos")
ax.set(xlabel="x", ylabel="y", title="sin & cos")
ax.legend()
plt.show()

# %% [markdown]
# ### 1.6.3 Showing an image (画像の表示 / 显示图像)
# The book shows a photograph with `imshow`; here the pictures are the handwritten digits used from
# chapter 3 on, drawn by `nnscratch.plotting.show_image` (the book's `img_show`). The digits come from
# the small MNIST sample shipped inside nnscratch (no download); at full size, from the whole of MNIST.

# %%
from nnscratch.datasets import load_mnist, load_mnist_sample
from nnscratch.plotting import show_image

load = load_mnist_sample if QUICK else load_mnist
(x_train, t_train), _ = load(normalize=False, flatten=True)
print("training images:", x_train.shape, x_train.dtype, "| pixel range", x_train.min(), "-", x_train.max())
show_image(x_train[:10], labels=[int(t) for t in t_train[:10]], title="the first ten training digits");

# %% [markdown]
# One image is just a 28 × 28 array of brightness values (0 = black, 255 = white): `imshow` maps
# numbers to grey levels, and a colour map makes the values visible.

# %%
img = x_train[0].reshape(28, 28)
fig, ax = plt.subplots(figsize=(4, 4))
im = ax.imshow(img, cmap="viridis")
fig.colorbar(im, ax=ax, label="pixel value")
ax.set_title(f"digit {t_train[0]} as numbers")
plt.show()
