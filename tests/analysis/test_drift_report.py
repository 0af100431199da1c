from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.analysis.drift import (
    PREDICTION,
    DriftEvaluation,
    Histogram,
    Observations,
    Settings,
    empty_like,
    evaluate,
)
from modelops.analysis.drift_report import STALLED_REASONS, WAITING_REASONS, Report, blocked, due_in, evaluated
from modelops.api.conditions import get_condition
from modelops.api.events import Event
from modelops.api.v1alpha1.common import Condition
from modelops.api.v1alpha1.driftmonitor import DriftMonitorSpec, DriftMonitorStatus

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EDGES = [1.0, 2.0, 3.0]
BASELINE: dict[str, Any] = {
    "features": [
        {"name": "amount", "edges": EDGES, "counts": [250, 250, 250, 250]},
        {"name": "velocity", "edges": EDGES, "counts": [250, 250, 250, 250]},
        {"name": "country", "type": "categorical", "categories": {"US": 500, "DE": 300, "FR": 200}},
    ],
    "predictions": {"edges": [0.5], "counts": [500, 500]},
}


def make_spec(**fields: Any) -> DriftMonitorSpec:
    return DriftMonitorSpec.model_validate(
        {
            "modelDeploymentRef": {"name": "m"},
            "reference": {"inline": BASELINE},
            "minSamples": 100,
            "driftShare": 0.25,
            "consecutive": 2,
            **fields,
        }
    )


SPEC = make_spec()
assert SPEC.reference.inline is not None
REFERENCE = Observations.from_baseline(SPEC.reference.inline)
SETTINGS = Settings.from_spec(SPEC)


def current(**numeric: list[float]) -> Observations:
    """The reference's own distributions (no drift) with some numeric features replaced."""
    hists = dict(REFERENCE.numeric)
    hists.update({name: Histogram.of(EDGES, counts) for name, counts in numeric.items()})
    return Observations(hists, REFERENCE.categorical, REFERENCE.predictions)


CLEAN_OBS = current()
DRIFTED_OBS = current(amount=[700, 100, 100, 100])  # one of four tested distributions: share 0.25
SHORT_OBS = empty_like(REFERENCE)

CLEAN = evaluate(REFERENCE, CLEAN_OBS, SETTINGS)
DRIFTED = evaluate(REFERENCE, DRIFTED_OBS, SETTINGS)
SHORT = evaluate(REFERENCE, SHORT_OBS, SETTINGS)
EVALUATIONS = {"clean": CLEAN, "drifted": DRIFTED, "short": SHORT}


def test_fixtures_are_what_the_tests_assume() -> None:
    assert CLEAN.drifted_count == 0 and CLEAN.tested == 4
    assert DRIFTED.drifted_count == 1 and DRIFTED.drift_share == 0.25 and DRIFTED.worst_feature == "amount"
    assert SHORT.insufficient_data and all(f.insufficient_data for f in SHORT.features)


def run(
    previous: DriftMonitorStatus,
    evaluation: DriftEvaluation,
    *,
    now: datetime = T0,
    spec: DriftMonitorSpec = SPEC,
    version: str = "v2",
    generation: int | None = 1,
) -> Report:
    return evaluated(
        spec, previous, evaluation, now=now, version=version, reference="the inline baseline", generation=generation
    )


def chain(*names: str, spec: DriftMonitorSpec = SPEC) -> list[Report]:
    """Evaluations one after the other, each `interval` apart, each starting from the previous status."""
    status, reports = DriftMonitorStatus(), []
    for i, name in enumerate(names):
        report = run(status, EVALUATIONS[name], now=T0 + timedelta(minutes=5 * i), spec=spec)
        reports.append(report)
        status = report.status
    return reports


def cond(status: DriftMonitorStatus, type_: str) -> Condition:
    found = get_condition(status.conditions, type_)
    assert found is not None, f"no {type_} condition"
    return found


def reasons(events: list[Event]) -> list[str]:
    return [e.reason for e in events]


# ---- a completed evaluation ---------------------------------------------------------------


