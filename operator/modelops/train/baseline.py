"""The training baseline: reference-quantile histograms the server and the drift monitor share.

Edges are quantiles of the training data, so every bucket holds a similar share of the
reference and a chi-square test on production counts has populated cells. Tail edges (the
1st and 99th percentiles, and the 0.1st and 99.9th with enough rows) split the outermost
buckets: without them a change inside the top or bottom 1/buckets of the data (a stretched
tail, a burst of outliers) never moves a count across an edge and no test can see it.
Counts use Prometheus `le` semantics exactly (a value equal to an edge falls in that edge's
bucket), because the drift monitor compares them with `modelops_feature_value_bucket` series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from modelops.api.v1alpha1.baseline import MAX_CATEGORIES, MAX_EDGES, OTHER_CATEGORY, Baseline, Distribution
from modelops.api.v1alpha1.baseline import FeatureBaseline as FeatureBaselineDoc
from modelops.train.dataset import Dataset

SIGNIFICANT_DIGITS = 6  # edges are rounded (when harmless) so the document and the `le` labels stay short
# (tail share, rows needed): an outer bucket gets an edge of its own once it would hold 10 training
# rows; fewer make its reference share too noisy to compare with (and its PSI term with it)
TAILS = ((0.01, 1_000), (0.001, 10_000))


def tail_quantiles(rows: int) -> list[float]:
    """The tail quantiles a column of `rows` values gets, outermost last."""
    shares = [share for share, needed in TAILS if rows >= needed]
    return [q for share in shares for q in (share, 1.0 - share)]


def quantile_edges(values: npt.NDArray[np.float64], buckets: int, *, tails: bool = True) -> list[float]:
    """Upper edges of `buckets` equal-frequency buckets (the quantiles i/buckets, i < buckets), plus
    the tail quantiles when `tails` and the edges stay within the baseline's MAX_EDGES.

    Duplicate quantiles (heavy ties, constant columns) collapse, so there may be fewer edges.
    """
    if not 2 <= buckets <= MAX_EDGES + 1:
        raise ValueError(f"buckets must be between 2 and {MAX_EDGES + 1}")
    levels = np.arange(1, buckets) / buckets
    if tails:
        for pair in np.reshape(tail_quantiles(len(values)), (-1, 2)):  # innermost pair first, while they fit
            if np.unique(np.r_[levels, pair]).size > MAX_EDGES:
                break
            levels = np.unique(np.r_[levels, pair])
    quantiles = np.unique(np.quantile(values, levels))
    # as few digits as move no edge by more than 1% of the narrowest bucket (timestamps need
    # more than 6; 17 is exact), so rounding never merges or visibly reshapes buckets
    tolerance = 0.01 * float(np.diff(quantiles).min()) if len(quantiles) > 1 else np.inf
    for digits in range(SIGNIFICANT_DIGITS, 18):
        rounded = np.array([float(f"{q:.{digits}g}") for q in quantiles])
        if np.all(np.abs(rounded - quantiles) <= tolerance):
            break
    return [float(e) + 0.0 for e in rounded]  # + 0.0 turns -0.0 into 0.0


def bucket_counts(values: npt.NDArray[np.float64], edges: list[float]) -> list[int]:
    """counts[i] = #values in (edges[i-1], edges[i]]; the last is the +Inf bucket."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return [int(c) for c in np.bincount(index, minlength=len(edges) + 1)]


def numeric_distribution(
    values: npt.NDArray[np.float64], buckets: int, *, tails: bool = True
) -> tuple[list[float], list[int]]:
    edges = quantile_edges(values, buckets, tails=tails)
    return edges, bucket_counts(values, edges)


def category_counts(values: npt.NDArray[np.str_], max_categories: int) -> dict[str, int]:
    """The `max_categories` most frequent categories (ties by name); the rest pooled under `__other__`."""
    if not 1 <= max_categories < MAX_CATEGORIES:
        raise ValueError(f"max categories must be between 1 and {MAX_CATEGORIES - 1} (one slot is {OTHER_CATEGORY})")
    counts = Counter(np.asarray(values).tolist())
    pooled = counts.pop(OTHER_CATEGORY, 0)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:max_categories])
    pooled += sum(count for _, count in ranked[max_categories:])
    if pooled:
        kept[OTHER_CATEGORY] = pooled
    return kept


def build(
    data: Dataset,
    predictions: npt.NDArray[np.float64],
    *,
    model: str,
    version: str,
    buckets: int = 12,
    max_categories: int = 20,
    prediction_edges: Sequence[float] | None = None,
    tails: bool = True,
) -> Baseline:
    """The baseline of `data` (the training rows) and the model's predictions on them.

    `prediction_edges` fixes the prediction buckets (the trainer passes PROBABILITY_EDGES for
    probabilities) so that every version's prediction histogram has the same edges and a
    canary's predictions can be compared with stable's bucket by bucket; without it the
    edges are quantiles of these predictions. `tails=False` leaves out the tail edges (the
    buckets a baseline had before they were added).
    """
    features = []
    for j, name in enumerate(data.numeric_names):
        edges, counts = numeric_distribution(data.numeric[:, j], buckets, tails=tails)
        features.append(FeatureBaselineDoc(name=name, type="numeric", edges=edges, counts=counts))
    for name, values in data.categorical.items():
        categories = category_counts(values, max_categories)
        features.append(FeatureBaselineDoc(name=name, type="categorical", categories=categories))
    if prediction_edges is None:
        edges, counts = numeric_distribution(predictions, buckets, tails=tails)
    else:
        edges = [float(e) for e in prediction_edges]
        counts = bucket_counts(predictions, edges)
    return Baseline(
        model=model,
        version=version,
        features=features,
        predictions=Distribution(type="numeric", edges=edges, counts=counts),
    )
