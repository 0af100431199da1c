"""Holdout metrics for binary classifiers, vectorised in numpy (no scikit-learn needed).

These are the numbers RetrainPolicy validation gates compare (`metric: auc`), so they are
exact and deterministic: AUC is the Mann-Whitney statistic with average ranks for ties.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EPSILON = 1e-15  # log loss clips probabilities so one confident mistake is large, not infinite


def average_ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1-based ranks; tied values all get the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def auc(labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative), ties count 1/2."""
    positive = np.asarray(labels) == 1
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes among the labels")
    scores = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError("AUC needs finite scores")
    rank_sum = float(average_ranks(scores)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def log_loss(labels: npt.NDArray[np.int64], probabilities: npt.NDArray[np.float64]) -> float:
    """Mean negative log-likelihood of the labels."""
    p = np.clip(probabilities, EPSILON, 1 - EPSILON)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def evaluate(labels: npt.NDArray[np.int64], probabilities: npt.NDArray[np.float64]) -> dict[str, float]:
    """AUC, accuracy at 0.5, log loss, the share of positive labels, and the row count."""
    return {
        "auc": auc(labels, probabilities),
        "accuracy": float(np.mean((probabilities >= 0.5) == (labels == 1))),
        "logLoss": log_loss(labels, probabilities),
        "positiveRate": float(np.mean(labels == 1)),
        "rows": len(labels),
    }
