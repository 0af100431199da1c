from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from modelops.analysis.quality import Confusion, LabelledScores
from modelops.api.v1alpha1.retrainpolicy import (
    PerformanceState,
    PerformanceTrigger,
    RetrainPolicySpec,
    RetrainPolicyStatus,
)
from modelops.retrain.performance import (
    PerformanceReading,
    condition,
    confirm,
    due,
    evaluate,
    seconds_until_due,
    step,
)
from modelops.retrain.policy import Signals, decide

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
JOB_TEMPLATE = {"template": {"spec": {"containers": [{"name": "t", "image": "x"}], "restartPolicy": "Never"}}}
QUERY = 'sum by (outcome) (increase(modelops_feedback_total{version="v1"}[10m]))'


def trigger(**fields: Any) -> PerformanceTrigger:
    return PerformanceTrigger.model_validate({"threshold": 0.8, "minLabels": 100, "window": "10m", **fields})


def accuracy(correct: int, total: int, version: str = "v1") -> PerformanceReading:
    """A reading whose accuracy is correct/total (positives and negatives split evenly)."""
    wrong = total - correct
    confusion = Confusion(tp=correct // 2, tn=correct - correct // 2, fp=wrong // 2, fn=wrong - wrong // 2)
    return PerformanceReading(version, QUERY, confusion=confusion)


# ---- one evaluation --------------------------------------------------------------------------


def test_significantly_below_is_below() -> None:
    e = evaluate(trigger(), accuracy(600, 1000))
    assert (e.observation, e.labels) == ("Below", 1000) and e.value == pytest.approx(0.6)
    assert "600/1000" in e.message and "below 0.8" in e.message


def test_below_but_not_significantly_is_inconclusive() -> None:
    e = evaluate(trigger(), accuracy(78, 100))
    assert e.observation == "Inconclusive" and e.value == pytest.approx(0.78)


def test_at_the_threshold_is_at_or_above() -> None:
    assert evaluate(trigger(), accuracy(80, 100)).observation == "AtOrAbove"


def test_too_few_labels_is_insufficient_whatever_the_value() -> None:
    e = evaluate(trigger(minLabels=500), accuracy(0, 400))
    assert (e.observation, e.labels, e.value) == ("InsufficientLabels", 400, 0.0)
    assert "fewer than minLabels 500" in e.message


def test_no_labels_is_insufficient() -> None:
    for reading in (PerformanceReading("v1", QUERY), PerformanceReading("v1", QUERY, confusion=Confusion())):
        e = evaluate(trigger(), reading)
        assert (e.observation, e.value, e.labels) == ("InsufficientLabels", None, 0)


@pytest.mark.parametrize(
    ("metric", "good", "total"),
    [("precision", 10, 10 + 30), ("recall", 10, 10 + 50)],
)
def test_precision_and_recall_count_their_own_denominator(metric: str, good: int, total: int) -> None:
    confusion = Confusion(tp=10, fp=30, tn=900, fn=50)
    reading = PerformanceReading("v1", QUERY, confusion=confusion)
    e = evaluate(trigger(metric=metric, minLabels=total), reading)
    assert e.labels == total and e.value == pytest.approx(good / total) and e.observation == "Below"
    assert evaluate(trigger(metric=metric, minLabels=total + 1), reading).observation == "InsufficientLabels"


def _scores(rng: np.random.Generator, separation: float, n: int) -> tuple[LabelledScores, float]:
    labels = rng.random(n) < 0.3
    raw = 1 / (1 + np.exp(-(rng.normal(size=n) + separation * labels)))
    edges = np.linspace(0.05, 1.0, 20)
    index = np.searchsorted(edges, raw)
    negatives = np.bincount(index[~labels], minlength=len(edges) + 1).astype(float)
    positives = np.bincount(index[labels], minlength=len(edges) + 1).astype(float)
    return LabelledScores(tuple(negatives), tuple(positives)), float(roc_auc_score(labels, index))


def test_auc_is_the_binned_auc_with_a_delong_bound() -> None:
    rng = np.random.default_rng(3)
    good, good_auc = _scores(rng, 2.5, 4000)
    bad, bad_auc = _scores(rng, 0.3, 4000)
    t = trigger(metric="auc", threshold=0.75, minLabels=50)
    high = evaluate(t, PerformanceReading("v1", "q", scores=good))
    low = evaluate(t, PerformanceReading("v1", "q", scores=bad))
    assert high.observation == "AtOrAbove" and high.value == pytest.approx(good_auc)
    assert low.observation == "Below" and low.value == pytest.approx(bad_auc)
    assert low.labels == round(min(bad.n_negative, bad.n_positive))


def test_auc_needs_min_labels_of_the_smaller_class_and_usable_buckets() -> None:
    scores = LabelledScores((50.0, 40.0, 10.0), (1.0, 2.0, 3.0))
    e = evaluate(trigger(metric="auc", minLabels=10), PerformanceReading("v1", "q", scores=scores))
    assert (e.observation, e.labels) == ("InsufficientLabels", 6)
    broken = PerformanceReading("v1", "q", problem="bucket edges differ")
    assert "bucket edges differ" in evaluate(trigger(metric="auc"), broken).message
    assert evaluate(trigger(metric="auc"), PerformanceReading("v1", "q")).observation == "InsufficientLabels"


# ---- hysteresis ------------------------------------------------------------------------------

observations = st.lists(st.sampled_from([True, False, None]), max_size=60)


@settings(max_examples=300, deadline=None)
@given(observations, st.integers(min_value=1, max_value=6))
def test_confirm_flips_only_after_consecutive_agreeing_observations(seen: list[bool | None], k: int) -> None:
    """An uncounted observation (None) changes nothing; the state flips only when the last k counted
    observations all said the new state; k counted observations in a row that agree always set it."""
    dropped: bool | None = None
    streak = 0
    counted: list[bool] = []
    for observed in seen:
        before = (dropped, streak)
        dropped, streak = confirm(dropped, streak, observed, k)
        if observed is None:
            assert (dropped, streak) == before
            continue
        counted.append(observed)
        assert 0 <= streak < k
        if bool(before[0]) != bool(dropped):
            assert len(counted) >= k and counted[-k:] == [observed] * k
        if len(counted) >= k and counted[-k:] == [observed] * k:
            assert bool(dropped) == observed and streak == 0
        if dropped is None:
            assert all(counted), "only drops building a streak leave the state unknown"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Below", "AtOrAbove", "Inconclusive", "InsufficientLabels"]), max_size=40))
def test_fires_once_per_confirmed_drop(seen: list[str]) -> None:
    """Fires exactly on the transitions into a confirmed drop: never twice without a clear between."""
    readings = {
        "Below": accuracy(500, 1000),
        "AtOrAbove": accuracy(900, 1000),
        "Inconclusive": accuracy(79, 100),
        "InsufficientLabels": accuracy(10, 20),
    }
    t = trigger(consecutive=2)
    state: PerformanceState | None = None
    fired_while_dropped = False
    for i, observation in enumerate(seen):
        before = state.dropped if state is not None else None
        state, evidence = step(t, state, readings[observation], T0 + timedelta(minutes=i))
        assert state.verdict == observation
        if evidence is not None:
            assert before is not True and state.dropped is True and not fired_while_dropped
            fired_while_dropped = True
        if state.dropped is not True:
            fired_while_dropped = False
        if observation in ("Inconclusive", "InsufficientLabels"):
            assert evidence is None


def test_step_confirms_records_evidence_and_clears() -> None:
    t = trigger(consecutive=2)
    state, fired = step(t, None, accuracy(500, 1000), T0)
    assert fired is None and state.dropped is None and state.streak == 1
    assert condition(state)[:2] == ("Unknown", "Confirming")
    state, fired = step(t, state, accuracy(10, 20), T0 + timedelta(minutes=1))  # too few: changes nothing
    assert fired is None and state.streak == 1 and condition(state)[:2] == ("Unknown", "InsufficientLabels")
    state, fired = step(t, state, accuracy(520, 1000), T0 + timedelta(minutes=2))
    assert state.dropped is True and fired is not None
    for text in ("stable v1", "accuracy 520/1000", "below 0.8", "over 10m", QUERY):
        assert text in fired
    assert (state.value, state.threshold, state.labels, state.window, state.query) == (0.52, 0.8, 1000, "10m", QUERY)
    assert condition(state)[:2] == ("True", "Dropped")
    state, fired = step(t, state, accuracy(500, 1000), T0 + timedelta(minutes=3))
    assert fired is None and state.dropped is True  # the same episode
    state, _ = step(t, state, accuracy(900, 1000), T0 + timedelta(minutes=4))
    state, _ = step(t, state, accuracy(900, 1000), T0 + timedelta(minutes=5))
    assert state.dropped is False and condition(state)[:2] == ("False", "AtOrAbove")


def test_a_new_stable_version_starts_over() -> None:
    t = trigger(consecutive=1)
    state, fired = step(t, None, accuracy(500, 1000), T0)
    assert state.dropped is True and fired is not None
    state, fired = step(t, state, accuracy(500, 1000, version="v2"), T0 + timedelta(minutes=1))
    assert state.version == "v2" and state.dropped is True and fired is not None and "stable v2" in fired


def test_due_every_interval_and_at_once_for_a_new_version() -> None:
    t = trigger(interval="1m")
    assert due(t, None, "v1", T0)
    state, _ = step(t, None, accuracy(900, 1000), T0)
    assert not due(t, state, "v1", T0 + timedelta(seconds=30))
    assert due(t, state, "v1", T0 + timedelta(seconds=60))
    assert due(t, state, "v2", T0 + timedelta(seconds=1))
    assert seconds_until_due(t, state, T0 + timedelta(seconds=20)) == pytest.approx(40)
    assert condition(None) == ("Unknown", "NotEvaluated", "not evaluated yet")


# ---- through decide(): a trigger with guards ------------------------------------------------


def _spec(**fields: Any) -> RetrainPolicySpec:
    performance = {"threshold": 0.8, "minLabels": 100, "window": "10m", "consecutive": 2, "interval": "1m"}
    return RetrainPolicySpec.model_validate(
        {
            "modelDeploymentRef": {"name": "fraud"},
            "jobTemplate": JOB_TEMPLATE,
            "cooldown": "1h",
            "triggers": {"performance": performance},
            **fields,
        }
    )


def test_a_confirmed_drop_starts_a_run_recorded_with_its_evidence_then_cooldown_skips() -> None:
    spec = _spec(maxConcurrent=10)
    status = decide("rp", "ml", spec, _status(), Signals(T0, "fraud", "v1", performance=accuracy(600, 1000))).status
    cond = next(c for c in status.conditions if c.type == "PerformanceDropped")
    assert (cond.status, cond.reason) == ("Unknown", "Confirming")
    d = decide(
        "rp", "ml", spec, status, Signals(T0 + timedelta(minutes=1), "fraud", "v1", performance=accuracy(600, 1000))
    )
    run = d.status.runs[0]
    assert (run.trigger, run.outcome, run.name) == ("performance", "Running", "rp-1")
    assert "accuracy 600/1000" in run.evidence and QUERY in run.evidence
    assert any(e.reason == "RunStarted" and "performance trigger" in e.message for e in d.events)
    assert d.requeue_after <= 60
    # clear, then a second drop inside the cooldown: recorded as Skipped with its evidence
    status = d.status
    for minute, reading in (
        (2, accuracy(950, 1000)),
        (3, accuracy(950, 1000)),
        (4, accuracy(5, 1000)),
        (5, accuracy(5, 1000)),
    ):
        d = decide(
            "rp", "ml", spec, status, Signals(T0 + timedelta(minutes=minute), "fraud", "v1", performance=reading)
        )
        status = d.status
    skipped = d.status.runs[0]
    assert (skipped.trigger, skipped.outcome) == ("performance", "Skipped") and "cooldown" in skipped.reason
    assert "accuracy 5/1000" in skipped.evidence


def test_too_few_labels_never_fires_and_shows_in_the_condition() -> None:
    spec, status = _spec(), _status()
    for minute in range(10):
        signals = Signals(T0 + timedelta(minutes=minute), "fraud", "v1", performance=accuracy(0, 99))
        d = decide("rp", "ml", spec, status, signals)
        status = d.status
        assert not d.status.runs
    cond = next(c for c in status.conditions if c.type == "PerformanceDropped")
    assert (cond.status, cond.reason) == (
        "Unknown",
        "InsufficientLabels",
    ) and "fewer than minLabels 100" in cond.message
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.status == "True"  # labels not there yet is no problem for a person


def test_without_the_trigger_no_state_and_no_condition() -> None:
    status = decide("rp", "ml", _spec(), _status(), Signals(T0, "fraud", "v1", performance=accuracy(1, 1000))).status
    spec = _spec(triggers={})
    status = decide("rp", "ml", spec, status, Signals(T0, "fraud", "v1", performance=accuracy(1, 1000))).status
    assert status.performance is None and not [c for c in status.conditions if c.type == "PerformanceDropped"]


def _status() -> RetrainPolicyStatus:
    return RetrainPolicyStatus()
