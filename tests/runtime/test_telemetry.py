from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from modelops.api.v1alpha1.baseline import Baseline
from modelops.runtime import telemetry as telemetry_module
from modelops.runtime.telemetry import MAX_DYNAMIC_CATEGORIES, MAX_FLUSH_ROWS, Telemetry, _Buckets
from modelops.train.dataset import generate
from tests.runtime.models_fixture import baseline


@pytest.fixture(autouse=True, params=["c", "numpy"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both counting paths: the C kernel, and the numpy fallback it is held to."""
    if request.param == "numpy":
        monkeypatch.setattr(telemetry_module, "KERNEL", None)
    elif telemetry_module.KERNEL is None:
        pytest.fail("modelops.runtime._bucketing was not built: install a C compiler (gcc) and rerun `make venv`")
    return str(request.param)


def _series(text: str, name: str, **labels: str) -> dict[str, float]:
    """le -> value (or '' -> value) for one metric filtered by labels."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            out[found.get("le", found.get("category", found.get("code", "")))] = float(line.rsplit(" ", 1)[1])
    return out


def _telemetry() -> tuple[Telemetry, Baseline]:
    data = generate(1000, seed=1)
    base = Baseline.model_validate(baseline(data))
    return Telemetry(model="fraud", version="v1", variant="canary", baseline=base), base


def test_buckets_follow_prometheus_le_exactly() -> None:
    telemetry, base = _telemetry()
    edges = base.features[0].edges
    values = np.array([edges[0], np.nextafter(edges[0], np.inf), edges[-1], edges[-1] + 1, -1e9])
    matrix = np.zeros((len(values), len(telemetry.numeric_names)))
    matrix[:, 0] = values
    telemetry.observe_numeric(matrix)
    text = telemetry.exposition()[0].decode()
    buckets = _series(text, "modelops_feature_value_bucket", feature="amount", variant="canary")
    le = [float(k) for k in buckets if k != "+Inf"]
    for edge, count in zip(le, [buckets[k] for k in buckets if k != "+Inf"], strict=True):
        assert count == np.sum(values <= edge)  # cumulative, value == edge counted in that bucket
    assert buckets["+Inf"] == len(values)


@settings(max_examples=50)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.just(8)), elements=st.floats(-1e6, 1e6)))
def test_counts_and_sums_match_a_reference(matrix: np.ndarray) -> None:
    telemetry, base = _telemetry()
    telemetry.observe_numeric(matrix)
    text = telemetry.exposition()[0].decode()
    for f, feature in enumerate(base.features[:8]):
        buckets = _series(text, "modelops_feature_value_bucket", feature=feature.name)
        expected = np.bincount(
            np.searchsorted(feature.edges, matrix[:, f], side="left"), minlength=len(feature.edges) + 1
        )
        assert list(buckets.values()) == np.cumsum(expected).tolist()
        if feature.edges[0] >= 0:  # a sum that can decrease is no counter: omitted for negative edges
            total = _series(text, "modelops_feature_value_sum", feature=feature.name)[""]
            assert np.isclose(total, matrix[:, f].sum())


def test_categories_outside_the_baseline_are_pooled() -> None:
    telemetry, _ = _telemetry()
    telemetry.observe_categorical("country", ["US", "GB", "NG", "JP", "US"])
    counts = _series(telemetry.exposition()[0].decode(), "modelops_feature_category_total", feature="country")
    assert counts == {"GB": 1.0, "US": 2.0, "__other__": 2.0}


def test_without_a_baseline_categories_are_capped() -> None:
    telemetry = Telemetry(model="m", version="v", categorical_features={"city": ()})
    telemetry.observe_categorical("city", [f"c{i}" for i in range(100)])
    counts = _series(telemetry.exposition()[0].decode(), "modelops_feature_category_total", feature="city")
    assert len(counts) == MAX_DYNAMIC_CATEGORIES + 1 and counts["__other__"] == 100 - MAX_DYNAMIC_CATEGORIES


