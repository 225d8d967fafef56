# %% [markdown]
# # Chapter 4 — Learning from data (ニューラルネットワークの学習 / 神经网络的学习)
#
# A loss function (損失関数 / 损失函数) measures how wrong the network is (ch. 4.2); numerical
# differentiation (数値微分 / 数值微分) gives its slope (ch. 4.3); gradient descent (勾配法 / 梯度法) follows
# the slope downhill (ch. 4.4); and the two-layer network of ch. 4.5 learns MNIST this way, first with
# numerical gradients (correct but slow), then with the analytic gradient of chapter 5 (fast).

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: full MNIST, more iterations

# %%
%matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from nnscratch import backend
from nnscratch import functions as F
from nnscratch.datasets import load_mnist, load_mnist_sample
from nnscratch.gradient import (function_1, function_2, gradient_descent, numerical_diff, numerical_gradient,
                                relative_error, tangent_line)
from nnscratch.models.booknets import SigmoidTwoLayerNet, SimpleNet

# %% [markdown]
# ## 4.2 Loss functions
# ### 4.2.1-4.2.2 Mean squared error and cross-entropy (2乗和誤差・交差エントロピー誤差 / 均方误差・交叉熵误差)
# For the label "2" (one-hot t), a confident right answer y1 has a small loss and a confident wrong
# answer y2 a large one, under both losses.

# %%
t = F.one_hot(np.array([2]), 10)[0]
y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
for name, y in (("y1 (says 2)", y1), ("y2 (says 7)", y2)):
    print(f"{name}: MSE {F.mean_squared_error(y, t):.4f}, cross-entropy {F.cross_entropy_error(y, t):.4f}")

# %% [markdown]
# ### 4.2.3-4.2.4 Mini-batch learning (ミニバッチ学習 / mini-batch学习)
# The loss of a mini-batch is the mean over its samples; labels may be given as one-hot rows or as
# class numbers. Here: 10 random training images scored by an untrained network (loss ≈ ln 10 = 2.30).

# %%
load = load_mnist_sample if QUICK else load_mnist
(x_train, t_train), (x_test, t_test) = load(normalize=True, flatten=True)
rng = np.random.default_rng(0)
batch = rng.choice(len(x_train), 10, replace=False)
untrained = SigmoidTwoLayerNet(784, 50, 10, seed=0)
probs = F.softmax(untrained.predict(x_train[batch]))
print("labels as numbers:", F.cross_entropy_error(probs, t_train[batch]),
      "| as one-hot:", F.cross_entropy_error(probs, F.one_hot(t_train[batch], 10)), "| ln 10 =", np.log(10))

# %% [markdown]
# ## 4.3 Numerical differentiation
# ### 4.3.1 The rounding error of a tiny h (丸め誤差 / 舍入误差)
# `(f(x+h) - f(x)) / h` with h = 1e-50 is 0 in floating point; the central difference
# `(f(x+h) - f(x-h)) / 2h` with h = 1e-4 is the book's choice.

# %%
f = function_1  # 0.01 x^2 + 0.1 x, exact derivative 0.02 x + 0.1
h = 1e-50
print("forward difference with h = 1e-50:", (f(5.0 + h) - f(5.0)) / h, "(5.0 + 1e-50 == 5.0 in float64)")
print("central difference at 5:", numerical_diff(f, 5.0), "| exact 0.2;  at 10:", numerical_diff(f, 10.0), "| exact 0.3")

# %% [markdown]
# ### 4.3.2 The tangent line (接線 / 切线)
# `tangent_line(f, x)` is the straight line through (x, f(x)) with the numerical slope.

# %%
x = np.arange(0.0, 20.0, 0.1)
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(x, f(x), label="f(x) = 0.01x² + 0.1x")
for x0 in (5.0, 10.0):
    ax.plot(x, tangent_line(f, x0)(x), "--", label=f"tangent at x = {x0:g}")
ax.set(xlabel="x", ylabel="f(x)", title="numerical derivative as a tangent (ch. 4.3.2)")
ax.legend()
plt.show()

# %% [markdown]
# ### 4.3.3 Partial derivatives and 4.4 the gradient (偏微分・勾配 / 偏导数・梯度)
# `numerical_gradient(f, x)` gives all partial derivatives of `f(x0, x1) = x0² + x1²` at once; the
# arrows of minus the gradient point to the minimum at (0, 0), longer where the slope is steeper.

# %%
print("grad at (3, 4):", numerical_gradient(function_2, np.array([3.0, 4.0])),
      "| at (0, 2):", numerical_gradient(function_2, np.array([0.0, 2.0])))
g = np.arange(-2, 2.5, 0.25)
X0, X1 = np.meshgrid(g, g)
pts = np.stack([X0.ravel(), X1.ravel()], axis=1)
grads = np.array([numerical_gradient(function_2, p.copy()) for p in pts])
fig, ax = plt.subplots(figsize=(4.6, 4.6))
ax.quiver(pts[:, 0], pts[:, 1], -grads[:, 0], -grads[:, 1], angles="xy", color="#666")
ax.set(xlabel="x0", ylabel="x1", title="−∇f for f = x0² + x1²", aspect="equal")
plt.show()

# %% [markdown]
# ### 4.4.1 Gradient descent and the learning rate (学習率 / 学习率)
# `gradient_descent(f, init_x, lr, step_num)` returns the end point and the whole path: lr = 0.1 walks
# to the minimum, lr = 10 diverges, lr = 1e-10 barely moves.

