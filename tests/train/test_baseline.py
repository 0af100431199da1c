from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.api.v1alpha1.baseline import OTHER_CATEGORY, Baseline
from modelops.train import baseline
from modelops.train.dataset import generate


def brute_force_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Prometheus cumulative `le` buckets, de-cumulated."""
    cumulative = [int((values <= edge).sum()) for edge in edges] + [len(values)]
    return [cumulative[0], *np.diff(cumulative).tolist()]


def test_values_on_an_edge_fall_in_that_edges_bucket() -> None:
    edges = [1.0, 2.0, 3.0]
    values = np.array([0.5, 1.0, 1.0000001, 2.0, 3.0, 3.5, -np.inf, np.inf])
    assert baseline.bucket_counts(values, edges) == [3, 2, 1, 2]
    assert baseline.bucket_counts(values, edges) == brute_force_counts(values, edges)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-20, 20).map(lambda v: v / 4), min_size=1, max_size=200),
    st.integers(2, 20),
)
def test_counts_follow_le_semantics_and_sum_to_rows(raw: list[float], buckets: int) -> None:
    values = np.array(raw)
    edges, counts = baseline.numeric_distribution(values, buckets)
    assert len(counts) == len(edges) + 1 and 1 <= len(edges) <= buckets - 1
    assert all(b > a for a, b in pairwise(edges))
    assert sum(counts) == len(values)
    assert counts == brute_force_counts(values, edges)


def test_quantile_edges_give_near_equal_buckets() -> None:
    values = np.random.default_rng(0).normal(size=12_000)
    edges, counts = baseline.numeric_distribution(values, 12)
    assert len(edges) == 11
    assert max(counts) - min(counts) <= 2


def test_edges_keep_the_digits_large_values_need() -> None:
    timestamps = 1.7e9 + np.random.default_rng(0).normal(scale=100, size=1000)
    edges, counts = baseline.numeric_distribution(timestamps, 12)
    assert len(edges) == 11 and max(counts) - min(counts) <= 2
    assert baseline.quantile_edges(np.linspace(-1, 1, 1001), 4) == [-0.5, 0.0, 0.5]


def test_constant_column_collapses_to_one_edge() -> None:
    edges, counts = baseline.numeric_distribution(np.full(50, 7.0), 12)
    assert edges == [7.0] and counts == [50, 0]


def test_rare_categories_are_pooled() -> None:
    values = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] + [OTHER_CATEGORY])
    assert baseline.category_counts(values, 2) == {"a": 5, "b": 3, OTHER_CATEGORY: 4}
    assert baseline.category_counts(values[:8], 2) == {"a": 5, "b": 3}
    with pytest.raises(ValueError, match="between 1 and 99"):
        baseline.category_counts(values, 100)


def test_document_validates_and_fits_a_configmap_for_20_features() -> None:
    data = generate(5000, seed=3, n_numeric=20)
    predictions = np.random.default_rng(1).random(data.rows)
    document = baseline.build(data, predictions, model="fraud", version="v7", buckets=20, max_categories=20)
    text = json.dumps(document.wire())
    parsed = Baseline.model_validate_json(text)
    assert parsed.model == "fraud" and parsed.version == "v7"
    assert len(parsed.features) == 21
    assert all(f.total == data.rows for f in parsed.features)
    assert parsed.predictions is not None and parsed.predictions.total == data.rows
    assert len(text.encode()) < 64 * 1024