def test_requests_invalid_and_info() -> None:
    telemetry = Telemetry(model="m", version="v", uri="file:///m.npz", sha256="ab")
    telemetry.observe_request(200, 0.003)
    telemetry.observe_request(400, 0.001)
    telemetry.invalid("nan")
    telemetry.invalid("something new")  # unknown reasons are pooled: cardinality stays bounded
    text = telemetry.exposition()[0].decode()
    requests = _series(text, "modelops_requests_total")
    assert (requests["200"], requests["400"]) == (1.0, 1.0)
    # every code and reason starts at 0, so Prometheus' increase() sees the first error as one
    assert requests["500"] == 0.0 and {code for code, n in requests.items() if n} == {"200", "400"}
    assert 'modelops_invalid_requests_total{model="m",reason="wrong_shape",variant="stable",version="v"} 0.0' in text
    assert 'reason="nan"' in text and 'reason="bad_request"' in text and "something new" not in text
    info = 'model="m",retrain_run="",sha256="ab",signer="",uri="file:///m.npz",variant="stable",version="v"'
    assert f"modelops_model_info{{{info}}} 1.0" in text
    assert _series(text, "modelops_request_duration_seconds_bucket")["0.005"] == 2


def test_observe_helper_for_other_servers() -> None:
    telemetry, _base = _telemetry()
    data = generate(10, seed=5)
    features = {n: data.numeric[:, i].tolist() for i, n in enumerate(data.numeric_names)}
    features["country"] = data.categorical["country"].tolist()
    telemetry.observe(features=features, predictions=[0.1] * 10)
    text = telemetry.exposition()[0].decode()
    assert _series(text, "modelops_feature_value_bucket", feature="velocity")["+Inf"] == 10
    assert _series(text, "modelops_prediction_count")[""] == 10


def test_signed_zeros_and_neighbours_of_an_edge_count_like_comparisons() -> None:
    """Counting sorts the values: -0.0 and 0.0 sort in either order but are equal, as `le` says."""
    tiny = np.nextafter(0.0, 1.0)
    buckets = _Buckets([[-0.0, 1.0], [0.0, np.nextafter(1.0, 2.0)]])
    values = np.array([[0.0, -0.0], [-0.0, 0.0], [tiny, -tiny], [1.0, 1.0], [np.nextafter(1.0, 2.0)] * 2])
    buckets.observe(values)
    for f, edges in enumerate(buckets.edges):
        expected = np.bincount([sum(v > e for e in edges) for v in values[:, f]], minlength=len(edges) + 1)
        assert buckets.counts[f].tolist() == expected.tolist()
    assert buckets.counts.tolist() == [[2, 2, 1], [3, 2, 0]]


@given(
    st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf])), min_size=1, max_size=200),
    st.lists(st.floats(-5, 5), min_size=1, max_size=8, unique=True),
)
def test_queued_values_count_exactly_like_one_numpy_pass(values: list[float], edges: list[float]) -> None:
    few, many, one = _Buckets([sorted(edges)]), _Buckets([sorted(edges)]), _Buckets([sorted(edges)])
    column = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    for value in column:  # one row at a time: buffered, flushed when the buffer is full and when read
        few.observe(value.reshape(1, 1))
        one.observe_one(float(value[0]))
    many._observe_numpy(column)
    np.testing.assert_array_equal(one.counts, many.counts)
    np.testing.assert_array_equal(few.counts, many.counts)
    np.testing.assert_allclose(few.sums, many.sums, equal_nan=True)


def test_a_reused_buffer_is_counted_as_it_was_when_observed() -> None:
    """Rows are buffered, not counted at once: the buffer holds a copy, not the caller's array."""
    buckets = _Buckets([[0.0, 1.0]])
    buffer = np.array([[0.5]])
    buckets.observe(buffer)
    buffer[0, 0] = 5.0  # a server reusing its input buffer for the next request
    buckets.observe(buffer)
    assert buckets.counts.tolist() == [[0, 1, 1]]  # (-inf, 0], (0, 1], (1, +inf)


