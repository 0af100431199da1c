"""L2-regularised logistic regression fitted with L-BFGS-B, producing a `NumpyLinearModel`.

Numeric features are standardised with training means and standard deviations; each
categorical feature is one-hot encoded over its most frequent training categories (the
rest, like categories first seen in production, contribute nothing). The one-hot part is
kept as integer indices, so the objective and its analytic gradient cost two matrix-vector
products and a bincount per iteration instead of materialising a dense one-hot matrix.
The optimiser starts from a fixed point and uses no randomness: the same data gives the
same model, byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit

from modelops.models.base import FeatureSpec, Signature
from modelops.models.numpy_linear import NumpyLinearModel
from modelops.train.dataset import Dataset

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FitReport:
    """How the optimisation went (recorded in metrics.json)."""

    iterations: int
    converged: bool
    loss: float
    message: str


def top_categories(values: npt.NDArray[np.str_], limit: int) -> tuple[str, ...]:
    """The `limit` most frequent categories (ties by name), sorted by name for a stable layout."""
    counts = Counter(np.asarray(values).tolist())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return tuple(sorted(name for name, _ in ranked))


def category_indices(values: npt.NDArray[np.str_], categories: tuple[str, ...], unseen: int) -> npt.NDArray[np.int64]:
    """Position of each value in the sorted `categories`, or `unseen` when it is not one of them."""
    known = np.array(categories, dtype=np.str_)
    if known.size == 0:
        return np.full(len(values), unseen, dtype=np.int64)
    at = np.minimum(np.searchsorted(known, values), known.size - 1)
    return np.where(known[at] == values, at, unseen).astype(np.int64)


def fit(
    data: Dataset, *, l2: float = 1e-3, max_onehot: int = 50, max_iter: int = 1000
) -> tuple[NumpyLinearModel, FitReport]:
    """Minimise mean log loss + l2/2 * |w|^2 (the intercept is not penalised)."""
    if l2 < 0:
        raise ValueError("l2 must be >= 0")
    y = data.labels.astype(np.float64)
    n = len(y)
    means = data.numeric.mean(axis=0)
    spread = data.numeric.std(axis=0)
    # a constant column carries no signal; scale 1 keeps it finite (its weight stays ~0)
    scales = np.where(spread > 1e-12 * (1.0 + np.abs(means)), spread, 1.0)
    standardised = (data.numeric - means) / scales
    n_num = standardised.shape[1]

    features = [FeatureSpec(name) for name in data.numeric_names]
    columns: list[npt.NDArray[np.int64]] = []
    offset = n_num
    for name, values in data.categorical.items():
        categories = top_categories(values, max_onehot)
        features.append(FeatureSpec(name, "categorical", categories))
        local = category_indices(values, categories, unseen=-1)
        columns.append(np.where(local < 0, -1, local + offset))
        offset += len(categories)
    width = offset
    # unseen categories point at an extra, always-zero weight at index `width`
    onehot = np.column_stack([np.where(c < 0, width, c) for c in columns]) if columns else np.empty((n, 0), np.int64)
    flat = onehot.ravel()

    def objective(theta: Array) -> tuple[float, Array]:
        w, b = theta[:-1], theta[-1]
        z = standardised @ w[:n_num] + b
        if onehot.shape[1]:
            z = z + np.r_[w, 0.0][onehot].sum(axis=1)
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * (w @ w))
        residual = (expit(z) - y) / n
        grad = np.empty_like(theta)
        grad[:n_num] = standardised.T @ residual
        if onehot.shape[1]:
            grad[n_num:width] = np.bincount(flat, weights=np.repeat(residual, onehot.shape[1]), minlength=width + 1)[
                n_num:width
            ]
        grad[:-1] += l2 * w
        grad[-1] = residual.sum()
        return loss, grad

    base_rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    start = np.zeros(width + 1)
    start[-1] = np.log(base_rate / (1 - base_rate))
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-8},
    )
    theta = np.asarray(result.x, dtype=np.float64)
    model = NumpyLinearModel(
        signature=Signature(tuple(features), task="binary"),
        means=means,
        scales=scales,
        coef=theta[:-1].copy(),
        intercept=float(theta[-1]),
    )
    report = FitReport(int(result.nit), bool(result.success), float(result.fun), str(result.message))
    return model, report
