from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.analysis.drift import PREDICTION, Observations
from modelops.api.v1alpha1.baseline import Baseline
from modelops.prom.client import PrometheusClient, PrometheusQueryError
from modelops.prom.drift import Live, observe
from modelops.promql.drift import DriftQueries, queries

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LABELS = {"namespace": "prod", "model": "fraud", "version": "v2"}

NUMERIC_METRIC = "modelops_feature_value_bucket"
CATEGORY_METRIC = "modelops_feature_category_total"
PREDICTION_METRIC = "modelops_prediction_bucket"
CLASS_METRIC = "modelops_prediction_class_total"


# ---- PromQL ----------------------------------------------------------------------------------


def test_the_queries_of_the_current_window() -> None:
    q = queries(LABELS, timedelta(hours=1))
    selector = '{namespace="prod",model="fraud",version="v2"}[1h]'
    assert q == DriftQueries(
        numeric=f"sum by (feature, le) (increase({NUMERIC_METRIC}{selector}))",
        categorical=f"sum by (feature, category) (increase({CATEGORY_METRIC}{selector}))",
        predictions=f"sum by (le) (increase({PREDICTION_METRIC}{selector}))",
        classes=f"sum by (class) (increase({CLASS_METRIC}{selector}))",
    )
    assert "offset" not in q.numeric + q.categorical + q.predictions + q.classes


def test_a_past_window_is_the_same_queries_with_an_offset() -> None:
    now, past = queries(LABELS, timedelta(minutes=90)), queries(LABELS, timedelta(minutes=90), timedelta(days=7))
    for field in ("numeric", "categorical", "predictions", "classes"):
        current, earlier = getattr(now, field), getattr(past, field)
        assert "[90m] offset 7d))" in earlier
        assert earlier == current.replace("[90m]", "[90m] offset 7d")
    assert queries(LABELS, timedelta(seconds=45), timedelta(hours=36)).numeric.endswith("[45s] offset 36h))")


def test_bad_windows_and_label_names_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        queries(LABELS, timedelta(0))
    with pytest.raises(ValueError, match="invalid label name"):
        queries({"model name": "x"}, timedelta(hours=1))


def read_quoted(text: str) -> tuple[str, str]:
    """A PromQL double-quoted string at the start of `text` (after the opening quote), as the
    Prometheus lexer reads it: (its value, the rest of the query after the closing quote)."""
    escapes = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
    out, i = [], 0
    while True:
        c = text[i]
        assert c != "\n", "an unescaped newline ends the query with an error"
        if c == "\\":
            out.append(escapes[text[i + 1]])
            i += 2
        elif c == '"':
            return "".join(out), text[i + 1 :]
        else:
            out.append(c)
            i += 1


def test_quotes_and_backslashes_cannot_change_the_query() -> None:
    hostile = 'x"} or vector(1) or {__name__=~".+\\'
    q = queries({"namespace": "prod", "model": hostile}, timedelta(hours=1))
    assert q.numeric == (
        'sum by (feature, le) (increase(modelops_feature_value_bucket{namespace="prod",'
        'model="x\\"} or vector(1) or {__name__=~\\".+\\\\"}[1h]))'
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=10))
def test_any_label_value_stays_one_label_value(model: str, version: str) -> None:
    q = queries({"model": model, "version": version}, timedelta(hours=1), timedelta(days=7))
    for text, metric in ((q.numeric, NUMERIC_METRIC), (q.classes, CLASS_METRIC)):
        head = f'increase({metric}{{model="'
        assert head in text
        value, rest = read_quoted(text.split(head, 1)[1])
        assert value == model
        assert rest.startswith(',version="')
        value, rest = read_quoted(rest.removeprefix(',version="'))
        assert value == version and rest == "}[1h] offset 7d))"


# ---- a fake Prometheus -----------------------------------------------------------------------


Samples = list[tuple[Mapping[str, str], str]]  # (labels, value as Prometheus writes it)
Answers = Mapping[str, Samples]  # metric -> the vector a query of it returns


