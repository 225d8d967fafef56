"""Experiments of ch. 3.5-3.6 beyond the book's code: preprocessing and regression.

* ``preprocessing`` (ch. 3.6.2, 前処理 / 预处理): MNIST digits as they are, standardised (標準化) and
  whitened (白色化 / 白化, PCA and ZCA), each fitted on training images, plus the covariance before and after.
* ``regression`` (ch. 3.5, 回帰 / 回归): an MLP with the identity output and the squared error fits a
  noisy sin(x); the Trainer reports RMSE and R^2 (no accuracy) on held-out points.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..initializers import init_weight
from ..layers import Affine, MeanSquaredLoss, Tanh
from ..models import Sequential
from ..plotting import pyplot
from ..preprocessing import Standardize, Whiten
from ..training import Trainer
from .base import Context, experiment
from .common import STYLE, load_data, rounded

# ----------------------------------------------------------------------------------- ch. 3.6.2


@experiment(
    "preprocessing", "3",
    "Preprocessing: MNIST digits standardised and whitened (PCA, ZCA)",
    "Standardising gives every pixel mean 0 and variance 1, which mostly brightens the rarely inked border; "
    "ZCA whitening decorrelates the pixels (the covariance becomes the identity) and turns each digit into "
    "its edges, while PCA whitening scrambles it into the eigenvector basis.",
)
def preprocessing(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Rows: raw, standardised, ZCA (ε 0.1 and 1e-3), PCA; right: covariance of 100 pixels before and after."""
    (x, _), (xt, _) = load_data(ctx, flatten=True)
    n_fit = 5000 if ctx.quick else 20000
    fit = x[ctx.rng.choice(len(x), min(n_fit, len(x)), replace=False)].astype(np.float64)
    shown = xt[:8].astype(np.float64)
    rows = {"raw (÷255)": shown, "standardised": Standardize().fit(fit).transform(shown)}
    zca = {eps: Whiten("zca", epsilon=eps).fit(fit) for eps in (0.1, 1e-3)}
    for eps, w in zca.items():
        rows[f"ZCA, ε = {eps:g}"] = w.transform(shown)
    pca = Whiten("pca", epsilon=0.1).fit(fit)
    rows["PCA, ε = 0.1"] = pca.transform(shown)
    centre = slice(350, 450)  # 100 pixels across the middle rows
    cov_raw = np.cov(fit[:, centre], rowvar=False)
    cov_zca = np.cov(zca[1e-3].transform(fit)[:, centre], rowvar=False)

    plt = pyplot()
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(13, 7), layout="constrained")
        grid = fig.add_gridspec(len(rows), len(shown) + 3)
        for r, (label, imgs) in enumerate(rows.items()):
            for c, img in enumerate(imgs):
                ax = fig.add_subplot(grid[r, c])
                lim = float(np.abs(img).max()) or 1.0
                ax.imshow(img.reshape(28, 28), cmap="gray" if r == 0 else "RdBu_r",
                          vmin=0 if r == 0 else -lim, vmax=1 if r == 0 else lim)
                ax.set_xticks([]), ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(label, fontsize=9)
        for i, (cov, title) in enumerate(((cov_raw, "covariance, raw pixels 350-449"),
                                          (cov_zca, "after ZCA (ε = 1e-3): nearly I"))):
            ax = fig.add_subplot(grid[i * 2:i * 2 + 2, len(shown):])
            im = ax.imshow(cov, cmap="RdBu_r", vmin=-np.abs(cov).max(), vmax=np.abs(cov).max())
            ax.set_title(title, fontsize=10)
            fig.colorbar(im, ax=ax, shrink=0.8)
        ax = fig.add_subplot(grid[4:, len(shown):])
        ax.semilogy(zca[0.1].eigenvalues[zca[0.1].eigenvalues > 0], lw=1.5)
        ax.axhline(0.1, ls="--", color="C3", label="ε = 0.1")
        ax.axhline(1e-3, ls=":", color="C3", label="ε = 1e-3")
        ax.set(xlabel="component", ylabel="variance λ", title="eigenvalues of the pixel covariance")
        ax.set_ylim(bottom=1e-8)
        ax.legend(fontsize=8)
        fig.suptitle(f"Preprocessing (ch. 3.6.2), fitted on {len(fit)} training images, applied to test digits")
    numbers = {
        "n_fit": len(fit),
        "largest_eigenvalues": rounded(zca[0.1].eigenvalues[:5], 4),
        "whitened_dims": zca[0.1].n_whitened,
        "offdiag_cov_raw": float(np.abs(cov_raw - np.diag(np.diag(cov_raw))).mean()),
        "offdiag_cov_zca": float(np.abs(cov_zca - np.diag(np.diag(cov_zca))).mean()),
    }
    return numbers, fig