def test_a_clean_evaluation_says_no_drift_and_fills_the_status() -> None:
    previous = DriftMonitorStatus()
    snapshot = previous.model_dump()
    report = run(previous, CLEAN)
    status = report.status
    assert report.events == []  # first evaluation, nothing drifted: nothing to announce
    assert previous.model_dump() == snapshot  # pure: the previous status is not touched

    assert status.drifted is False and status.streak == 0 and status.drift_share == 0.0
    drifted = cond(status, "Drifted")
    assert (drifted.status, drifted.reason) == ("False", "NoDrift")
    assert drifted.message == "0 of 4 tested features drift (share 0.00, driftShare 0.25)"
    assert drifted.last_transition_time == T0 and drifted.observed_generation == 1
    assert (cond(status, "InsufficientData").status, cond(status, "InsufficientData").reason) == (
        "False",
        "EnoughSamples",
    )
    assert (cond(status, "Degraded").status, cond(status, "Degraded").reason) == ("False", "AllFeaturesReadable")
    ready = cond(status, "Ready")
    assert (ready.status, ready.reason) == ("True", "Evaluating")
    assert ready.message == "evaluating v2 against the inline baseline every 5m over 1h"
    assert [c.type for c in status.conditions] == [
        "Degraded",
        "Drifted",
        "InsufficientData",
        "Ready",
        "Reconciling",
        "Stalled",
    ]
    assert (cond(status, "Reconciling").status, cond(status, "Stalled").status) == ("False", "False")

    assert status.version == "v2" and status.reference == "the inline baseline"
    assert status.last_evaluated == T0 and status.observed_generation == 1
    assert sorted(f.name for f in status.features) == ["amount", "country", "velocity"]
    assert all(f.p_value is not None and not f.drifted and f.samples == 1000 for f in status.features)
    # the prediction distribution has its own field, not an entry among the features
    assert status.prediction is not None and status.prediction.name == PREDICTION
    assert status.prediction.test == "chi2" and status.prediction.p_value == pytest.approx(1.0)
    assert PREDICTION not in {f.name for f in status.features}


def test_drift_is_confirmed_after_consecutive_evaluations_then_cleared_the_same_way() -> None:
    first, second, third, fourth, fifth = chain("drifted", "drifted", "clean", "clean", "clean")

    # one drifted window from a fresh monitor: still unknown, a streak building, no event
    assert first.events == [] and first.status.drifted is None and first.status.streak == 1
    pending = cond(first.status, "Drifted")
    assert (pending.status, pending.reason) == ("Unknown", "Pending")
    assert "amount" in pending.message and first.status.worst_feature == "amount"

    # the second one confirms it: one Warning naming the drifted feature
    assert second.status.drifted is True and second.status.streak == 0
    drifted = cond(second.status, "Drifted")
    assert (drifted.status, drifted.reason) == ("True", "DriftDetected")
    assert drifted.last_transition_time == T0 + timedelta(minutes=5)
    assert second.events == [Event("Warning", "DriftDetected", f"v2: {drifted.message}")]
    message = second.events[0].message
    assert message.startswith("v2: 1 of 4 tested features drift (share 0.25, driftShare 0.25): amount (PSI ")
    assert "velocity" not in message and "country" not in message and "predictions" not in message

    # one clean window does not clear it
    assert third.events == [] and third.status.drifted is True and third.status.streak == 1
    confirming = cond(third.status, "Drifted")
    assert (confirming.status, confirming.reason) == ("True", "Confirming")
    assert confirming.message.endswith("; 1 of 2 evaluations to clear")
    assert confirming.last_transition_time == drifted.last_transition_time  # still True since then

    # the second clean one does, with a Normal event
    assert fourth.status.drifted is False and fourth.status.streak == 0
    cleared = cond(fourth.status, "Drifted")
    assert (cleared.status, cleared.reason) == ("False", "NoDrift")
    assert fourth.events == [Event("Normal", "DriftCleared", f"v2: {cleared.message}")]
    assert fifth.events == []


def test_drift_after_a_clean_state_is_confirming_not_pending() -> None:
    _, first, second = chain("clean", "drifted", "drifted")
    confirming = cond(first.status, "Drifted")
    assert first.status.drifted is False and first.status.streak == 1 and first.events == []
    assert (confirming.status, confirming.reason) == ("False", "Confirming")
    assert confirming.message.endswith("; 1 of 2 evaluations to confirm")
    assert reasons(second.events) == ["DriftDetected"] and second.status.drifted is True


