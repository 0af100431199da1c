"""A pass reads Prometheus only when the machine will use it: a due canary analysis, a bake, a freeze."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelops.analysis.checks import Verdict
from modelops.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus
from modelops.rollout.machine import Target
from modelops.rollout.reads import Reads, no_prometheus, reads

T0 = datetime(2026, 1, 1, tzinfo=UTC)
V1 = Target("v1", "file:///m/v1")
V2 = Target("v2", "file:///m/v2")


def spec(**fields: Any) -> ModelDeploymentSpec:
    model = {"name": "fraud", "version": "v1", "uri": "file:///m/v1"}
    return ModelDeploymentSpec.model_validate({"model": model, "rollout": {"interval": "1m"}, **fields})


def status(**fields: Any) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate({"phase": "Available", "stable": {"version": "v1"}, **fields})


def test_a_settled_deployment_reads_nothing() -> None:
    assert reads(spec(), status(), V1, T0) == Reads(False, False, None)


def test_a_canary_is_analysed_one_interval_after_its_rollout_began() -> None:
    canary = status(phase="Progressing", canary={"version": "v2"}, rolloutStartedAt=T0)
    assert not reads(spec(), canary, V2, T0 + timedelta(seconds=30)).canary_analysis
    assert reads(spec(), canary, V2, T0 + timedelta(minutes=1)).canary_analysis


def test_a_bake_reads_the_stable_slos_of_its_own_attempt() -> None:
    bake = {"until": T0 + timedelta(hours=1), "previous": {"version": "v0"}}
    baking = status(phase="Baking", bake=bake, rolloutStartedAt=T0, lastAnalysis={"time": T0, "verdict": "Pass"})
    plan = reads(spec(), baking, V1, T0 + timedelta(minutes=1))
    assert plan == Reads(False, True, T0)


def test_a_freeze_reads_the_stable_slos_only_when_a_new_version_waits() -> None:
    frozen = spec(freeze={"burnRateAbove": 2})
    assert reads(frozen, status(), V2, T0).stable_slo
    assert not reads(frozen, status(), V1, T0).stable_slo
    assert not reads(frozen, status(phase="Pending"), V2, T0).stable_slo
    assert not reads(spec(), status(), V2, T0).stable_slo


def test_no_prometheus_is_unknown() -> None:
    analysis = no_prometheus(T0)
    assert analysis.verdict is Verdict.UNKNOWN and "no Prometheus configured" in analysis.checks[0].reason
