from __future__ import annotations

import json
import re
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.analysis import drift
from modelops.api.v1alpha1.baseline import MAX_EDGES, OTHER_CATEGORY, Baseline
from modelops.runtime.telemetry import Telemetry
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
    assert len(counts) == len(edges) + 1 and 1 <= len(edges) <= buckets - 1  # under 1,000 rows: no tail edges
    assert all(b > a for a, b in pairwise(edges))
    assert sum(counts) == len(values)
    assert counts == brute_force_counts(values, edges)


def test_quantile_edges_give_near_equal_buckets() -> None:
    values = np.random.default_rng(0).normal(size=12_000)
    edges, counts = baseline.numeric_distribution(values, 12, tails=False)
    assert len(edges) == 11
    assert max(counts) - min(counts) <= 2


@pytest.mark.parametrize(
    ("rows", "tails"), [(999, []), (1_000, [0.01, 0.99]), (9_999, [0.01, 0.99]), (10_000, [0.01, 0.99, 0.001, 0.999])]
)
def test_tail_edges_split_the_outer_buckets_when_they_would_hold_ten_rows(rows: int, tails: list[float]) -> None:
    """Changes inside the outermost 1/12 of the data moved no count across an edge; the 1st/99th (and
    0.1st/99.9th) percentiles become edges of their own once each outer bucket holds 10 training rows."""
    values = np.random.default_rng(1).normal(size=rows)
    edges, counts = baseline.numeric_distribution(values, 12)
    plain = baseline.quantile_edges(values, 12, tails=False)
    assert baseline.tail_quantiles(rows) == tails and len(edges) == 11 + len(tails)
    assert set(plain) <= set(edges) and edges == sorted(edges)
    for q in tails:
        assert min(abs(e - np.quantile(values, q)) for e in edges) < 1e-4
        share = np.mean(values <= min(edges, key=lambda e: abs(e - np.quantile(values, q))))
        assert share == pytest.approx(q, abs=1 / rows + 1e-9)
    if tails:
        assert min(counts[0], counts[-1]) >= 10 and counts[0] == pytest.approx(rows * tails[-2], abs=2)


@pytest.mark.parametrize(("buckets", "edges"), [(60, 63), (62, 63), (63, 64), (65, 64)])
def test_tail_edges_stay_within_the_baselines_64_edges(buckets: int, edges: int) -> None:
    values = np.random.default_rng(2).normal(size=20_000)
    found, _ = baseline.numeric_distribution(values, buckets)
    assert len(found) == edges <= MAX_EDGES


def test_a_stretched_tail_is_seen_only_with_tail_edges() -> None:
    """The top 5% stretched 3x: every stretched value stays above the 11/12 quantile, so the 12 quantile
    buckets count exactly what they counted before; the tail edges see it (chi-square p ~ 0 at n = 2,000)."""
    rng = np.random.default_rng(3)
    reference = rng.normal(size=10_000)
    current = rng.normal(size=2_000)
    q95 = 1.6449
    current = np.where(current > q95, q95 + 3 * (current - q95), current)
    unstretched = np.minimum(current, q95 + (current - q95) / 3)  # the same window before the incident
    for tails, seen in ((False, False), (True, True)):
        edges, counts = baseline.numeric_distribution(reference, 12, tails=tails)
        before = drift.Histogram.of(edges, baseline.bucket_counts(unstretched, edges))
        after = drift.Histogram.of(edges, baseline.bucket_counts(current, edges))
        ref = drift.Observations({"x": drift.Histogram.of(edges, counts)})
        result = drift.evaluate(ref, drift.Observations({"x": after}), drift.Settings(min_samples=1)).features[0]
        assert (before.counts.tolist() != after.counts.tolist()) is seen
        assert result.p_value is not None and (result.p_value < 1e-6) is seen


def exported_buckets(text: str, metric: str) -> dict[str, list[tuple[str, float]]]:
    """feature -> [(le, cumulative count)] from a Prometheus exposition, as the drift reader gets them."""
    out: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        if line.startswith(metric + "{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            out.setdefault(labels["feature"], []).append((labels["le"], float(line.rsplit(" ", 1)[1])))
    return out


@pytest.mark.parametrize("tails", [True, False])
def test_server_histograms_and_the_drift_reference_share_the_edges_old_baselines_included(tails: bool) -> None:
    """The model server buckets features on the baseline's edges (tail edges included) and the drift
    monitor reads those series against the same baseline; a baseline written before tail edges (tails=False)
    still works end to end."""
    data = generate(20_000, seed=5)
    document = baseline.build(data, np.random.default_rng(5).random(data.rows), model="m", version="v1", tails=tails)
    parsed = Baseline.model_validate_json(json.dumps(document.wire()))
    numeric = [f for f in parsed.features if f.type == "numeric"]
    assert all(len(f.edges) == (15 if tails else 11) for f in numeric if len(np.unique(f.edges)) == len(f.edges))
    telemetry = Telemetry(model="m", version="v1", baseline=parsed)
    fresh = generate(3_000, seed=6)
    telemetry.observe_numeric(fresh.numeric)
    series = exported_buckets(telemetry.exposition()[0].decode(), "modelops_feature_value_bucket")
    live = drift.from_prometheus(series, reference=parsed)
    assert not live.errors and set(live.numeric) == {f.name for f in numeric}
    selection = tuple((f.name, "numeric") for f in numeric)
    result = drift.evaluate(parsed, live, drift.Settings(predictions=False, features=selection))  # type: ignore[arg-type]
    assert result.tested == len(numeric) and not any(f.error for f in result.features)
    assert result.drifted_count == 0


def test_edges_keep_the_digits_large_values_need() -> None:
    timestamps = 1.7e9 + np.random.default_rng(0).normal(scale=100, size=1000)
    edges, counts = baseline.numeric_distribution(timestamps, 12, tails=False)
    assert len(edges) == 11 and max(counts) - min(counts) <= 2
    assert baseline.quantile_edges(np.linspace(-1, 1, 1001), 4, tails=False) == [-0.5, 0.0, 0.5]
    assert baseline.quantile_edges(np.linspace(-1, 1, 1001), 4) == [-0.98, -0.5, 0.0, 0.5, 0.98]


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
