# %% [markdown]
# # Chapter 6 — Training techniques (学習に関するテクニック / 与学习相关的技巧)
#
# How to update the weights (optimizers, ch. 6.1), where to start them (initialisation, ch. 6.2), keeping
# activations well spread (Batch Normalization, ch. 6.3), fighting over-fitting (weight decay and Dropout,
# ch. 6.4) and choosing hyper-parameters on validation data (ch. 6.5). Every network trains through
# `nnscratch.step.train_step(model, optimizer, x, t)`, the one place where a gradient becomes an update.

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: full MNIST, the book's run lengths

# %%
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

from nnscratch import functions as F
from nnscratch.datasets import load_mnist, load_mnist_sample, smooth_curve, train_val_split
from nnscratch.initializers import init_weight
from nnscratch.models import MultiLayerNet
from nnscratch.optimizers import get_optimizer
from nnscratch.step import train_step

load = load_mnist_sample if QUICK else load_mnist
(x_train, t_train), (x_test, t_test) = load(normalize=True, flatten=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 6.1 Updating parameters (パラメータの更新 / 参数的更新)
# ### 6.1.2-6.1.7 SGD, Momentum, AdaGrad, Adam (and Nesterov, RMSprop) on f(x, y) = x²/20 + y²
# Each optimizer's `update(params, grads)` changes the arrays in place. SGD zig-zags across the narrow
# valley; Momentum rolls like a ball (慣性 / 惯性); AdaGrad shrinks the step of the steep y direction;
# Adam combines the two. The learning rates are the book's.

# %%
def f(x, y):
    return x ** 2 / 20.0 + y ** 2


settings = {"SGD": ("sgd", 0.95), "Momentum": ("momentum", 0.1), "Nesterov": ("nesterov", 0.1),
            "AdaGrad": ("adagrad", 1.5), "RMSprop": ("rmsprop", 0.1), "Adam": ("adam", 0.3)}
X, Y = np.meshgrid(np.linspace(-10, 10, 200), np.linspace(-5, 5, 200))
fig, axes = plt.subplots(2, 3, figsize=(13, 6.4))
for ax, (label, (name, lr)) in zip(axes.flat, settings.items()):
    opt = get_optimizer(name, lr=lr)
    params = {"x": np.array(-7.0), "y": np.array(2.0)}
    path = [(-7.0, 2.0)]
    for _ in range(30):
        grads = {"x": params["x"] / 10.0, "y": 2.0 * params["y"]}
        opt.update(params, grads)
        path.append((float(params["x"]), float(params["y"])))
    path = np.array(path)
    ax.contour(X, Y, f(X, Y), levels=np.geomspace(0.05, 10, 10), colors="#bbb", linewidths=0.7)
    ax.plot(path[:, 0], path[:, 1], "o-", color="C3", ms=3)
    ax.plot(0, 0, "k+", ms=12)
    ax.set(title=f"{label} (lr {lr}): f = {f(*path[-1]):.2e}", xlim=(-10, 10), ylim=(-5, 5))
fig.suptitle("30 updates from (-7, 2)")
plt.show()

# %% [markdown]
# ### 6.1.8 The optimizers on MNIST
# A 5-layer ReLU network (4 × 100 hidden units), the same initial weights and the same mini-batches for
# each optimizer; the book's smoothed loss curves.

# %%
steps = 150 if QUICK else 2000
batches = [rng.choice(len(x_train), 128) for _ in range(steps)]
curves = {}
for label, lr in (("SGD", 0.01), ("Momentum", 0.01), ("AdaGrad", 0.01), ("Adam", 0.001)):
    net, opt = MultiLayerNet(784, [100] * 4, 10, seed=0), get_optimizer(label.lower(), lr=lr)
    curves[label] = [train_step(net, opt, x_train[i], t_train[i]) for i in batches]
fig, ax = plt.subplots(figsize=(7, 3.8))
for label, losses in curves.items():
    ax.plot(smooth_curve(losses), label=f"{label}: last {np.mean(losses[-20:]):.3f}")
ax.set(xlabel="iteration", ylabel="loss (smoothed)", title="optimizers on MNIST (ch. 6.1.8)", ylim=(0, 2.5))
ax.legend()
plt.show()

# %% [markdown]
# ## 6.2 Initial weights (重みの初期値 / 权重的初始值)
# ### 6.2.2 Activation distributions in the hidden layers
# 1 000 random inputs through 5 layers of 100 sigmoid units: with std 1 the activations pile up at 0 and 1
# (vanishing gradients, 勾配消失 / 梯度消失); with std 0.01 they all sit near 0.5 (no expressiveness);
# Xavier's std 1/√n keeps them spread. (For ReLU the matching scale is He's √(2/n): `init_weight(shape, "he")`.)

# %%
x0 = rng.normal(size=(1000, 100))
cases = [("sigmoid, std 1", F.sigmoid, 1.0), ("sigmoid, std 0.01", F.sigmoid, 0.01),
         ("sigmoid, Xavier", F.sigmoid, "xavier")]
fig, axes = plt.subplots(len(cases), 5, figsize=(13, 6), sharey="row")
for r, (label, h, spec) in enumerate(cases):
    z = x0
    for c in range(5):
        z = h(z @ init_weight((100, 100), spec, rng=np.random.default_rng(c), dtype="float64"))
        counts, edges = np.histogram(z, bins=30, range=(0, 1))
        axes[r, c].stairs(counts, edges, fill=True)
        axes[r, c].set_title(f"{c + 1}-layer", fontsize=9)
    axes[r, 0].set_ylabel(label)
fig.suptitle("activations per layer for each initialisation (ch. 6.2.2)")
plt.show()

# %% [markdown]
# ## 6.3 Batch Normalization
# Each mini-batch is normalised to mean 0, variance 1 per unit before the activation, then scaled by γ and
# shifted by β (learned). Trained on 1 000 images with a badly chosen init scale, the network with batch
# norm learns much faster (ch. 6.3.2).

# %%
n_bn = 1000
epochs_bn = 10 if QUICK else 20
xb, tb = x_train[:n_bn], t_train[:n_bn]
bn_acc = {}
for use_bn in (True, False):
    net = MultiLayerNet(784, [100] * 5, 10, weight_init_std=0.05, use_batchnorm=use_bn, seed=0)
    opt, accs = get_optimizer("sgd", lr=0.01), []
    for epoch in range(epochs_bn):
        for i in np.array_split(rng.permutation(n_bn), n_bn // 100):
            train_step(net, opt, xb[i], tb[i])
        accs.append(net.accuracy(xb, tb))
    bn_acc["with batch norm" if use_bn else "without"] = accs
fig, ax = plt.subplots(figsize=(6, 3.6))
for label, accs in bn_acc.items():
    ax.plot(range(1, epochs_bn + 1), accs, "o-" if "with" in label else "s--", label=label)
ax.set(xlabel="epoch", ylabel="training accuracy", title="weight init std 0.05, SGD lr 0.01")
ax.legend()
plt.show()

# %% [markdown]
# ## 6.4 Regularisation (正則化 / 正则化)
# ### 6.4.1-6.4.3 Over-fitting, weight decay (Weight decay / 权值衰减) and Dropout
# The book provokes over-fitting (過学習) with only 300 training images and a 7-layer network: training
# accuracy reaches 100 % while test accuracy stalls. Weight decay (λ = 0.1, the loss gains ½λΣW²) and
# Dropout (ratio 0.2, units dropped at random in training) narrow the gap.

# %%
n_small = 300
epochs_of = 45 if QUICK else 201
xs, ts = x_train[:n_small], t_train[:n_small]
xt, tt = x_test[:1000], t_test[:1000]
variants = {"plain": {}, "weight decay λ=0.1": {"weight_decay_lambda": 0.1},
            "dropout 0.2": {"use_dropout": True, "dropout_ratio": 0.2}}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
for ax, (label, kw) in zip(axes, variants.items()):
    net = MultiLayerNet(784, [100] * 6, 10, seed=0, **kw)
    opt, tr_acc, te_acc = get_optimizer("sgd", lr=0.01), [], []
    for epoch in range(epochs_of):
        for i in np.array_split(rng.permutation(n_small), 3):
            train_step(net, opt, xs[i], ts[i])
        if epoch % 5 == 0:
            tr_acc.append(net.accuracy(xs, ts))
            te_acc.append(net.accuracy(xt, tt))
    ep = np.arange(0, epochs_of, 5)
    ax.plot(ep, tr_acc, label="train")
    ax.plot(ep, te_acc, "--", label="test")
    ax.set(title=f"{label}: gap {tr_acc[-1] - te_acc[-1]:.2f}", xlabel="epoch")
    ax.legend()
axes[0].set_ylabel("accuracy")
plt.show()

# %% [markdown]
# ## 6.5 Hyper-parameters (ハイパーパラメータ / 超参数)
# ### 6.5.1-6.5.3 Validation data and random search
# Hyper-parameters are chosen on validation data (検証データ / 验证数据) split off the training data, never
# on the test data. `nnscratch.tuning.random_search` draws the learning rate from 10^U(-6, -2) and the weight
# decay from 10^U(-8, -4) (the book's ranges) and trains each draw; the good region is large learning
# rates with little decay. (The quick size trains each draw for only a few dozen steps, so it searches
# learning rates 10^U(-3, 0) instead, where such short runs can learn.)

# %%
from nnscratch.tuning import model_builder, random_search

(xtr, ttr), (xval, tval) = train_val_split(x_train[:500 if QUICK else 5000], t_train[:500 if QUICK else 5000],
                                           val_ratio=0.2, seed=0)
space = {"lr": (-3.0, 0.0), "weight_decay": (-8.0, -4.0)} if QUICK else None  # None: the book's
result = random_search(xtr, ttr, xval, tval, n_trials=6 if QUICK else 100, epochs=6 if QUICK else 50, space=space,
                       batch_size=100, seed=0, build_model=model_builder((50, 50) if QUICK else (100,) * 6))
ranked = result.ranked()
for tr in ranked[:3]:
    print(f"val acc {tr.final_val_acc:.3f}: lr {tr.params['lr']:.2e}, weight decay {tr.params['weight_decay']:.2e}")
fig, ax = plt.subplots(figsize=(5.5, 4))
sc = ax.scatter([t.params["lr"] for t in ranked], [t.params["weight_decay"] for t in ranked],
                c=[t.final_val_acc for t in ranked], cmap="viridis", s=60, edgecolor="k")
fig.colorbar(sc, label="validation accuracy")
ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay", title="random search")
plt.show()
