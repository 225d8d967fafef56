# %% [markdown]
# # Chapter 2 — The perceptron (パーセプトロン / 感知机)
#
# A perceptron fires (outputs 1) when the weighted sum of its inputs plus a bias is positive
# (ch. 2.1, 2.3.2): `y = 1 if w·x + b > 0 else 0`. With the right weights it is a logic gate;
# no single perceptron can be XOR, but two layers of them can (ch. 2.4-2.5).
# nnscratch's `Perceptron` and the gates `AND`, `NAND`, `OR`, `XOR` are in `nnscratch.perceptron`.

# %% tags=parameters
import os

QUICK = os.environ.get("NNSCRATCH_QUICK", "1") == "1"  # NNSCRATCH_QUICK=0: full size (same here)

# %%
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

from nnscratch.perceptron import AND, NAND, OR, XOR, Perceptron

# %% [markdown]
# ## 2.2-2.3 Simple logic circuits: AND, NAND, OR (論理回路 / 逻辑电路)
# The same perceptron with different weights and bias (重み・バイアス / 权重・偏置) is a different gate.
# The truth tables:

# %%
inputs = [(0, 0), (1, 0), (0, 1), (1, 1)]
print(" x1 x2 | AND NAND OR XOR")
for x1, x2 in inputs:
    print(f"  {x1}  {x2} |  {AND(x1, x2)}    {NAND(x1, x2)}   {OR(x1, x2)}   {XOR(x1, x2)}")

# %% [markdown]
# ### 2.3.2-2.3.3 Weights and bias
# A perceptron of our own: weights (0.5, 0.5) and bias -0.7 is an AND gate; its weighted sum
# `w·x + b` is positive only for (1, 1).

# %%
p = Perceptron(w=[0.5, 0.5], b=-0.7)
print(p, "| weighted sums:", [round(float(p.weighted_sum(a, b)), 2) for a, b in inputs],
      "| outputs:", [p(a, b) for a, b in inputs])

# %% [markdown]
# ## 2.4 The limits of the perceptron: linear and non-linear regions (線形・非線形 / 线性・非线性)
# A perceptron splits the plane with a straight line. The figure evaluates each gate on a grid of
# inputs (the perceptrons work on whole arrays at once): AND, NAND and OR are separated by one line;
# XOR's two 1-corners sit on opposite sides and need a curved (non-linear) region.

# %%
g = np.linspace(-0.5, 1.5, 201)
X1, X2 = np.meshgrid(g, g)
fig, axes = plt.subplots(1, 4, figsize=(15, 4), layout="constrained")
for ax, (name, gate) in zip(axes, {"AND": AND, "NAND": NAND, "OR": OR, "XOR (2 layers)": XOR}.items()):
    ax.contourf(X1, X2, gate(X1, X2), levels=[-0.5, 0.5, 1.5], colors=["#dde6f5", "#f7c6b5"])
    for a, b in inputs:
        out = int(gate(a, b))
        ax.scatter(a, b, s=120, marker="o" if out else "^", c="C3" if out else "C0", edgecolor="k", zorder=3)
    ax.set(title=name, xlabel="x1", ylabel="x2", aspect="equal")
fig.suptitle("Where each gate outputs 1 (orange) and 0 (blue)")
plt.show()

# %% [markdown]
# ## 2.5 A multi-layer perceptron (多層パーセプトロン / 多层感知机)
# XOR = AND(NAND(x1, x2), OR(x1, x2)): a first layer of two perceptrons (NAND and OR, outputs s1 and
# s2) feeds a second layer (AND). Layer by layer:

# %%
print(" x1 x2 | s1=NAND s2=OR | y=AND(s1,s2)")
for x1, x2 in inputs:
    s1, s2 = NAND(x1, x2), OR(x1, x2)
    print(f"  {x1}  {x2} |    {s1}      {s2}    |     {AND(s1, s2)}")
assert all(AND(NAND(a, b), OR(a, b)) == XOR(a, b) for a, b in inputs)
