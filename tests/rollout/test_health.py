"""A ModelDeployment's Ready, Reconciling and Stalled conditions (kstatus).

The mapping is a function of the status and the version the spec asks for: checked as a table
over constructed statuses, and as invariants of the state machine under random histories
(verdicts, bake burns, pods coming and going, aborts, retries, new versions).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.analysis.checks import Verdict
from modelops.api.conditions import get_condition, set_condition, summary_of
from modelops.api.v1alpha1 import ModelDeploymentStatus
from modelops.api.v1alpha1.modeldeployment import BakeStatus, FreezeSpec, VariantStatus
from modelops.rollout.health import RECONCILING_REASONS, STALLED_REASONS, deployment_summary
from modelops.rollout.machine import Target
from modelops.rollout.sync_problems import REASONS as SYNC_REASONS
from tests.rollout.test_machine import T0, V1, V2, Sim, _burn, deployed, spec

V3 = Target("v3", "file:///m/v3.npz")
PHASES = ["Pending", "Available", "Progressing", "Paused", "Promoting", "Baking", "RolledBack", "Degraded", "Frozen"]


def _status(
    phase: str,
    *,
    ready: int = 2,
    canary: bool = False,
    bake: bool = False,
    reverting: bool = False,
    blocked: str | None = None,
    sync: str | None = None,
) -> ModelDeploymentStatus:
    s = ModelDeploymentStatus.model_validate({"phase": phase, "message": f"in {phase}"})
    s.stable = VariantStatus(version="v1", uri="u", replicas=2, ready_replicas=ready)
    if canary:
        s.canary = VariantStatus(version="v2", uri="u", variant="canary")
    if bake:
        previous = VariantStatus(version="v0", uri="u")
        s.bake = BakeStatus(until=T0, previous=previous, reverting="burn" if reverting else None)
    s.blocked_version = blocked
    if sync is not None:
        s.conditions = set_condition([], "Degraded", "True", sync, "route CRD missing", now=T0, generation=1)
    return s


def test_the_table() -> None:
    def of(status: ModelDeploymentStatus, target: str = "v1") -> tuple[str, str]:
        summary = deployment_summary(status, target)
        return summary.state, summary.reason

    assert of(_status("Available")) == ("Ready", "Serving")
    assert of(_status("Pending", ready=0)) == ("Reconciling", "Deploying")
    assert of(_status("Progressing", canary=True), "v2") == ("Reconciling", "Progressing")
    assert of(_status("Paused", canary=True), "v2") == ("Reconciling", "Paused")
    assert of(_status("Promoting", canary=True), "v2") == ("Reconciling", "Promoting")
    assert of(_status("Baking", bake=True)) == ("Reconciling", "Baking")
    assert of(_status("Baking", bake=True, reverting=True)) == ("Reconciling", "Reverting")
    assert of(_status("Available"), "v2") == ("Reconciling", "RolloutPending")  # waiting for a retiring version
    assert of(_status("Degraded", ready=0)) == ("Reconciling", "NoReadyReplicas")
    assert of(_status("RolledBack", blocked="v2"), "v2") == ("Stalled", "RolledBack")
    assert of(_status("Frozen"), "v2") == ("Stalled", "Frozen")
    for reason in SYNC_REASONS:  # whatever the rollout does, children that cannot be applied need a person
        assert of(_status("Progressing", canary=True, sync=reason), "v2") == ("Stalled", reason)
    # the spec went back to the version that serves after a rollback: nothing is blocked, it is Ready
    assert of(_status("RolledBack", blocked=None)) == ("Ready", "Serving")


@given(
    phase=st.sampled_from(PHASES),
    ready=st.integers(0, 3),
    canary=st.booleans(),
    bake=st.booleans(),
    reverting=st.booleans(),
    blocked=st.sampled_from([None, "v1", "v2"]),
    sync=st.sampled_from([None, *SYNC_REASONS]),
    target=st.sampled_from(["v1", "v2"]),
)
def test_ready_means_the_specs_version_serves_and_nothing_is_in_progress(
    *,
    phase: str,
    ready: int,
    canary: bool,
    bake: bool,
    reverting: bool,
    blocked: str | None,
    sync: str | None,
    target: str,
) -> None:
    status = _status(
        phase, ready=ready, canary=canary, bake=bake, reverting=reverting and bake, blocked=blocked, sync=sync
    )
    summary = deployment_summary(status, target)
    assert summary.reason in (*STALLED_REASONS, *RECONCILING_REASONS, "Serving")
    in_progress = canary or bake or phase == "Pending" or target != "v1" or ready == 0
    needs_person = sync is not None or (phase == "RolledBack" and blocked is not None) or phase == "Frozen"
    if summary.state == "Ready":
        assert not in_progress and not needs_person
    elif summary.state == "Stalled":
        assert needs_person and summary.reason in STALLED_REASONS
    else:
        assert in_progress and not needs_person and summary.reason in RECONCILING_REASONS


ticks = st.lists(
    st.tuples(
        st.sampled_from([Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN, None]),
        st.sampled_from([None, 0.0, 0.05]),  # the stable SLO while baking: fine, or a page-level burn
        st.integers(0, 2),  # ready replicas of every version this tick
        st.sampled_from([None, "abort", "retry", "promote"]),
        st.sampled_from([V1, V2, V3]),  # what the spec asks for
    ),
    min_size=1,
    max_size=40,
)


def _three(decision_status: ModelDeploymentStatus) -> dict[str, str]:
    return {
        t: c.status for t in ("Ready", "Reconciling", "Stalled") if (c := get_condition(decision_status.conditions, t))
    }


@settings(max_examples=200, deadline=None)
@given(ticks, st.sampled_from(["replicas", "istio"]), st.booleans())
def test_the_machine_always_says_exactly_one_state(
    sequence: list[tuple[Verdict | None, float | None, int, str | None, Target]], router: str, freeze: bool
) -> None:
    def make(**extra: Any) -> Any:
        s = spec({"router": router, "hosts": ["m"]}, bakeTime="2m", scaleDownDelay="30s", **extra)
        return s.model_copy(update={"freeze": FreezeSpec(burn_rate_above=2)}) if freeze else s

    sim = deployed(make())
    previous = sim.last
    assert previous is not None
    for i, (verdict, burn, ready, nonce, target) in enumerate(sequence):
        if nonce is not None:
            sim.spec = make(**{nonce: str(i)})
        versions = {p.version for p in previous.plans}
        decision = sim.tick(
            target, verdict, slo=None if burn is None else _burn(burn), ready=dict.fromkeys(versions, ready)
        )
        s = decision.status
        assert s.stable is not None
        three = _three(s)
        assert sorted(three) == ["Ready", "Reconciling", "Stalled"]
        assert list(three.values()).count("True") == 1, (i, s.phase, three)
        summary = summary_of(s.conditions)
        assert summary is not None
        for c in s.conditions:
            assert c.observed_generation == 1
        if s.phase == "Frozen":
            assert (summary.state, summary.reason) == ("Stalled", "Frozen")
        if summary.state == "Ready":
            assert s.canary is None and s.bake is None and s.phase == "Available"
            assert s.stable.version == target.version and s.stable.ready_replicas >= 1
        if s.canary is not None or s.bake is not None:
            assert summary.state != "Ready"
        if s.phase == "RolledBack" and s.blocked_version == target.version:
            assert (summary.state, summary.reason) == ("Stalled", "RolledBack")
            progressing = get_condition(s.conditions, "Progressing")
            assert progressing is not None and progressing.status == "False"
        previous = decision


def test_a_rollout_in_steps() -> None:
    """Serving, canary, bake, promoted: Ready only at both ends; Reconciling in between."""
    sim = deployed(spec(bakeTime="2m"))
    seen: list[tuple[str, str, str]] = []
    for _ in range(40):
        s = sim.tick(V2, Verdict.PASS).status
        summary = summary_of(s.conditions)
        assert summary is not None
        if not seen or seen[-1] != (s.phase, summary.state, summary.reason):
            seen.append((s.phase, summary.state, summary.reason))
    for _ in range(10):
        s = sim.tick(V2, step=timedelta(minutes=1), slo=_burn(0.0)).status
        summary = summary_of(s.conditions)
        assert summary is not None
        if seen[-1] != (s.phase, summary.state, summary.reason):
            seen.append((s.phase, summary.state, summary.reason))
    assert seen[0] == ("Progressing", "Reconciling", "Progressing")
    assert ("Baking", "Reconciling", "Baking") in seen
    assert seen[-1] == ("Available", "Ready", "Serving")
    assert all(state != "Ready" for _, state, _ in seen[:-1])


def test_a_rollback_is_stalled_and_a_retry_reconciles() -> None:
    sim: Any = Sim(spec(maxFailedChecks=1))
    sim.tick(V1)
    sim.tick(V1)
    for _ in range(10):
        sim.tick(V2, Verdict.FAIL)
    s = sim.status
    assert s.phase == "RolledBack"
    stalled = get_condition(s.conditions, "Stalled")
    assert stalled is not None and (stalled.status, stalled.reason) == ("True", "RolledBack")
    assert "Set spec.rollout.retry" in stalled.message
    ready = get_condition(s.conditions, "Ready")
    assert ready is not None and (ready.status, ready.reason) == ("False", "RolledBack")
    sim.spec = spec(maxFailedChecks=1, retry="1")
    s = sim.tick(V2).status
    summary = summary_of(s.conditions)
    assert summary is not None and (summary.state, summary.reason) == ("Reconciling", "Progressing")
