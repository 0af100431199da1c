"""The quality checks from labels, against a scripted Prometheus (the real one: tests/integration)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from modelops.analysis.checks import Verdict
from modelops.api.v1alpha1.modeldeployment import AnalysisSpec
from modelops.prom import quality
from modelops.prom.canary import Variant, analyze
from modelops.prom.client import PrometheusClient, PrometheusError, Sample

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=1)
EDGES = ("0.25", "0.5", "0.75", "+Inf")
Outcomes = Mapping[str, float]


def _spec(metric: str = "accuracy", **quality_slo: Any) -> AnalysisSpec:
    return AnalysisSpec.model_validate(
        {
            "compareToStable": True,
            "predictionDrift": {"enabled": False},
            "invalidRequests": {"enabled": False},
            "slo": {"latency": None, "quality": {"metric": metric, "objective": 0.8, **quality_slo}},
        }
    )


class Labelled:
    """Answers the label queries per version: confusion counts, label-split buckets, label delay."""

    def __init__(
        self,
        outcomes: Mapping[str, Outcomes],
        buckets: Mapping[str, Mapping[str, tuple[float, ...]]] | None = None,
        *,
        lag: float | None = 30.0,
        down: bool = False,
    ) -> None:
        self.outcomes, self.buckets, self.lag, self.down = outcomes, buckets or {}, lag, down
        self.queries: list[str] = []

    async def query(self, expr: str, *, time: datetime) -> list[Sample]:
        if self.down:
            raise PrometheusError("http://prometheus:9090", expr, "connection refused")
        self.queries.append(expr)
        found = re.search(r'version="(\w+)"', expr)
        version = found.group(1) if found else ""
        if "modelops_feedback_total" in expr and "by (outcome)" in expr:
            return [Sample({"outcome": o}, v) for o, v in self.outcomes.get(version, {}).items()]
        if "modelops_labelled_score_bucket" in expr:
            return [
                Sample({"label": label, "le": le}, c)
                for label, counts in self.buckets.get(version, {}).items()
                for le, c in zip(EDGES, counts, strict=True)
            ]
        if "modelops_label_delay_seconds_bucket" in expr:
            return [Sample({}, self.lag)] if self.lag is not None else []
        return [Sample({}, 1000.0)]  # any SLO query: plenty of traffic, no errors

    async def series(self, *matchers: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        return []  # pragma: no cover


def _checks(client: Labelled, spec: AnalysisSpec, **kwargs: Any) -> dict[str, Any]:
    judged = quality.checks(
        cast(PrometheusClient, client),
        spec,
        canary={"version": "v2"},
        stable={"version": "v1"},
        at=AT,
        since=kwargs.pop("since", AT - timedelta(minutes=10)),
        interval=INTERVAL,
        **kwargs,
    )
    return {c.name: c for c in asyncio.run(judged)}


GOOD = {"tp": 450, "tn": 450, "fp": 50, "fn": 50}  # accuracy 0.9
FLIPPED = {"tp": 50, "tn": 50, "fp": 450, "fn": 450}  # accuracy 0.1: concept drift


def test_a_good_canary_passes_both_checks() -> None:
    found = _checks(Labelled({"v2": GOOD, "v1": GOOD}), _spec())
    assert found["quality"].verdict is Verdict.PASS and found["quality"].value == pytest.approx(0.9)
    assert found["quality-vs-stable"].verdict is Verdict.PASS
    assert "labels over the last 10m" in found["quality"].reason


def test_concept_drift_fails_both_checks() -> None:
    found = _checks(Labelled({"v2": FLIPPED, "v1": GOOD}), _spec())
    assert found["quality"].verdict is Verdict.FAIL
    assert found["quality-vs-stable"].verdict is Verdict.FAIL
    assert found["quality-vs-stable"].value == pytest.approx(0.8)


def test_too_few_labels_is_unknown_never_a_pass() -> None:
    few = {"tp": 40, "tn": 40}  # perfect, but 80 < minLabels 200
    found = _checks(Labelled({"v2": few, "v1": GOOD}), _spec())
    assert found["quality"].verdict is Verdict.UNKNOWN and "fewer than 200" in found["quality"].reason
    assert found["quality-vs-stable"].verdict is Verdict.UNKNOWN
    none = _checks(Labelled({"v1": GOOD}), _spec())
    assert none["quality"].verdict is Verdict.UNKNOWN and "no labels" in none["quality"].reason


@pytest.mark.parametrize(("metric", "value"), [("precision", 0.9), ("recall", 0.9)])
def test_precision_and_recall_use_their_own_denominators(metric: str, value: float) -> None:
    found = _checks(Labelled({"v2": GOOD, "v1": GOOD}), _spec(metric, minLabels=500))
    assert found["quality"].verdict is Verdict.PASS and found["quality"].value == pytest.approx(value)
    bad = {"tp": 100, "tn": 450, "fp": 400, "fn": 400} if metric == "precision" else {"tp": 100, "fn": 400, "tn": 500}
    found = _checks(Labelled({"v2": bad, "v1": GOOD}), _spec(metric, minLabels=400))
    assert found["quality"].verdict is Verdict.FAIL and found["quality-vs-stable"].verdict is Verdict.FAIL


def _auc_buckets(good: bool) -> dict[str, tuple[float, ...]]:
    # cumulative per label: negatives low and positives high when good, the reverse when not
    low, high = (300.0, 350.0, 380.0, 400.0), (20.0, 50.0, 100.0, 400.0)
    return {"0": low, "1": high} if good else {"0": high, "1": low}


def test_auc_from_the_label_split_buckets() -> None:
    buckets = {"v2": _auc_buckets(True), "v1": _auc_buckets(True)}
    found = _checks(Labelled({}, buckets), _spec("auc"))
    assert found["quality"].verdict is Verdict.PASS and found["quality"].value > 0.8
    assert found["quality-vs-stable"].verdict is Verdict.PASS
    drifted = {"v2": _auc_buckets(False), "v1": _auc_buckets(True)}
    found = _checks(Labelled({}, drifted), _spec("auc"))
    assert found["quality"].verdict is Verdict.FAIL and found["quality-vs-stable"].verdict is Verdict.FAIL
    assert _checks(Labelled({}, {}), _spec("auc"))["quality"].verdict is Verdict.UNKNOWN


def test_a_shadow_is_skipped_and_compare_to_stable_off_drops_the_comparison() -> None:
    shadow = _checks(Labelled({"v2": FLIPPED, "v1": GOOD}), _spec(), shadowing=True)
    assert {c.verdict for c in shadow.values()} == {Verdict.SKIPPED} and len(shadow) == 2
    spec = _spec().model_copy(update={"compare_to_stable": False})
    assert set(_checks(Labelled({"v2": GOOD, "v1": GOOD}), spec)) == {"quality"}
    assert quality.names(_spec().model_copy(update={"slo": _spec().slo.model_copy(update={"quality": None})})) == []


def test_the_canary_window_is_the_rollout_so_far_at_most_the_slo_window() -> None:
    slo = _spec().slo.quality
    assert slo is not None
    assert quality.canary_window(slo, at=AT, since=AT - timedelta(minutes=5), interval=INTERVAL) == timedelta(minutes=5)
    assert quality.canary_window(slo, at=AT, since=AT - timedelta(days=1), interval=INTERVAL) == timedelta(hours=1)
    assert quality.canary_window(slo, at=AT, since=None, interval=INTERVAL) == INTERVAL
    assert quality.canary_window(slo, at=AT, since=AT, interval=INTERVAL) == timedelta(seconds=1)


def test_analyze_runs_the_quality_checks_with_the_others() -> None:
    client = Labelled({"v2": FLIPPED, "v1": GOOD})
    spec = _spec().model_copy(update={"compare_to_stable": False})
    judged = analyze(
        cast(PrometheusClient, client),
        spec,
        canary=Variant("ns", "m", "v2"),
        stable=Variant("ns", "m", "v1"),
        interval=INTERVAL,
        min_requests=20,
        at=AT,
        started=AT - timedelta(minutes=3),
    )
    analysis = asyncio.run(judged)
    assert [c.name for c in analysis.checks] == ["availability", "availability-since-start", "quality"]
    assert "labels over the last 3m" in analysis.checks[-1].reason
    assert analysis.verdict is Verdict.FAIL and "quality" in analysis.failing()
    down = asyncio.run(
        analyze(
            cast(PrometheusClient, Labelled({}, down=True)),
            spec,
            canary=Variant("ns", "m", "v2"),
            stable=Variant("ns", "m", "v1"),
            interval=INTERVAL,
            min_requests=20,
            at=AT,
        )
    )
    assert [c.name for c in down.checks] == ["availability", "quality"]
    assert {c.verdict for c in down.checks} == {Verdict.UNKNOWN}


def test_the_stable_reading_carries_value_labels_and_lag_even_when_too_few() -> None:
    slo = _spec().slo.quality
    assert slo is not None
    few = {"tp": 40, "tn": 50, "fp": 5, "fn": 5}
    reading = asyncio.run(
        quality.stable_reading(
            cast(PrometheusClient, Labelled({"v1": few})), slo, {"version": "v1"}, version="v1", at=AT, alpha=0.01
        )
    )
    assert reading.insufficient and reading.labels == 100 and reading.value == pytest.approx(0.9)
    assert reading.label_lag_p90 == 30.0 and reading.window == timedelta(hours=1)
    baked = asyncio.run(
        quality.stable_reading(
            cast(PrometheusClient, Labelled({"v1": FLIPPED}, lag=None)),
            slo,
            {"version": "v1"},
            version="v1",
            at=AT,
            alpha=0.01,
            since=AT - timedelta(minutes=20),
        )
    )
    assert baked.check.verdict is Verdict.FAIL and baked.window == timedelta(minutes=20)
    assert baked.label_lag_p90 is None
