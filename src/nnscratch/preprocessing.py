"""Preprocessing (前処理 / 预处理, ch. 3.6.2-3.6.3): normalisation, standardisation and whitening.

The book divides MNIST pixels by 255 (正規化 / 正规化, *normalization*) and names two further steps
it does not build: centring the data on zero and scaling it to unit spread, and *whitening*
(白色化 / 白化), which also removes the correlation between features. Each step here is an affine
map ``y = (x - mean) * scale`` (element-wise) or ``y = (x - mean) @ matrix`` (whitening), **fitted
on the training data only** and then applied unchanged to validation and test data (fitting on
test data would leak it into training). Every preprocessor has ``fit(x) -> self``,
``transform(x)``, ``fit_transform(x)``; statistics are computed in float64, chunk by chunk, so
fitting 60 000 MNIST images never copies them whole. Inputs of any shape ``(N, ...)`` are treated
as ``N`` flat feature vectors; ``transform`` gives the input's shape back (PCA with fewer
components gives ``(N, k)``). The layer that carries a fitted preprocessor inside a model (so that
``evaluate`` and ``predict`` apply it) is :class:`nnscratch.layers.Preprocess`.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from . import backend
from .validation import check_choice, check_int, check_number

__all__ = ["Preprocessor", "Normalize", "Standardize", "Whiten", "normalize", "standardize", "whiten",
           "make_preprocessor", "apply_affine", "PREPROCESS_CHOICES"]

#: the names :func:`make_preprocessor` (and ``nnscratch train --preprocess``) accept
PREPROCESS_CHOICES = ("none", "normalize", "standardize", "whiten")
_CHUNK = 8192


def _flat(x: Any) -> Any:
    x = backend.xp.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (N, features...), got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def _chunks(x: Any) -> Iterator[Any]:
    for i in range(0, x.shape[0], _CHUNK):
        yield backend.to_numpy(x[i:i + _CHUNK]).astype(np.float64)


def _moments(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and (population) variance in float64, two passes over chunks."""
    n = x.shape[0]
    mean = sum(c.sum(axis=0) for c in _chunks(x)) / n
    var = sum(((c - mean) ** 2).sum(axis=0) for c in _chunks(x)) / n
    return mean, var


def apply_affine(x: Any, mean: Any, scale: Any = None, matrix: Any = None) -> Any:
    """``(x - mean) * scale`` or ``(x - mean) @ matrix`` over flattened samples, in x's float dtype."""
    xp = backend.xp
    x = xp.asarray(x)
    dtype = x.dtype if xp.issubdtype(x.dtype, xp.floating) else backend.default_dtype()
    flat = _flat(x).astype(dtype, copy=False)
    if flat.shape[1] != mean.shape[0]:
        raise ValueError(f"x has {flat.shape[1]} features per sample but the preprocessor was fitted on {mean.shape[0]}")
    centred = flat - mean.astype(dtype, copy=False)
    if matrix is None:
        return (centred * scale.astype(dtype, copy=False)).reshape(x.shape)
    out = centred @ matrix.astype(dtype, copy=False)
    return out.reshape(x.shape) if out.shape[1] == flat.shape[1] else out


