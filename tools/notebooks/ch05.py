# %% [markdown]
# # Chapter 5 — Backpropagation (誤差逆伝播法 / 误差反向传播法)
#
# A computational graph (計算グラフ / 计算图) makes the chain rule (連鎖律 / 链式法则) visible: each node passes
# the upstream gradient back multiplied by its local derivative (ch. 5.1-5.3). Nodes become layers with
# `forward` and `backward` (ch. 5.4-5.6); stacked, they give the gradient of the whole network in one
# backward pass, which we check against the numerical gradient of chapter 4 and then train with (ch. 5.7).

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: full MNIST, 10 000 iterations

# %%
%matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from nnscratch import backend
from nnscratch.datasets import load_mnist, load_mnist_sample
from nnscratch.gradient import gradient_check, layer_gradient_check
from nnscratch.layers import Affine, AddLayer, MulLayer, Relu, Sigmoid, SoftmaxWithLoss
from nnscratch.models import TwoLayerNet
from nnscratch.training import Trainer

# %% [markdown]
# ## 5.4 Simple layers: buying apples (リンゴの買い物 / 购买苹果)
# 2 apples at 100 yen each, with 10 % tax. `MulLayer` multiplies forward and swaps its inputs
# backward: the price sensitivity to the apple price is 2.2, to the count 110, to the tax 200.

# %%
apple, n_apple, tax = 100, 2, 1.1
mul_apple, mul_tax = MulLayer(), MulLayer()
price = mul_tax.forward(mul_apple.forward(apple, n_apple), tax)
d_apple_price, d_tax = mul_tax.backward(1)
d_apple, d_n_apple = mul_apple.backward(d_apple_price)
print(f"price {price:.0f} | d/d apple {d_apple:.1f}, d/d count {d_n_apple:.0f}, d/d tax {d_tax:.0f}")

# %% [markdown]
# ### Apples and oranges (リンゴとみかん / 苹果和橘子)
# Two multiplications, an `AddLayer` (which passes the gradient through unchanged to both inputs) and the
# tax. The backward pass visits the nodes in reverse order.

# %%
orange, n_orange = 150, 3
mul_a, mul_o, add, mul_t = MulLayer(), MulLayer(), AddLayer(), MulLayer()
total = mul_t.forward(add.forward(mul_a.forward(apple, n_apple), mul_o.forward(orange, n_orange)), tax)
d_sum, d_tax = mul_t.backward(1)
d_apples, d_oranges = add.backward(d_sum)
(d_apple, d_n_apple), (d_orange, d_n_orange) = mul_a.backward(d_apples), mul_o.backward(d_oranges)
print(f"price {total:.0f}")
print(f"d/d apple {d_apple:.1f}, d/d apples bought {d_n_apple:.0f}, d/d orange {d_orange:.1f}, "
      f"d/d oranges bought {d_n_orange:.0f}, d/d tax {d_tax:.0f}")

# %% [markdown]
# ## 5.5-5.6 Activation, Affine and Softmax-with-Loss layers
# ReLU passes the gradient where its input was positive and blocks it elsewhere; Sigmoid multiplies by
# `y(1 − y)`; Affine's backward is `dX = dY·Wᵀ`, `dW = Xᵀ·dY`; SoftmaxWithLoss's is simply `(y − t) / N`.
# Each layer's backward is checked against central differences in float64 (`layer_gradient_check`).

# %%
rng = np.random.default_rng(0)
x = rng.normal(size=(4, 5))
relu = Relu()
print("ReLU forward:", relu.forward(x[:1]).round(2), "\n     backward of ones:", relu.backward(np.ones((1, 5))))
layers = {"Relu": Relu(), "Sigmoid": Sigmoid(),
          "Affine": Affine(W=rng.normal(size=(5, 3)), b=rng.normal(size=3))}
for name, layer in layers.items():
    print(f"{name}: relative errors {layer_gradient_check(layer, x.copy())}")
loss = SoftmaxWithLoss()
print("SoftmaxWithLoss:", layer_gradient_check(loss, x.copy(), np.array([0, 1, 2, 3])))

# %% [markdown]
# ## 5.7 Backpropagation in a whole network
# ### 5.7.3 Gradient check (勾配確認 / 梯度确认)
# `TwoLayerNet` (Affine - ReLU - Affine - SoftmaxWithLoss) in float64: the backprop gradient of every
# parameter against the numerical one, on three images (the quick size checks 5 hidden units, the
# full size the book's 50).

# %%
load = load_mnist_sample if QUICK else load_mnist
(x_train, t_train), (x_test, t_test) = load(normalize=True, flatten=True)
with backend.precision("float64"):
    net64 = TwoLayerNet(784, 5 if QUICK else 50, 10, weight_init_std=0.1, seed=0)
t0 = time.perf_counter()
errors = gradient_check(net64, x_train[:3].astype(np.float64), t_train[:3])
for k, e in errors.items():
    print(f"{k}: relative error {e:.2e}")
print(f"({time.perf_counter() - t0:.1f} s, nearly all of it the numerical side)")

# %% [markdown]
# ### 5.7.4 Training with backpropagation
# The book's `train_neuralnet.py` loop is `Trainer` here: shuffled mini-batches of 100, SGD with lr 0.1,
# train and test accuracy after each epoch.

# %%
net = TwoLayerNet(784, 50, 10, seed=0)
epochs = 5 if QUICK else 17
trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=100,
                  optimizer="sgd", optimizer_param={"lr": 0.1}, verbose=True, progress=False, seed=0)
history = trainer.train()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.plot(history.loss, lw=0.5)
ax1.set(xlabel="iteration", ylabel="loss", title="training loss")
ax2.plot(range(1, epochs + 1), history.train_acc, "o-", label="train")
ax2.plot(range(1, epochs + 1), history.test_acc, "s--", label="test")
ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy per epoch")
ax2.legend()
plt.show()