def test_consecutive_one_flips_at_once() -> None:
    spec = make_spec(consecutive=1)
    reports = chain("drifted", "clean", "drifted", spec=spec)
    assert [r.status.drifted for r in reports] == [True, False, True]
    assert [reasons(r.events) for r in reports] == [["DriftDetected"], ["DriftCleared"], ["DriftDetected"]]


def test_drifted_predictions_are_named_predictions() -> None:
    moved = Observations(REFERENCE.numeric, REFERENCE.categorical, Histogram.of([0.5], [900, 100]))
    report = run(DriftMonitorStatus(), evaluate(REFERENCE, moved, SETTINGS), spec=make_spec(consecutive=1))
    assert report.status.drifted is True and report.status.prediction is not None
    assert report.status.prediction.drifted and not any(f.drifted for f in report.status.features)
    assert reasons(report.events) == ["DriftDetected"]
    assert ": predictions (PSI " in report.events[0].message and PREDICTION not in report.events[0].message


def test_many_drifted_features_are_capped_in_messages() -> None:
    names = [f"f{i}" for i in range(8)]
    ref = Observations({n: Histogram.of(EDGES, [250, 250, 250, 250]) for n in names})
    cur = Observations({n: Histogram.of(EDGES, [700, 100, 100, 100]) for n in names})
    spec = make_spec(consecutive=1, predictions=False)
    report = run(DriftMonitorStatus(), evaluate(ref, cur, Settings.from_spec(spec)), spec=spec)
    message = report.events[0].message
    assert message.startswith("v2: 8 of 8 tested features drift (share 1.00, driftShare 0.25): ")
    assert message.endswith(" and 3 more") and message.count("(PSI ") == 5
    assert len(report.status.features) == 8 and report.status.prediction is None


# ---- insufficient data ----------------------------------------------------------------------


def test_insufficient_data_is_announced_once_and_keeps_the_drift_state() -> None:
    _, confirmed, clearing = chain("drifted", "drifted", "clean")
    assert (clearing.status.drifted, clearing.status.streak) == (True, 1)

    short = run(clearing.status, SHORT, now=T0 + timedelta(minutes=15))
    status = short.status
    assert (status.drifted, status.streak) == (True, 1)  # neither extends nor breaks the streak
    assert status.drift_share is None and status.worst_feature is None
    assert status.last_evaluated == T0 + timedelta(minutes=15)
    insufficient = cond(status, "InsufficientData")
    assert (insufficient.status, insufficient.reason) == ("True", "TooFewSamples")
    assert insufficient.message.startswith("4 feature(s) below minSamples 100 in the last 1h: ")
    assert "amount 0" in insufficient.message and insufficient.message.endswith("; no verdict from this window")
    assert short.events == [Event("Normal", "InsufficientData", insufficient.message)]
    drifted = cond(status, "Drifted")
    assert (drifted.status, drifted.reason) == ("True", "InsufficientData")
    assert drifted.last_transition_time == cond(confirmed.status, "Drifted").last_transition_time
    assert all(f.insufficient_data and f.p_value is None for f in status.features)

    again = run(status, SHORT, now=T0 + timedelta(minutes=20))
    assert again.events == [] and (again.status.drifted, again.status.streak) == (True, 1)
    assert cond(again.status, "InsufficientData").last_transition_time == T0 + timedelta(minutes=15)

    # enough data again: the pending clean window and this one clear the drift
    back = run(again.status, CLEAN, now=T0 + timedelta(minutes=25))
    assert back.status.drifted is False and reasons(back.events) == ["DriftCleared"]
    assert cond(back.status, "InsufficientData").status == "False"


def test_insufficient_data_on_a_fresh_monitor_leaves_drift_unknown() -> None:
    report = run(DriftMonitorStatus(), SHORT)
    assert report.status.drifted is None and report.status.streak == 0
    drifted = cond(report.status, "Drifted")
    assert (drifted.status, drifted.reason) == ("Unknown", "InsufficientData")
    assert reasons(report.events) == ["InsufficientData"]