class Preprocessor:
    """Base: an affine map fitted on training data. Fitted arrays: ``mean`` and ``scale`` or ``matrix``."""

    method = "none"

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.matrix: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def fit(self, x: Any) -> "Preprocessor":
        raise NotImplementedError

    def transform(self, x: Any) -> Any:
        """Apply the fitted map (to training, validation or test data alike)."""
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__}.transform called before fit (fit on the training data)")
        return apply_affine(x, self.mean, self.scale, self.matrix)

    def fit_transform(self, x: Any) -> Any:
        return self.fit(x).transform(x)

    def get_config(self) -> dict[str, Any]:
        return {"method": self.method}

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays by name (what a model file stores)."""
        return {k: v for k, v in (("mean", self.mean), ("scale", self.scale), ("matrix", self.matrix)) if v is not None}


class Normalize(Preprocessor):
    """正規化 (ch. 3.6.2): ``x / value`` (the book's ÷255, ``method="divide"``) or min-max to [0, 1].

    ``method="minmax"``: ``(x - min) / (max - min)`` with min and max of the training data, over all
    features (``per_feature=False``: a picture's pixels keep their ratios) or per feature (a feature
    that never varies keeps scale 1 and becomes 0).
    """

    def __init__(self, method: str = "minmax", value: float = 255.0, per_feature: bool = False) -> None:
        super().__init__()
        self.kind = check_choice("method", method, ("divide", "minmax"))
        self.value = check_number("value", value, 0.0, lo_open=True)
        self.per_feature = bool(per_feature)
        self.method = "normalize"

    def fit(self, x: Any) -> "Normalize":
        flat = _flat(x)
        d = flat.shape[1]
        if self.kind == "divide":
            lo, span = np.zeros(d), np.full(d, self.value)
        else:
            axis = 0 if self.per_feature else None
            lo = np.min([c.min(axis=axis) for c in _chunks(flat)], axis=0)
            hi = np.max([c.max(axis=axis) for c in _chunks(flat)], axis=0)
            lo, span = np.broadcast_to(lo, (d,)).copy(), np.broadcast_to(hi - lo, (d,)).copy()
            span[span == 0] = 1.0
        self.mean, self.scale = lo, 1.0 / span
        return self

    def get_config(self) -> dict[str, Any]:
        return {"method": self.method, "kind": self.kind, "value": self.value, "per_feature": self.per_feature}


class Standardize(Preprocessor):
    """Standardisation (標準化 / 标准化; the book's "0 を中心に分布するように" + "広がりを制限", ch. 3.6.2).

    ``y = (x - mu) / sigma`` per feature, mu and sigma (population std) from the training data:
    afterwards every feature of the training data has mean 0 and standard deviation 1. A feature
    with ``sigma <= min_std`` (a pixel that is always 0) keeps scale 1, so it stays 0 rather than blowing up.
    """

    method = "standardize"

    def __init__(self, min_std: float = 1e-12) -> None:
        super().__init__()
        self.min_std = check_number("min_std", min_std, 0.0)

    def fit(self, x: Any) -> "Standardize":
        mean, var = _moments(_flat(x))
        std = np.sqrt(var)
        self.mean = mean
        self.scale = np.where(std > self.min_std, 1.0 / np.where(std > self.min_std, std, 1.0), 1.0)
        return self

    def get_config(self) -> dict[str, Any]:
        return {"method": self.method, "min_std": self.min_std}


class Whiten(Preprocessor):
    """Whitening (白色化 / 白化, ch. 3.6.3): decorrelate the features and give each unit variance.

    With the training covariance ``C = U diag(lam) U^T`` (eigen-decomposition, float64):
    PCA whitening ``W = U diag(1/sqrt(lam + epsilon))`` (the data in the eigenvector basis);
    ZCA whitening ``W = U diag(1/sqrt(lam + epsilon)) U^T`` (rotated back, so whitened digits still
    look like pictures, their edges enhanced); ``y = (x - mean) @ W``.
    ``epsilon`` (ε) is added to every eigenvalue so that directions of tiny variance (pixel noise,
    rarely inked border pixels) are not amplified without bound. The default 0.1 suits images in
    [0, 1] (MNIST's largest eigenvalue is about 5): with 1e-2 or less a network trained on whitened
    MNIST generalises worse, as it learns the amplified noise. Exactly, the whitened covariance is
    ``diag(lam / (lam + epsilon))``, within ``epsilon / lam`` of the identity in each direction.
    Directions with ``lam <= rcond * lam.max()`` carry (numerically) no variance: they are dropped
    (weight 0); the rest span the *whitened subspace* (``components``, ``n_whitened``).
    ``n_components`` (PCA only) keeps the k directions of largest variance: output ``(N, k)``.
    """

    method = "whiten"

    def __init__(self, kind: str = "zca", epsilon: float = 0.1, rcond: float = 1e-6,
                 n_components: int | None = None) -> None:
        super().__init__()
        self.kind = check_choice("kind", kind, ("zca", "pca"))
        self.epsilon = check_number("epsilon", epsilon, 0.0)
        self.rcond = check_number("rcond", rcond, 0.0, 1.0)
        if n_components is not None and self.kind != "pca":
            raise ValueError("n_components must be None for ZCA whitening (it keeps every feature); use kind='pca'")
        self.n_components = None if n_components is None else check_int("n_components", n_components, 1)
        self.eigenvalues: np.ndarray | None = None
        self.components: np.ndarray | None = None

    def fit(self, x: Any) -> "Whiten":
        flat = _flat(x)
        n, d = flat.shape
        mean = sum(c.sum(axis=0) for c in _chunks(flat)) / n
        cov = sum((c - mean).T @ (c - mean) for c in _chunks(flat)) / n
        lam, U = np.linalg.eigh(cov)
        lam, U = lam[::-1].clip(min=0.0), U[:, ::-1]  # largest variance first
        keep = lam > self.rcond * max(float(lam[0]), np.finfo(np.float64).tiny)
        if self.n_components is not None:
            if self.n_components > d:
                raise ValueError(f"n_components must be at most the {d} features, got {self.n_components}")
            keep[self.n_components:] = False
        weights = np.where(keep, 1.0 / np.sqrt(lam + self.epsilon + (~keep)), 0.0)
        self.mean, self.eigenvalues, self.components = mean, lam, U[:, keep]
        pca = U * weights
        if self.kind == "pca":
            self.matrix = pca[:, : self.n_components] if self.n_components is not None else pca
        else:
            self.matrix = pca @ U.T
        return self

    @property
    def n_whitened(self) -> int:
        """The dimension of the whitened subspace (directions with non-negligible variance)."""
        return 0 if self.components is None else int(self.components.shape[1])

    def get_config(self) -> dict[str, Any]:
        return {"method": self.method, "kind": self.kind, "epsilon": self.epsilon, "rcond": self.rcond,
                "n_components": self.n_components}


def make_preprocessor(spec: "str | Preprocessor | None") -> Preprocessor | None:
    """A fresh preprocessor from a name (``PREPROCESS_CHOICES``; "whiten" is ZCA) or one given; "none" -> None."""
    if spec is None or isinstance(spec, Preprocessor):
        return spec
    name = check_choice("preprocess", spec, PREPROCESS_CHOICES)
    return {"none": None, "normalize": Normalize(), "standardize": Standardize(), "whiten": Whiten()}[name]


def normalize(x: Any, method: str = "divide", value: float = 255.0) -> Any:
    """正規化 of one array: ``x / 255`` (the book, ch. 3.6.2) or min-max over the array itself."""
    return Normalize(method, value).fit_transform(x)


def standardize(x_train: Any, *others: Any) -> Any:
    """Standardise ``x_train`` with its own statistics and each of ``others`` (e.g. x_test) with the same.

    Returns the transformed ``x_train`` alone, or a tuple ``(x_train, *others)`` when others are given.
    """
    s = Standardize().fit(x_train)
    out = tuple(s.transform(x) for x in (x_train, *others))
    return out if others else out[0]


def whiten(x_train: Any, *others: Any, kind: str = "zca", epsilon: float = 0.1) -> Any:
    """Whiten ``x_train`` (ZCA or PCA, ε added to the eigenvalues) and ``others`` with the same matrix."""
    w = Whiten(kind, epsilon).fit(x_train)
    out = tuple(w.transform(x) for x in (x_train, *others))
    return out if others else out[0]
