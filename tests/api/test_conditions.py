from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from modelops.api.conditions import explain_validation, get_condition, set_condition
from modelops.api.v1alpha1 import ModelDeploymentSpec

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