def test_some_features_short_still_give_a_verdict() -> None:
    partly = current(velocity=[10, 10, 10, 10])  # 40 < minSamples 100
    report = run(DriftMonitorStatus(), evaluate(REFERENCE, partly, SETTINGS))
    insufficient = cond(report.status, "InsufficientData")
    assert insufficient.status == "True" and insufficient.message == (
        "1 feature(s) below minSamples 100 in the last 1h: velocity 40"
    )
    assert report.status.drifted is False and cond(report.status, "Drifted").reason == "NoDrift"
    assert cond(report.status, "Drifted").message.startswith("0 of 3 tested features drift")


# ---- features that cannot be compared ------------------------------------------------------


def test_a_feature_with_other_edges_degrades_the_monitor_and_the_rest_are_tested() -> None:
    moved = Observations(
        {"amount": Histogram.of([1.0, 2.0, 4.0], [250, 250, 250, 250]), "velocity": REFERENCE.numeric["velocity"]},
        REFERENCE.categorical,
        REFERENCE.predictions,
    )
    evaluation = evaluate(REFERENCE, moved, SETTINGS)
    report = run(DriftMonitorStatus(), evaluation)
    degraded = cond(report.status, "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "FeatureErrors")
    assert degraded.message == (
        "1 feature(s) could not be compared: amount: buckets do not match the reference "
        "edges: missing le 3; unexpected le 4"
    )
    assert report.events == [Event("Warning", "FeatureErrors", degraded.message)]
    by_name = {f.name: f for f in report.status.features}
    assert by_name["amount"].error is not None and by_name["amount"].p_value is None
    assert by_name["velocity"].p_value is not None and by_name["country"].p_value is not None
    assert report.status.prediction is not None and report.status.prediction.p_value is not None
    assert report.status.drifted is False and cond(report.status, "Drifted").message.startswith("0 of 3 tested")
    assert cond(report.status, "Ready").status == "True"

    assert run(report.status, evaluation).events == []  # still degraded: nothing new to say
    healed = run(report.status, CLEAN)
    assert cond(healed.status, "Degraded").status == "False" and healed.events == []


# ---- no evaluation possible ----------------------------------------------------------------


def test_blocked_on_a_fresh_monitor() -> None:
    previous = DriftMonitorStatus()
    report = blocked(
        SPEC,
        previous,
        now=T0,
        reason="ModelDeploymentNotFound",
        message="no ModelDeployment m",
        generation=3,
        version=None,
    )
    status = report.status
    ready = cond(status, "Ready")
    assert (ready.status, ready.reason, ready.message) == ("False", "ModelDeploymentNotFound", "no ModelDeployment m")
    drifted = cond(status, "Drifted")
    assert (drifted.status, drifted.reason) == ("Unknown", "ModelDeploymentNotFound")
    assert drifted.message == "no evaluation yet: no ModelDeployment m"
    assert report.events == [Event("Warning", "ModelDeploymentNotFound", "no ModelDeployment m")]
    assert status.observed_generation == 3 and status.last_evaluated is None and status.version is None
    assert previous.conditions == []

    again = blocked(
        SPEC,
        status,
        now=T0 + timedelta(seconds=30),
        reason="ModelDeploymentNotFound",
        message="no ModelDeployment m",
        generation=3,
    )
    assert again.events == [] and again.status.conditions == status.conditions

    other = blocked(
        SPEC,
        again.status,
        now=T0 + timedelta(seconds=60),
        reason="PrometheusUnavailable",
        message="x" * 2000,
        generation=3,
        version="v3",
    )
    assert reasons(other.events) == ["PrometheusUnavailable"] and other.events[0].message == "x" * 1000
    assert other.status.version == "v3"
    assert cond(other.status, "Ready").last_transition_time == T0  # False since the first block


def test_blocked_keeps_the_drift_state_and_the_results() -> None:
    *_, clearing = chain("drifted", "drifted", "clean")
    previous = clearing.status
    report = blocked(
        SPEC,
        previous,
        now=T0 + timedelta(minutes=30),
        reason="PrometheusUnavailable",
        message="Prometheus down",
        generation=1,
        version="v2",
    )
    status = report.status
    assert (status.drifted, status.streak) == (True, 1)
    assert status.features == previous.features and status.last_evaluated == previous.last_evaluated
    assert cond(status, "Drifted") == cond(previous, "Drifted")  # known drift is not made Unknown
    assert cond(status, "Ready").status == "False"
    assert reasons(report.events) == ["PrometheusUnavailable"]
    assert cond(previous, "Ready").status == "True"  # the previous status is not touched

    # recovering announces it once, and picks the streak up where it was
    back = run(status, CLEAN, now=T0 + timedelta(minutes=35))
    assert reasons(back.events) == ["DriftCleared", "Evaluating"] and back.status.drifted is False
    ready = cond(back.status, "Ready")
    assert (ready.status, ready.reason) == ("True", "Evaluating")
    assert ready.last_transition_time == T0 + timedelta(minutes=35)


def test_blocked_after_a_clean_evaluation_keeps_drifted_false() -> None:
    (clean,) = chain("clean")
    report = blocked(
        SPEC, clean.status, now=T0 + timedelta(minutes=5), reason="PrometheusUnavailable", message="down", generation=1
    )
    assert cond(report.status, "Drifted") == cond(clean.status, "Drifted")
    assert cond(report.status, "Drifted").status == "False" and report.status.drifted is False


# ---- scheduling ------------------------------------------------------------------------------


def test_due_in() -> None:
    ready = [Condition(type="Ready", status="True", reason="Evaluating", message="", last_transition_time=T0)]
    never = DriftMonitorStatus(observed_generation=1)
    assert due_in(300, never, T0, 1) == 0.0
    done = DriftMonitorStatus(observed_generation=1, last_evaluated=T0, conditions=ready)
    assert due_in(300, done, T0 + timedelta(seconds=120), 1) == 180.0
    assert due_in(300, done, T0, 1) == 300.0
    assert due_in(300, done, T0 + timedelta(seconds=120), 2) == 0.0  # the spec changed: evaluate at once
    assert due_in(300, done, T0 + timedelta(seconds=300), 1) == 0.0
    assert due_in(300, done, T0 + timedelta(hours=2), 1) == 0.0  # overdue is due, never negative
    assert due_in(300, DriftMonitorStatus(last_evaluated=T0, conditions=ready), T0, None) == 300.0


def test_a_failed_attempt_is_retried_whatever_the_schedule() -> None:
    """A spec change that could not be evaluated (blocked) must not wait out the old interval."""
    (clean,) = chain("clean")
    stuck = blocked(
        SPEC, clean.status, now=T0 + timedelta(seconds=60), reason="PrometheusUnavailable", message="down", generation=2
    )
    assert due_in(300, stuck.status, T0 + timedelta(seconds=90), 2) == 0.0
    drifted = next(c for c in stuck.status.conditions if c.type == "Drifted")
    assert drifted.reason == "NoDrift"  # an evaluation happened before: not "no evaluation yet"


def test_due_in_after_an_evaluation_report() -> None:
    (report,) = chain("clean")
    assert due_in(300, report.status, T0 + timedelta(seconds=1), 1) == 299.0
    assert due_in(300, report.status, T0 + timedelta(seconds=1), 2) == 0.0


# ---- steady state and transitions ----------------------------------------------------------


def test_a_steady_monitor_posts_nothing_and_keeps_its_conditions() -> None:
    first = run(DriftMonitorStatus(), CLEAN, now=T0)
    second = run(first.status, CLEAN, now=T0 + timedelta(minutes=5))
    assert second.events == []
    assert second.status.conditions == first.status.conditions
    assert all(c.last_transition_time == T0 for c in second.status.conditions)
    assert second.status.model_copy(update={"last_evaluated": T0}) == first.status
    # the same for a steady drifted monitor
    *_, steady_first, steady_second = chain("drifted", "drifted", "drifted", "drifted")
    assert steady_first.events == steady_second.events == []
    assert steady_second.status.conditions == steady_first.status.conditions


STEPS = st.sampled_from(["clean", "drifted", "short", "blocked"])


def drift_event(old: bool | None, new: bool | None) -> list[str]:
    """The drift event a change of `drifted` must post: Detected on turning True, Cleared on leaving True."""
    if new is True and old is not True:
        return ["DriftDetected"]
    if new is False and old is True:
        return ["DriftCleared"]
    return []


def became(before: DriftMonitorStatus, after: DriftMonitorStatus, type_: str, value: str) -> bool:
    old = get_condition(before.conditions, type_)
    new = get_condition(after.conditions, type_)
    return new is not None and new.status == value and (old is None or old.status != value)


@settings(max_examples=150, deadline=None)
@given(st.lists(STEPS, max_size=25), st.integers(1, 3))
def test_drift_events_alternate_and_mark_exactly_the_transitions(steps: list[str], consecutive: int) -> None:
    spec = make_spec(consecutive=consecutive)
    status = DriftMonitorStatus()
    announced: list[str] = []
    for i, step in enumerate(steps):
        now = T0 + timedelta(minutes=5 * i)
        if step == "blocked":
            report = blocked(spec, status, now=now, reason="PrometheusUnavailable", message="down", generation=1)
        else:
            report = run(status, EVALUATIONS[step], now=now, spec=spec)
        old, new = status.drifted, report.status.drifted
        drift_events = [e for e in report.events if e.reason in ("DriftDetected", "DriftCleared")]
        assert [e.reason for e in drift_events] == drift_event(old, new)
        assert all(e.type == ("Warning" if e.reason == "DriftDetected" else "Normal") for e in drift_events)
        announced += [e.reason for e in drift_events]
        # the state only moves on an evaluation with a verdict, and never back to unknown
        if step in ("short", "blocked"):
            assert (new, report.status.streak) == (old, status.streak)
        if old is not None:
            assert new is not None
        assert 0 <= report.status.streak < consecutive
        assert cond(report.status, "Drifted").status == {None: "Unknown", True: "True", False: "False"}[new]
        # every other event is the transition of its own condition
        expected = []
        if became(status, report.status, "InsufficientData", "True"):
            expected.append("InsufficientData")
        if became(status, report.status, "Ready", "True") and get_condition(status.conditions, "Ready"):
            expected.append("Evaluating")  # a recovery, not the first evaluation
        if became(status, report.status, "Ready", "False"):
            expected.append("PrometheusUnavailable")
        assert [e.reason for e in report.events if e not in drift_events] == expected
        status = report.status
    pairs, odd = divmod(len(announced), 2)
    assert announced == ["DriftDetected", "DriftCleared"] * pairs + ["DriftDetected"] * odd
    assert (status.drifted is True) == bool(odd)


# ---- kstatus: Reconciling while waiting, Stalled when a person must fix the configuration ---------

BLOCKED_REASONS = sorted({*WAITING_REASONS, *STALLED_REASONS} - {"InvalidSpec"})


@pytest.mark.parametrize("reason", BLOCKED_REASONS)
def test_a_blocked_monitor_is_reconciling_or_stalled(reason: str) -> None:
    report = blocked(SPEC, DriftMonitorStatus(), now=T0, reason=reason, message="why", generation=2)
    three = {
        t: (cond(report.status, t).status, cond(report.status, t).reason) for t in ("Ready", "Reconciling", "Stalled")
    }
    assert three["Ready"] == ("False", reason)
    expected = "Reconciling" if reason in WAITING_REASONS else "Stalled"
    assert three[expected] == ("True", reason)
    assert [s for s, _ in three.values()].count("True") == 1
    assert all(cond(report.status, t).observed_generation == 2 for t in three)


def test_every_reason_the_controller_blocks_with_is_classified() -> None:
    import inspect

    from modelops.controllers import driftmonitor

    source = inspect.getsource(driftmonitor)
    raised = set(re.findall(r'Blocked\(\s*"(\w+)"', source)) | set(re.findall(r'return "(Prometheus\w+)"', source))
    assert raised and raised <= set(BLOCKED_REASONS), raised - set(BLOCKED_REASONS)


def test_a_drifted_monitor_is_still_ready() -> None:
    report = chain("drifted", "drifted")[-1]
    assert report.status.drifted is True
    assert (cond(report.status, "Ready").status, cond(report.status, "Stalled").status) == ("True", "False")
