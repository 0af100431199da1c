"""The record of predictions awaiting labels, the feedback body, and label telemetry."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from modelops.runtime.feedback import (
    INDEX_ENTRY_BYTES,
    ROW_BYTES,
    LabelItem,
    PredictionRecord,
    parse_feedback,
    result_body,
)
from modelops.runtime.refusal import InvalidRequest
from modelops.runtime.telemetry import Telemetry


def _scores(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=float)


def test_ids_name_rows_of_assigned_and_client_requests() -> None:
    record = PredictionRecord(100)
    single = record.record(None, _scores(0.9), now=1.0)
    batch = record.record(None, _scores(0.1, 0.2, 0.3), now=1.0)
    mine = record.record("r-1", _scores(0.4, 0.5), now=1.0)
    record.record("r-2", _scores(0.6), now=1.0)
    assert single != batch and single.startswith(record.token + "-")
    assert record.find(single) == 0 and record.find(f"{single}:0") == 0
    assert [record.find(f"{batch}:{i}") for i in range(3)] == [1, 2, 3]
    assert record.find(batch) is None  # a batch's id alone names no single prediction
    assert record.find(f"{batch}:3") is None and record.find(f"{batch}:01") is None  # out of range, not canonical
    assert record.find(f"{batch}:²") is None and record.find(f"{record.token}-٣") is None  # non-ASCII digits
    assert [record.find(f"{mine}:{i}") for i in range(2)] == [4, 5]
    assert record.find("r-2") == 6 and record.find("r-2:0") == 6
    assert record.find("r-3") is None and record.find("ffffffffffff-0") is None  # another process' id


def test_a_repeated_client_id_names_its_newest_request() -> None:
    record = PredictionRecord(100)
    record.record("same", _scores(0.1), now=1.0)
    record.record("same", _scores(0.2), now=2.0)
    results, joined = record.join([LabelItem("same", 1)], "v1", now=3.0)
    assert results == ["accepted"] and joined[0].score == 0.2 and joined[0].delay == 1.0


def test_eviction_counts_predictions_that_never_got_a_label() -> None:
    record = PredictionRecord(3)
    ids = [record.record(None, _scores(0.5), now=0.0) for _ in range(3)]
    assert record.join([LabelItem(ids[0], 1)], "v1", now=1.0)[0] == ["accepted"]
    for _ in range(2):
        record.record(None, _scores(0.5), now=2.0)
    assert record.unlabelled == 1  # ids[0] was labelled before it went, ids[1] was not
    assert record.join([LabelItem(ids[1], 1)], "v1", now=3.0)[0] == ["unmatched"]
    big = record.record("big", np.linspace(0, 1, 5), now=4.0)  # more rows than the ring: the last 3 kept
    assert record.unlabelled == 1 + 3 + 2 and record.rows == 3
    assert [record.find(f"{big}:{i}") is not None for i in range(5)] == [False, False, True, True, True]


def test_memory_is_capped_by_bytes_too() -> None:
    budget = 1000
    record = PredictionRecord(capacity=1000, max_bytes=budget)
    assert record.capacity == budget // (2 * ROW_BYTES)  # the ring takes at most half the budget
    ids = [record.record(f"r-{i}", _scores(0.5), now=0.0) for i in range(6)]
    assert record.bytes <= budget
    found = [record.find(i) is not None for i in ids]
    assert found == [False] * 4 + [True] * 2  # room for two client ids of (INDEX_ENTRY_BYTES + 3) bytes
    assert record.unlabelled == 4 and budget - record.bytes < INDEX_ENTRY_BYTES + 3


def test_labels_by_value_join_forgotten_predictions_once_and_only_for_this_version() -> None:
    record = PredictionRecord(10)
    old = LabelItem("old-1", 1, score=0.8, version="v1", predicted_at=100.0)
    results, joined = record.join([old, old, LabelItem("old-2", 0, 0.3, "v0", 100.0), LabelItem("x", 1)], "v1", 160)
    assert results == ["accepted", "duplicate", "wrong_version", "unmatched"]
    assert joined == [type(joined[0])(1, 0.8, 60.0)]
    remembered = record.record("known", _scores(0.2), now=150.0)
    results, joined = record.join([LabelItem(remembered, 0, 0.9, "v1", 1.0)], "v1", 160)
    assert results == ["accepted"] and joined[0].score == 0.2  # the record's score, not the caller's
    _, joined = record.join([LabelItem("future", 1, 0.5, "v1", 200.0)], "v1", 160)
    assert joined[0].delay == 0.0  # a clock ahead of ours is no negative delay


# ---- a model of the record: every row ever, the ring's last `capacity` live ----------------


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 12),
    operations=st.lists(
        st.one_of(
            st.tuples(st.just("predict"), st.sampled_from([None, "a", "b", "c"]), st.integers(0, 5)),
            st.tuples(st.just("label"), st.integers(0, 60), st.integers(0, 5)),
        ),
        max_size=40,
    ),
)
def test_the_record_agrees_with_a_model_of_it(capacity: int, operations: list[tuple[str, object, int]]) -> None:
    """Every row ever made; the last `capacity` rows are live; an id names its newest request with rows,
    while that request's first row is live; a label counts once; evicted unlabelled rows are counted."""
    record = PredictionRecord(capacity, max_bytes=1 << 30)
    scores: list[float] = []  # every row's score, by row number
    requests: list[tuple[str, int, int]] = []  # (id, first row, rows)
    labelled: set[int] = set()
    for op, arg, n in operations:
        if op == "predict":
            values = np.round(np.linspace(0.05, 0.95, n), 3)
            request_id = record.record(arg if isinstance(arg, str) else None, values, now=float(len(scores)))
            requests.append((request_id, len(scores), n))
            scores += values.tolist()
            continue
        if not requests:
            continue
        chosen = requests[int(str(arg)) % len(requests)][0]
        evicted = max(len(scores) - capacity, 0)
        targets = [(first, size) for i, first, size in requests if i == chosen and size > 0]
        row = None
        if targets and n < targets[-1][1] and targets[-1][0] + n >= evicted:
            row = targets[-1][0] + n
        results, joined = record.join([LabelItem(f"{chosen}:{n}", 1)], "v1", now=1e6)
        if row is None:
            assert results == ["unmatched"]
        elif row in labelled:
            assert results == ["duplicate"]
        else:
            assert results == ["accepted"] and joined[0].score == scores[row]
            labelled.add(row)
    evicted = max(len(scores) - capacity, 0)
    assert record.rows == len(scores) - evicted
    assert record.unlabelled == sum(1 for r in range(evicted) if r not in labelled)


