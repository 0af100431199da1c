from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from modelops.api.conditions import (
    SUMMARY_TYPES,
    Summary,
    explain_validation,
    get_condition,
    set_condition,
    summarize,
    summary_of,
)
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.api.v1alpha1.common import Condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_transition_time_moves_only_when_status_changes() -> None:
    first = set_condition([], "Ready", "False", "Pending", "waiting", now=T0, generation=1)
    same = set_condition(
        first, "Ready", "False", "Pending", "still waiting", now=T0 + timedelta(minutes=5), generation=2
    )
    assert get_condition(same, "Ready").last_transition_time == T0  # type: ignore[union-attr]
    flipped = set_condition(same, "Ready", "True", "Available", "ok", now=T0 + timedelta(minutes=9), generation=2)
    assert get_condition(flipped, "Ready").last_transition_time == T0 + timedelta(minutes=9)  # type: ignore[union-attr]


statuses = st.sampled_from(["True", "False", "Unknown"])


@given(st.lists(st.tuples(st.sampled_from(["Ready", "Accepted", "Degraded"]), statuses), max_size=20))
def test_one_condition_per_type_and_idempotent(updates: list[tuple[str, str]]) -> None:
    conditions: list = []
    for type_, status in updates:
        conditions = set_condition(conditions, type_, status, "R", "m", now=T0, generation=1)  # type: ignore[arg-type]
    types = [c.type for c in conditions]
    assert types == sorted(set(types))
    for c in list(conditions):
        again = set_condition(conditions, c.type, c.status, c.reason, c.message, now=T0 + timedelta(1), generation=1)
        assert again == conditions  # re-applying the same state writes nothing new


def test_validation_errors_name_the_field_as_the_user_wrote_it() -> None:
    try:
        ModelDeploymentSpec.model_validate({"model": {"name": "m", "version": "v1", "uri": "ftp://x"}, "replicas": 0})
    except ValidationError as error:
        text = explain_validation(error)
    assert "spec.model.uri:" in text and "spec.replicas:" in text


# ---- Ready, Reconciling, Stalled ----------------------------------------------------------------

summaries = st.builds(
    Summary,
    st.sampled_from(["Ready", "Reconciling", "Stalled"]),
    st.sampled_from(["Serving", "Progressing", "RolledBack", "InvalidSpec"]),
    st.text(max_size=20),
)


@given(st.lists(st.tuples(summaries, st.integers(1, 5)), min_size=1, max_size=15))
def test_exactly_one_of_ready_reconciling_stalled_is_true(history: list[tuple[Summary, int]]) -> None:
    conditions: list = [Condition(type="Accepted", status="True", reason="Valid", message="", last_transition_time=T0)]
    now = T0
    for summary, generation in history:
        now += timedelta(minutes=1)
        before = {c.type: c for c in conditions}
        conditions = summarize(conditions, summary, now=now, generation=generation)
        three = {c.type: c for c in conditions if c.type in SUMMARY_TYPES}
        assert sorted(three) == ["Ready", "Reconciling", "Stalled"]
        assert [c.status for c in three.values()].count("True") == 1
        assert three[summary.state].status == "True" and three[summary.state].reason == summary.reason
        assert three[summary.state].message == summary.message
        if summary.state != "Ready":  # kstatus: Ready=False says why while reconciling or stalled
            assert (three["Ready"].reason, three["Ready"].message) == (summary.reason, summary.message)
        assert all(c.observed_generation == generation for c in three.values())
        assert summary_of(conditions) == summary
        for type_, c in three.items():  # the transition time moves only when the status does
            old = before.get(type_)
            if old is not None and old.status == c.status:
                assert c.last_transition_time == old.last_transition_time
        assert get_condition(conditions, "Accepted") is not None  # other conditions are kept
        assert summarize(conditions, summary, now=now, generation=generation) == conditions  # idempotent


def test_summary_of_needs_exactly_one_true() -> None:
    both = [
        Condition(type="Reconciling", status="True", reason="a", message="", last_transition_time=T0),
        Condition(type="Stalled", status="True", reason="b", message="", last_transition_time=T0),
    ]
    assert summary_of(both) is None and summary_of([]) is None