def vector(*samples: tuple[Mapping[str, str], str]) -> dict[str, Any]:
    result = [{"metric": dict(labels), "value": [AT.timestamp(), value]} for labels, value in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class FakePrometheus:
    """Answers each drift query from the samples given for its metric; records what was asked."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.asked: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        form = parse_qs(request.content.decode())
        self.asked.append(form)
        (query,) = form["query"]
        metric = next(m for m in (NUMERIC_METRIC, CATEGORY_METRIC, PREDICTION_METRIC, CLASS_METRIC) if m in query)
        return httpx.Response(200, json=vector(*self.answers.get(metric, [])))

    def metrics(self) -> list[str]:
        names = (NUMERIC_METRIC, CATEGORY_METRIC, PREDICTION_METRIC, CLASS_METRIC)
        return [next(m for m in names if m in form["query"][0]) for form in self.asked]


def client(handler: Callable[[httpx.Request], httpx.Response]) -> PrometheusClient:
    return PrometheusClient("http://prom.test:9090", transport=httpx.MockTransport(handler), retries=0, backoff=0.001)


def watch(
    fake: FakePrometheus, reference: Baseline | Observations | None, *, predictions: bool = True
) -> tuple[Live, int]:
    async def run() -> tuple[Live, int]:
        async with client(fake) as prom:
            live = await observe(
                prom, queries(LABELS, timedelta(hours=1)), at=AT, reference=reference, predictions=predictions
            )
            return live, prom.queries

    return asyncio.run(run())


def buckets(feature: str | None, cumulative: Mapping[str, float]) -> Samples:
    extra = {} if feature is None else {"feature": feature}
    return [({**extra, "le": le}, repr(float(v))) for le, v in cumulative.items()]


def baseline(numeric: list[str], predictions: dict[str, Any] | None = None) -> Baseline:
    features: list[dict[str, Any]] = [{"name": n, "edges": [1, 2, 3], "counts": [10, 10, 10, 10]} for n in numeric]
    features.append({"name": "country", "type": "categorical", "categories": {"US": 10, "DE": 10}})
    doc: dict[str, Any] = {"features": features}
    doc["predictions"] = predictions if predictions is not None else {"edges": [0.5], "counts": [10, 10]}
    return Baseline.model_validate(doc)


REFERENCE = baseline(["amount", "velocity"])
ANSWERS: Answers = {
    # any order, Go's float formats, one feature's le written as the reference would not write it
    NUMERIC_METRIC: [
        *buckets("amount", {"+Inf": 100, "3": 60, "1": 10, "2": 30}),
        *buckets("velocity", {"1.0": 5, "2.0": 5, "3.0": 50, "+Inf": 50}),
    ],
    CATEGORY_METRIC: [
        ({"feature": "country", "category": "US"}, "70"),
        ({"feature": "country", "category": "BR"}, "30.5"),
    ],
    PREDICTION_METRIC: buckets(None, {"0.5": 40, "+Inf": 100}),
}


def test_observe_turns_cumulative_buckets_into_counts_on_the_reference_edges() -> None:
    fake = FakePrometheus(ANSWERS)
    live, sent = watch(fake, REFERENCE)
    obs = live.observations
    assert obs.errors == {}
    assert obs.numeric["amount"].edges.tolist() == [1, 2, 3]
    assert obs.numeric["amount"].counts.tolist() == [10, 20, 30, 40]
    assert obs.numeric["velocity"].counts.tolist() == [5, 0, 45, 0]
    assert obs.categorical == {"country": {"US": 70.0, "BR": 30.5}}
    assert obs.kind(PREDICTION) == "numeric"
    predictions = obs.histogram(PREDICTION)
    assert predictions is not None and predictions.edges.tolist() == [0.5] and predictions.counts.tolist() == [40, 60]
    assert live.series == 4 + 4 + 2 + 2
    assert sent == 3 and fake.metrics() == [NUMERIC_METRIC, CATEGORY_METRIC, PREDICTION_METRIC]
    assert all(form["time"] == [repr(AT.timestamp())] for form in fake.asked)
    expected = queries(LABELS, timedelta(hours=1))
    assert [form["query"][0] for form in fake.asked] == [expected.numeric, expected.categorical, expected.predictions]


@pytest.mark.parametrize("features", [1, 40])
def test_three_queries_whatever_the_number_of_features(features: int) -> None:
    names = [f"f{i}" for i in range(features)]
    answers: Answers = {
        NUMERIC_METRIC: [s for n in names for s in buckets(n, {"1": 1, "2": 2, "3": 3, "+Inf": 4})],
        PREDICTION_METRIC: buckets(None, {"0.5": 1, "+Inf": 2}),
    }
    fake = FakePrometheus(answers)
    live, sent = watch(fake, baseline(names))
    assert sent == 3 and len(fake.asked) == 3
    assert sorted(live.observations.numeric) == sorted(names)
    assert all(h.counts.tolist() == [1, 1, 1, 1] for h in live.observations.numeric.values())
    assert live.series == 4 * features + 2


def test_without_predictions_only_the_feature_families_are_queried() -> None:
    fake = FakePrometheus(ANSWERS)
    live, sent = watch(fake, REFERENCE, predictions=False)
    assert sent == 2 and fake.metrics() == [NUMERIC_METRIC, CATEGORY_METRIC]
    assert live.observations.predictions is None and live.series == 10


def test_nothing_scraped_is_zero_series_and_no_observations() -> None:
    live, sent = watch(FakePrometheus({}), REFERENCE)
    assert sent == 3 and live.series == 0
    assert live.observations == Observations({}, {}, None, {})


def test_nan_samples_and_unlabelled_series_are_not_observations() -> None:
    answers: Answers = {
        NUMERIC_METRIC: [
            *buckets("amount", {"1": 10, "2": 30, "3": 60, "+Inf": 100}),
            ({"feature": "amount", "le": "2.5"}, "NaN"),
            ({"le": "1"}, "3"),
        ],
        CATEGORY_METRIC: [
            ({"feature": "country", "category": "US"}, "NaN"),
            ({"feature": "country"}, "4"),
        ],
        PREDICTION_METRIC: [({"le": "0.5"}, "NaN"), ({}, "7")],
    }
    live, _ = watch(FakePrometheus(answers), REFERENCE)
    obs = live.observations
    assert obs.errors == {} and obs.numeric["amount"].counts.tolist() == [10, 20, 30, 40]
    assert obs.categorical == {} and obs.predictions is None


def test_live_buckets_that_do_not_match_the_reference_are_that_features_error() -> None:
    answers: Answers = {
        **ANSWERS,
        NUMERIC_METRIC: [
            *buckets("amount", {"1": 10, "2.5": 30, "3": 60, "+Inf": 100}),
            *buckets("velocity", {"1": 5, "2": 5, "3": 50, "+Inf": 50}),
        ],
    }
    live, _ = watch(FakePrometheus(answers), REFERENCE)
    assert live.observations.errors == {
        "amount": "buckets do not match the reference edges: missing le 2; unexpected le 2.5"
    }
    assert "amount" not in live.observations.numeric
    assert live.observations.numeric["velocity"].counts.tolist() == [5, 0, 45, 0]


def test_without_a_reference_the_le_labels_are_the_edges() -> None:
    answers: Answers = {NUMERIC_METRIC: buckets("amount", {"0.25": 1, "1e+06": 9, "+Inf": 10})}
    live, sent = watch(FakePrometheus(answers), None)
    h = live.observations.numeric["amount"]
    assert h.edges.tolist() == [0.25, 1e6] and h.counts.tolist() == [1, 8, 1]
    assert sent == 4 and live.series == 3  # no prediction buckets and no reference to say: class counts tried too


def test_categorical_predictions_are_read_from_the_class_counter() -> None:
    reference = baseline(["amount"], predictions={"type": "categorical", "categories": {"fraud": 5, "ok": 95}})
    answers: Answers = {
        **ANSWERS,
        CLASS_METRIC: [({"class": "fraud"}, "12"), ({"class": "ok"}, "88"), ({"class": "unsure"}, "NaN")],
    }
    fake = FakePrometheus(answers)
    live, sent = watch(fake, reference)
    assert sent == 3 and fake.metrics() == [NUMERIC_METRIC, CATEGORY_METRIC, CLASS_METRIC]
    assert PREDICTION_METRIC not in fake.asked[2]["query"][0]
    assert live.observations.kind(PREDICTION) == "categorical"
    assert live.observations.predictions == {"fraud": 12.0, "ok": 88.0}
    assert live.series == 8 + 2 + 2


def test_observations_from_a_reference_given_as_observations() -> None:
    ref = Observations.from_baseline(baseline(["amount"], {"type": "categorical", "categories": {"a": 1}}))
    fake = FakePrometheus({CLASS_METRIC: [({"class": "a"}, "3")]})
    live, _ = watch(fake, ref)
    assert fake.metrics()[2] == CLASS_METRIC and live.observations.predictions == {"a": 3.0} and live.series == 1


def test_a_refused_query_is_raised_not_read_as_no_data() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"})

    async def run() -> None:
        async with client(refuse) as prom:
            await observe(prom, queries(LABELS, timedelta(hours=1)), at=AT, reference=REFERENCE)

    with pytest.raises(PrometheusQueryError, match="bad_data: parse error"):
        asyncio.run(run())