@settings(max_examples=100, deadline=None)
@given(
    budget_rows=st.integers(1, 20),
    ids=st.lists(st.one_of(st.none(), st.text("abc", min_size=1, max_size=30)), max_size=40),
    by_value=st.lists(st.text("xyz", min_size=1, max_size=30), max_size=20),
)
def test_the_record_never_exceeds_its_byte_budget(budget_rows: int, ids: list[str | None], by_value: list[str]) -> None:
    budget = budget_rows * ROW_BYTES + 2 * (INDEX_ENTRY_BYTES + 30)
    record = PredictionRecord(capacity=1000, max_bytes=budget)
    for i, request_id in enumerate(ids):
        given = record.record(request_id, _scores(0.5, 0.6), now=0.0)
        assert record.bytes <= budget
        if i % 3 == 0:  # label some, so evictions of labelled and unlabelled rows mix
            record.join([LabelItem(f"{given}:1", 1)], "v1", now=1.0)
        evicted = 2 * (i + 1) - record.rows
        assert 0 <= evicted - record.unlabelled <= i // 3 + 1  # labelled rows evicted are not unlabelled
    for i in by_value:
        record.join([LabelItem(i, 1, 0.5, "v1", 1.0)], "v1", now=2.0)
        assert record.bytes <= budget
    assert record.rows <= record.capacity