# %%
fig, ax = plt.subplots(figsize=(5, 4.4))
for lr, style in ((0.1, "o-"), (10.0, "x:"), (1e-10, "s")):
    end, path = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=lr, step_num=20)
    print(f"lr = {lr:g}: ends at {np.round(end, 4)}")
    if lr <= 1:
        ax.plot(path[:, 0], path[:, 1], style, ms=4, label=f"lr = {lr:g}")
ax.set(xlim=(-3.5, 3.5), ylim=(-4.5, 4.5), xlabel="x0", ylabel="x1", title="gradient descent from (-3, 4)")
ax.legend()
plt.show()

# %% [markdown]
# ### 4.4.2 The gradient of a network (ニューラルネットワークに対する勾配)
# `SimpleNet` (a 2 × 3 weight, softmax, cross-entropy) has the numerical gradient ∂L/∂W of the book, and
# its analytic gradient agrees with it.

# %%
with backend.precision("float64"):
    simple = SimpleNet(seed=0)
xs, ts = np.array([0.6, 0.9]), np.array([0, 0, 1])
num, ana = simple.numerical_gradient(xs, ts)["W"], simple.gradient(xs, ts)["W"]
print("dL/dW (numerical):\n", np.round(num, 5), "\nrelative error to the analytic gradient:", relative_error(num, ana))

# %% [markdown]
# ## 4.5 The learning algorithm: a two-layer network (2層ニューラルネットワーク / 两层神经网络)
# `SigmoidTwoLayerNet` is the book's ch. 4.5 `TwoLayerNet` (its `params["W1"]`, `params["b1"]`, ... are the
# book's names). First its numerical gradient, in float64, against backprop on a small batch:

# %%
hidden = 5 if QUICK else 50
with backend.precision("float64"):
    net64 = SigmoidTwoLayerNet(784, hidden, 10, seed=0)
xb, tb = x_train[:3].astype(np.float64), t_train[:3]
t0 = time.perf_counter()
num = net64.numerical_gradient(xb, tb)
t_num = time.perf_counter() - t0
t0 = time.perf_counter()
ana = net64.gradient(xb, tb)
t_ana = time.perf_counter() - t0
for k in num:
    print(f"{k}: {tuple(num[k].shape)}, relative error {relative_error(num[k], ana[k]):.1e}")
print(f"numerical gradient {t_num:.2f} s, backprop {1000 * t_ana:.2f} ms: {t_num / t_ana:,.0f}x slower")

# %% [markdown]
# ### 4.5.2 Mini-batch training with numerical gradients
# A few SGD steps `W ← W − lr · ∂L/∂W` with the numerical gradient on one fixed mini-batch of 20 images:
# its loss falls, but each step costs two forward passes per parameter, which is why the book moves on
# to backpropagation. (The quick size uses 5 hidden units; the book's 50 make each step 10x slower.)

# %%
steps_num = 3 if QUICK else 10
with backend.precision("float64"):
    slow = SigmoidTwoLayerNet(784, hidden, 10, weight_init_std=0.1, seed=1)
xs_fixed, ts_fixed = x_train[:20].astype(np.float64), t_train[:20]
losses_num = [slow.loss(xs_fixed, ts_fixed)]
t0 = time.perf_counter()
for i in range(steps_num):
    grads = slow.numerical_gradient(xs_fixed, ts_fixed)
    for k in grads:
        slow.params[k] -= 1.0 * grads[k]
    losses_num.append(slow.loss(xs_fixed, ts_fixed))
per_step = (time.perf_counter() - t0) / steps_num
print(f"{steps_num} numerical steps, {per_step:.1f} s each; loss on the batch:", np.round(losses_num, 4))
print(f"the book's 10 000 iterations would take about {per_step * 10000 / 3600:.0f} hours at this size")

# %% [markdown]
# ### 4.5.3 The same training with the analytic gradient, evaluated on test data (テストデータで評価)
# With `gradient` (backprop) the book's 10 000 iterations are cheap. Each epoch the training and test
# accuracies are recorded: they rise together, so the network is not over-fitting (過学習 / 过拟合).

# %%
iters = 600 if QUICK else 10000
net = SigmoidTwoLayerNet(784, 50, 10, seed=0)
batch_size, lr = 100, 0.1
iter_per_epoch = max(len(x_train) // batch_size, 1)
loss_list, train_acc, test_acc = [], [], []
rng = np.random.default_rng(0)
t0 = time.perf_counter()
for i in range(iters):
    idx = rng.choice(len(x_train), batch_size)  # the book samples with replacement
    grads = net.gradient(x_train[idx], t_train[idx])
    for k in ("W1", "b1", "W2", "b2"):
        net.params[k] -= lr * grads[k]
    loss_list.append(net.last_loss)
    if i % iter_per_epoch == 0:
        train_acc.append(net.accuracy(x_train, t_train))
        test_acc.append(net.accuracy(x_test, t_test))
print(f"{iters} iterations in {time.perf_counter() - t0:.1f} s; final test accuracy {net.accuracy(x_test, t_test):.4f}")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.plot(loss_list, lw=0.5)
ax1.set(xlabel="iteration", ylabel="loss", title="training loss (mini-batches of 100)")
ax2.plot(train_acc, "o-", label="train")
ax2.plot(test_acc, "s--", label="test")
ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy per epoch")
ax2.legend()
plt.show()
