"""Children that cannot be applied become Degraded, kept without rewrites while they last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelops.api.conditions import get_condition, set_condition
from modelops.api.v1alpha1.common import Condition
from modelops.rollout.sync_problems import SyncProblem, carry, settle

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROUTE = SyncProblem("RouteCRDMissing", "HTTPRoute.gateway.networking.k8s.io/v1 is not served")
TAKEN = SyncProblem("ChildSyncFailed", "Service fraud exists and is not ours; leaving it alone")


def decided(status: str = "False", reason: str = "Healthy", at: datetime = T0) -> list[Condition]:
    ready = set_condition([], "Ready", "True", "Serving", "v1", now=at, generation=1)
    return set_condition(ready, "Degraded", status, reason, "", now=at, generation=1)  # type: ignore[arg-type]


def degraded(conditions: list[Condition]) -> Condition:
    found = get_condition(conditions, "Degraded")
    assert found is not None
    return found


def test_a_problem_sets_degraded_with_its_reason_and_goes_when_it_does() -> None:
    machine = decided()
    first = settle(machine, machine, [ROUTE], now=T0, generation=1)
    assert (degraded(first).status, degraded(first).reason) == ("True", "RouteCRDMissing")
    assert degraded(first).message == ROUTE.message
    later = T0 + timedelta(minutes=5)
    kept = carry(first, decided(at=later), generation=2)
    assert degraded(kept).last_transition_time == T0 and degraded(kept).observed_generation == 2
    again = settle(kept, decided(at=later), [ROUTE], now=later, generation=2)
    assert again == kept  # a lasting problem changes nothing: no write
    healed = settle(kept, decided(at=later), [], now=later, generation=2)
    assert degraded(healed) == degraded(decided(at=later))
    assert [c.type for c in healed] == ["Degraded", "Ready"]


def test_mixed_problems_are_child_sync_failed_naming_each() -> None:
    both = settle(decided(), decided(), [ROUTE, TAKEN], now=T0, generation=1)
    assert degraded(both).reason == "ChildSyncFailed" and degraded(both).message == f"{ROUTE.message}; {TAKEN.message}"


def test_only_a_sync_degraded_is_carried_over_the_machine_s_decision() -> None:
    rolled_back = decided("True", "RolledBack")
    assert carry(rolled_back, decided(), generation=1) == decided()
    assert carry([], decided(), generation=1) == decided()
    healthy_again = settle(decided("True", "RolledBack"), decided(), [], now=T0, generation=1)
    assert degraded(healthy_again).reason == "Healthy"