# ---- the feedback body ---------------------------------------------------------------------


def test_parse_feedback_accepts_ids_and_labels_by_value() -> None:
    body = {
        "labels": [
            {"id": "a:0", "label": 1},
            {"id": "b", "label": 0, "score": 0.25, "version": "v1", "predicted_at": 1765000000},
            {"id": "c", "label": 1, "score": 1, "version": "v1", "predicted_at": "2026-12-06T02:00:00+00:00"},
        ]
    }
    items = parse_feedback(orjson.dumps(body))
    assert items[0] == LabelItem("a:0", 1)
    assert items[1] == LabelItem("b", 0, 0.25, "v1", 1765000000.0)
    assert math.isclose(items[2].predicted_at, 1796522400.0)  # 2026-12-06T02:00:00Z


MALFORMED = [
    (b"{", 400, "bad_json", "not JSON"),
    (b'{"labels": [{"id": "a", "label": NaN}]}', 400, "bad_json", "NaN"),
    (b"[]", 400, "bad_request", '"labels" list'),
    (b'{"labels": []}', 400, "bad_request", "non-empty"),
    (b'{"labels": [], "x": 1}', 400, "bad_request", "non-empty"),
    (b'{"labels": [{"id": "a", "label": 1}], "x": 1}', 400, "bad_request", "unknown field(s) ['x']"),
    (b'{"labels": [7]}', 400, "bad_request", "labels[0]: must be an object"),
    (b'{"labels": [{"id": "a", "label": 1, "weight": 2}]}', 400, "bad_request", "unknown field(s) ['weight']"),
    (b'{"labels": [{"id": 7, "label": 1}]}', 400, "bad_request", '"id" must be a non-empty string'),
    (b'{"labels": [{"id": "", "label": 1}]}', 400, "bad_request", '"id" must be a non-empty string'),
    (b'{"labels": [{"id": "a"}]}', 400, "bad_label", '"label" must be 0 or 1, got None'),
    (b'{"labels": [{"id": "a", "label": 2}]}', 400, "bad_label", "got 2"),
    (b'{"labels": [{"id": "a", "label": true}]}', 400, "bad_label", "got True"),
    (b'{"labels": [{"id": "a", "label": 1.0}]}', 400, "bad_label", "got 1.0"),
    (b'{"labels": [{"id": "a", "label": "1"}]}', 400, "bad_label", "got '1'"),
    (b'{"labels": [{"id": "a", "label": 1, "score": 0.5}]}', 400, "bad_request", "missing ['version', 'predicted_at']"),
    (
        b'{"labels": [{"id": "a", "label": 1, "score": 1.5, "version": "v1", "predicted_at": 1}]}',
        400,
        "bad_request",
        "probability in [0, 1]",
    ),
    (
        b'{"labels": [{"id": "a", "label": 1, "score": true, "version": "v1", "predicted_at": 1}]}',
        400,
        "bad_request",
        "probability",
    ),
    (
        b'{"labels": [{"id": "a", "label": 1, "score": 0.5, "version": 1, "predicted_at": 1}]}',
        400,
        "bad_request",
        '"version" must be',
    ),
    (
        b'{"labels": [{"id": "a", "label": 1, "score": 0.5, "version": "v1", "predicted_at": "yesterday"}]}',
        400,
        "bad_request",
        "RFC 3339",
    ),
    (
        b'{"labels": [{"id": "a", "label": 1, "score": 0.5, "version": "v1", "predicted_at": "2026-12-06T02:00:00"}]}',
        400,
        "bad_request",
        "with an offset",
    ),
    (
        b'{"labels": [{"id": "a", "label": 1, "score": 0.5, "version": "v1", "predicted_at": -5}]}',
        400,
        "bad_request",
        "unix seconds",
    ),
    (b'{"labels": [{"id": "a", "label": 1}, {"id": "b", "label": 1}, {"id": "c", "label": 1}]}', 413, "", "limit"),
]