def test_a_scrape_sees_every_queued_observation() -> None:
    telemetry = Telemetry(model="m", version="v1", task="binary")
    for _ in range(3):  # far fewer than the buffer's rows: still buffered when the scrape comes
        telemetry.observe_predictions([0.42])
        telemetry.observe_request(200, 0.003)
    text = telemetry.exposition()[0].decode()
    assert _series(text, "modelops_prediction_count")[""] == 3
    assert _series(text, "modelops_request_duration_seconds_bucket")["0.005"] == 3


@settings(max_examples=60)
@given(
    st.lists(st.lists(st.floats(-5, 5), min_size=1, max_size=12, unique=True), min_size=1, max_size=6),
    st.data(),
)
def test_histograms_of_different_sizes_count_like_searchsorted_and_leave_the_input_alone(
    edge_lists: list[list[float]], data: st.DataObject
) -> None:
    """Several histograms (padded to one width), NaN skipped, +-inf in the outer buckets, and the
    caller's array unchanged after counting."""
    edges = [sorted(e) for e in edge_lists]
    rows = data.draw(st.integers(1, 60))
    values = st.one_of(st.floats(-6, 6), st.sampled_from([np.nan, np.inf, -np.inf]), st.sampled_from(edges[0]))
    matrix = data.draw(arrays(np.float64, (rows, len(edges)), elements=values))
    original = matrix.copy()
    buckets = _Buckets(edges)
    buckets.observe(matrix)
    counts, sums = buckets.counts, buckets.sums
    np.testing.assert_array_equal(matrix, original)
    for f, e in enumerate(edges):
        column = matrix[:, f][~np.isnan(matrix[:, f])]
        expected = np.bincount(np.searchsorted(e, column, side="left"), minlength=len(e) + 1)
        assert counts[f, : len(e) + 1].tolist() == expected.tolist()
        assert not counts[f, len(e) + 1 :].any()
        with np.errstate(invalid="ignore"):  # +inf and -inf sum to NaN
            np.testing.assert_allclose(sums[f], column.sum())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_batches_across_the_buffer_edge_count_like_one_pass(sizes: list[int], seed: int) -> None:
    """Batches that fill the buffer, cross its end or exceed it are all counted once."""
    rng = np.random.default_rng(seed)
    edges = [[-1.0, 0.0, 1.0], [0.5, 2.0]]
    batches = [rng.normal(size=(n, 2)) for n in sizes]
    buffered = _Buckets(edges)
    assert buffered.rows == MAX_FLUSH_ROWS  # two histograms: the largest buffer
    for batch in batches:
        buffered.observe(batch)
        batch[:] = 99.0  # the caller reuses its array at once
    assert buffered.counts.sum() == 2 * sum(sizes)
    expected = _Buckets(edges)
    again = np.random.default_rng(seed)  # the same values, drawn in the same order
    expected._observe_numpy(np.concatenate([again.normal(size=(n, 2)) for n in sizes]))
    np.testing.assert_array_equal(buffered.counts, expected.counts)
    np.testing.assert_allclose(buffered.sums, expected.sums)
    with pytest.raises(ValueError, match=r"expected \(rows, 2\) values, got shape \(3, 1\)"):
        buffered.observe(np.zeros((3, 1)))


def test_one_call_per_request_counts_what_the_separate_calls_count() -> None:
    one, _ = _telemetry()
    separate, _ = _telemetry()
    rng = np.random.default_rng(3)
    for rows in (1, 32, 5):
        matrix, scores = rng.normal(size=(rows, len(one.numeric_names))), rng.random(rows)
        one.observe_inference(200, 0.002, matrix, scores)
        separate.observe_numeric(matrix)
        separate.observe_predictions(scores)
        separate.observe_request(200, 0.002)
    one.observe_inference(400, 0.001)  # refused: the request is counted, no rows or scores
    separate.observe_request(400, 0.001)
    assert one.exposition()[0] == separate.exposition()[0]
    text = one.exposition()[0].decode()
    assert _series(text, "modelops_prediction_count")[""] == 38
    assert {code: n for code, n in _series(text, "modelops_requests_total").items() if n} == {"200": 3, "400": 1}
    with pytest.raises(ValueError, match="one value per row"):
        one.observe_inference(200, 0.001, None, np.zeros((2, 2)))