# ------------------------------------------------------------------------------------ ch. 3.5


def mlp_regressor(sizes: tuple[int, ...] = (1, 64, 64, 1), seed: int = 0) -> Sequential:
    """Affine-tanh-...-Affine with the identity output and MeanSquaredLoss (Xavier init, ch. 6.2.2)."""
    rng = np.random.default_rng(seed)
    layers: list[Any] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Affine(W=init_weight((n_in, n_out), "xavier", rng=rng), b=np.zeros(n_out, dtype=np.float32)))
        if i < len(sizes) - 2:
            layers.append(Tanh())
    return Sequential(layers, loss_layer=MeanSquaredLoss())


def noisy_sin(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points x ~ U(-pi, pi), t = sin(x) + N(0, noise^2), both (n, 1) float32."""
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return x.astype(np.float32), (np.sin(x) + noise * rng.standard_normal((n, 1))).astype(np.float32)


REGRESSION_NOISE = 0.1


@experiment(
    "regression", "3",
    "Regression: an MLP with identity output and squared error fits a noisy sin(x)",
    "With the identity output (ch. 3.5) and the squared error (ch. 4.2.1) the same Trainer fits a real-valued "
    "function: the held-out RMSE falls to about the noise level 0.1 and R^2 approaches 1; no accuracy is reported.",
)
def regression(ctx: Context) -> tuple[dict[str, Any], Any]:
    """Fit sin(x) + N(0, 0.1^2) on [-pi, pi] with 1-64-64-1 tanh MLP; data, fit and loss/RMSE curves."""
    rng = ctx.rng
    n_train, epochs = (400, 150) if ctx.quick else (2000, 300)
    x, t = noisy_sin(n_train, REGRESSION_NOISE, rng)
    xt, tt = noisy_sin(500, REGRESSION_NOISE, rng)
    net = mlp_regressor(seed=ctx.seed)
    trainer = Trainer(net, x, t, xt, tt, epochs=epochs, mini_batch_size=32, optimizer="adam",
                      optimizer_param={"lr": 0.01, "lr_schedule": {"name": "cosine", "lr": 0.01,
                                                                    "total_steps": epochs * -(-n_train // 32)}},
                      verbose=False, seed=ctx.seed)
    h = trainer.train()
    grid = np.linspace(-np.pi, np.pi, 300, dtype=np.float32)[:, None]
    fit = net.predict(grid)
    true_rmse = float(np.sqrt(np.mean((fit - np.sin(grid)) ** 2)))

    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
        ax1.scatter(x[:, 0], t[:, 0], s=6, alpha=0.4, color="C7", label=f"training data ({n_train})")
        ax1.plot(grid, np.sin(grid), "k--", lw=1.2, label="sin(x)")
        ax1.plot(grid, fit, color="C3", lw=2, label="MLP 1-64-64-1")
        ax1.set(xlabel="x", ylabel="y", title=f"fit: held-out RMSE {h.final_test_rmse:.3f}, R² {h.final_test_r2:.3f}")
        ax1.legend()
        ax1.grid(alpha=0.3)
        ep = np.arange(1, h.epochs + 1)
        ax2.semilogy(ep, h.epoch_loss, label="training loss ½·mean (y − t)² (per epoch)")
        ax2.semilogy(ep, h.test_rmse, label="held-out RMSE")
        ax2.axhline(REGRESSION_NOISE, ls=":", color="grey", label="noise σ = 0.1")
        ax2.set(xlabel="epoch", title="loss and RMSE")
        ax2.legend()
        ax2.grid(alpha=0.3)
        fig.suptitle("Regression (ch. 3.5): identity output + mean squared error, trained by Trainer")
    numbers = {"noise": REGRESSION_NOISE, "n_train": n_train, "epochs": epochs,
               "test_rmse": h.final_test_rmse, "test_r2": h.final_test_r2, "rmse_to_true_function": true_rmse,
               "train_acc": h.train_acc, "test_rmse_per_epoch": rounded(h.test_rmse, 4)}
    return numbers, fig