@pytest.mark.parametrize(("body", "status", "reason", "message"), MALFORMED)
def test_malformed_feedback_is_refused_whole_with_its_reason(
    body: bytes, status: int, reason: str, message: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_feedback(body, max_labels=2)
    assert refused.value.status == status and message in str(refused.value)
    assert refused.value.reason == (reason or "too_many_labels")


def test_result_body_counts_and_lists_each_result() -> None:
    assert orjson.loads(result_body(["accepted", "unmatched", "accepted"])) == {
        "accepted": 2,
        "duplicate": 0,
        "unmatched": 1,
        "wrong_version": 0,
        "results": ["accepted", "unmatched", "accepted"],
    }


# ---- label telemetry -----------------------------------------------------------------------


def _samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(telemetry.exposition()[0].decode()):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("model", "version", "variant")))
            out[(sample.name, labels)] = sample.value
    return out


def test_labels_are_counted_at_the_threshold_by_label_and_delay() -> None:
    telemetry = Telemetry(model="fraud", version="v1", decision_threshold=0.5)
    request = telemetry.record_predictions("q", [0.9, 0.5, 0.49, 0.1, 0.7], now=1000.0)
    assert request == "q"
    labels = [LabelItem(f"q:{i}", label) for i, label in enumerate([1, 0, 1, 0, 1])]
    assert telemetry.feedback([*labels, LabelItem("q:0", 0), LabelItem("nope", 1)], now=1030.0) == [
        *["accepted"] * 5,
        "duplicate",
        "unmatched",
    ]
    samples = _samples(telemetry)
    outcome = {o: samples[("modelops_feedback_total", (("outcome", o),))] for o in ("tp", "fp", "tn", "fn")}
    assert outcome == {"tp": 2.0, "fp": 1.0, "tn": 1.0, "fn": 1.0}  # 0.5 is at the threshold: positive
    assert samples[("modelops_feedback_ignored_total", (("reason", "duplicate"),))] == 1.0
    assert samples[("modelops_feedback_ignored_total", (("reason", "unmatched"),))] == 1.0
    assert samples[("modelops_labelled_score_count", (("label", "1"),))] == 3.0
    assert samples[("modelops_labelled_score_bucket", (("label", "1"), ("le", "0.5")))] == 1.0  # 0.49
    assert samples[("modelops_labelled_score_bucket", (("label", "0"), ("le", "0.5")))] == 2.0  # 0.5 and 0.1
    assert math.isclose(samples[("modelops_labelled_score_sum", (("label", "0"),))], 0.6)
    assert samples[("modelops_label_delay_seconds_bucket", (("le", "10.0"),))] == 0.0
    assert samples[("modelops_label_delay_seconds_bucket", (("le", "60.0"),))] == 5.0
    assert samples[("modelops_predictions_unlabelled_total", ())] == 0.0
    telemetry.observe_feedback_request(400)
    telemetry.observe_feedback_request(418)
    samples = _samples(telemetry)
    assert samples[("modelops_feedback_requests_total", (("code", "400"),))] == 1.0
    assert samples[("modelops_feedback_requests_total", (("code", "4xx"),))] == 1.0


def test_label_telemetry_is_for_binary_classifiers_only() -> None:
    regression = Telemetry(model="price", version="v1", task="regression")
    off = Telemetry(model="fraud", version="v1", feedback_capacity=0)
    for telemetry in (regression, off):
        assert not telemetry.feedback_enabled
        assert telemetry.record_predictions(None, [1.0]) is None
        assert telemetry.record_predictions("r", [1.0]) == "r"
        with pytest.raises(InvalidRequest, match=r"binary classifiers|--feedback-capacity 0"):
            telemetry.feedback([LabelItem("r", 1)])
        assert not any(name.startswith(("modelops_feedback", "modelops_label")) for name, _ in _samples(telemetry))
    assert "task is 'regression'" in (regression.feedback_off_reason() or "")