def test_a_single_histogram_takes_columns_rows_and_scalars_alike() -> None:
    edges = [[0.25, 0.5, 0.75]]
    mixed, expected = _Buckets(edges), _Buckets(edges)
    values = np.array([0.1, 0.3, 0.5, 0.9, np.nan, 0.75, 0.2])
    mixed.observe_column(values[:2])  # 1-D scores
    mixed.observe_column(values[2:4].reshape(-1, 1))  # (rows, 1)
    mixed.observe(values[4:5].reshape(1, 1))
    for value in values[5:]:
        mixed.observe_one(float(value))  # latencies
    expected._observe_numpy(values.reshape(-1, 1))
    np.testing.assert_array_equal(mixed.counts, expected.counts)
    np.testing.assert_allclose(mixed.sums, expected.sums)
    with pytest.raises(ValueError, match="one value per row"):
        mixed.observe_column(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="one value per row"):
        _Buckets([[0.0], [1.0]]).observe_column([0.5])


def test_strided_and_integer_inputs_count_like_contiguous_floats() -> None:
    edges = [[0.0, 1.0], [2.0]]
    observed, expected = _Buckets(edges), _Buckets(edges)
    matrix = np.asfortranarray([[0.5, 3.0], [1.5, 1.0], [np.nan, 2.0]])
    observed.observe(matrix)  # column-major
    observed.observe(matrix[::2])  # a strided view
    observed.observe([[1, 2]])  # integers, a list
    rows = [[0.5, 3.0], [1.5, 1.0], [np.nan, 2.0], [0.5, 3.0], [np.nan, 2.0], [1.0, 2.0]]
    expected._observe_numpy(np.array(rows))
    np.testing.assert_array_equal(observed.counts, expected.counts)
    np.testing.assert_allclose(observed.sums, expected.sums)


def test_the_c_kernel_refuses_arrays_that_do_not_fit(kernel: str) -> None:
    if kernel != "c":
        pytest.skip("the C kernel's own argument checks")
    count = telemetry_module.KERNEL.count
    edges, counts, sums = np.zeros((2, 3)), np.zeros((2, 4), dtype=np.int64), np.zeros(2)
    count(np.zeros((5, 2)), edges, counts, sums, 2, 3)
    assert counts[:, 0].tolist() == [5, 5]
    with pytest.raises(ValueError, match="whole float64 rows"):
        count(np.zeros(3), edges, counts, sums, 2, 3)
    with pytest.raises(ValueError, match="do not match"):
        count(np.zeros((5, 2)), edges, np.zeros((2, 3), dtype=np.int64), sums, 2, 3)
    with pytest.raises((BufferError, ValueError), match="contiguous"):
        count(np.zeros((5, 4))[:, ::2], edges, counts, sums, 2, 3)


def test_every_code_the_server_answers_is_exported_and_other_codes_pool_by_class() -> None:
    telemetry = Telemetry(model="m", version="v")
    for code in (404, 422, 503, 499, 401, 502):
        telemetry.observe_request(code, 0.001)
    text = telemetry.exposition()[0].decode()
    requests = _series(text, "modelops_requests_total")
    # the server's own codes, each from the start; a code no server of ours answers pools by its class
    assert set(requests) == {"200", "400", "404", "413", "422", "499", "500", "503", "4xx", "5xx"}
    assert {c: n for c, n in requests.items() if n} == {"404": 1, "422": 1, "503": 1, "499": 1, "4xx": 1, "5xx": 1}
    # latency is of requests to this model that were answered: not 499 (never answered), not 404 (another model's)
    assert _series(text, "modelops_request_duration_seconds_bucket")["+Inf"] == 4
