"""status.quality, the Quality condition, the bake's quality check, and when the stable quality is read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelops.analysis.checks import CheckResult, Verdict
from modelops.analysis.quality import QualityReading
from modelops.analysis.slo import StableSLOs
from modelops.api.conditions import get_condition
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.rollout.machine import RolloutObservations, Target, decide
from modelops.rollout.reads import reads
from tests.rollout.test_machine import V1, V2, Sim, _baking, _burn, deployed

QUALITY = {"metric": "accuracy", "objective": 0.8}


def quality_spec(**slo: Any) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {
            "model": {"name": "fraud", "version": "v1", "uri": "file:///m/v1.npz"},
            "rollout": {"interval": "1m", "bakeTime": "10m"},
            "analysis": {"slo": {"quality": {**QUALITY, **slo}}},
        }
    )


def reading(version: str, verdict: Verdict, value: float | None = 0.9, labels: int = 500) -> QualityReading:
    check = CheckResult("quality", verdict, value, "accuracy >= 0.8", labels, "q", f"accuracy {value} ({version})")
    return QualityReading(
        version=version,
        metric="accuracy",
        objective=0.8,
        window=timedelta(hours=1),
        labels=labels,
        value=value,
        label_lag_p90=42.0,
        check=check,
    )


def observe(sim: Sim, found: QualityReading | None, *, slo: Any = None, target: Target = V1) -> None:
    sim.now += timedelta(seconds=20)
    planned = {p.version: p.replicas for p in sim.last.plans} if sim.last else {}
    obs = RolloutObservations(ready=planned, stable_slo=slo, quality=found)
    sim.last = decide(sim.spec, sim.status, target, obs, sim.now, generation=1)
    sim.status = sim.last.status


def test_a_reading_becomes_status_and_condition() -> None:
    sim = deployed(quality_spec())
    observe(sim, reading("v1", Verdict.PASS))
    q = sim.status.quality
    assert q is not None and q.value == 0.9 and q.labels == 500 and q.label_lag_p90_seconds == 42.0
    assert q.window == "1h" and q.verdict == "Pass" and q.evaluated_at == sim.now
    condition = get_condition(sim.status.conditions, "Quality")
    assert condition is not None and (condition.status, condition.reason) == ("True", "MeetsObjective")
    observe(sim, None)  # no new reading: the last one stays
    assert sim.status.quality == q
    observe(sim, reading("v1", Verdict.UNKNOWN, 0.95, labels=20))
    condition = get_condition(sim.status.conditions, "Quality")
    assert condition is not None and (condition.status, condition.reason) == ("Unknown", "InsufficientData")
    assert sim.status.quality is not None and sim.status.quality.verdict == "Unknown"
    observe(sim, reading("v1", Verdict.FAIL, 0.5))
    condition = get_condition(sim.status.conditions, "Quality")
    assert condition is not None and (condition.status, condition.reason) == ("False", "BelowObjective")
    assert sim.status.phase == "Available"  # a stable version below its objective alerts; nothing rolls back


def test_without_a_quality_slo_there_is_no_status_or_condition() -> None:
    sim = deployed(quality_spec())
    observe(sim, reading("v1", Verdict.PASS))
    sim.spec = ModelDeploymentSpec.model_validate(
        {"model": {"name": "fraud", "version": "v1", "uri": "file:///m/v1.npz"}}
    )
    observe(sim, reading("v1", Verdict.PASS))
    assert sim.status.quality is None and get_condition(sim.status.conditions, "Quality") is None


def test_quality_below_objective_during_bake_reverts() -> None:
    sim = _baking(quality_spec())
    sim.tick(V2, slo=_burn(0.0))
    assert sim.status.phase == "Baking"
    sim.now += timedelta(seconds=40)
    planned = {p.version: p.replicas for p in sim.last.plans}  # type: ignore[union-attr]
    obs = RolloutObservations(ready=planned, stable_slo=sim_slo(), quality=reading("v2", Verdict.FAIL, 0.4))
    sim.last = decide(sim.spec, sim.status, V2, obs, sim.now, generation=1)
    sim.status = sim.last.status
    assert sim.status.phase == "RolledBack" and sim.status.history[0].outcome == "Reverted"
    assert "quality below objective during bake" in sim.status.history[0].reason
    assert sim.status.blocked_version == "v2"
    checks = {c.name: c.verdict for c in sim.status.last_analysis.checks}  # type: ignore[union-attr]
    assert checks["quality"] == "Fail" and sim.status.last_analysis.verdict == "Fail"  # type: ignore[union-attr]


def test_too_few_labels_during_bake_is_shown_but_does_not_hold_it() -> None:
    sim = _baking(quality_spec())
    for _ in range(12):
        sim.now += timedelta(minutes=1)
        planned = {p.version: p.replicas for p in sim.last.plans}  # type: ignore[union-attr]
        few = reading("v2", Verdict.UNKNOWN, 0.9, labels=10)
        obs = RolloutObservations(ready=planned, stable_slo=sim_slo(), quality=few)
        sim.last = decide(sim.spec, sim.status, V2, obs, sim.now, generation=1)
        sim.status = sim.last.status
        if sim.status.bake is None:
            break
    assert sim.status.phase == "Available" and sim.status.stable.version == "v2"  # type: ignore[union-attr]
    checks = {c.name: c.verdict for c in sim.status.last_analysis.checks}  # type: ignore[union-attr]
    assert checks["quality"] == "Unknown"


def test_a_reading_of_another_version_does_not_revert_the_bake() -> None:
    sim = _baking(quality_spec())
    sim.now += timedelta(minutes=1)
    planned = {p.version: p.replicas for p in sim.last.plans}  # type: ignore[union-attr]
    obs = RolloutObservations(ready=planned, stable_slo=sim_slo(), quality=reading("v1", Verdict.FAIL, 0.4))
    sim.last = decide(sim.spec, sim.status, V2, obs, sim.now, generation=1)
    assert sim.last.status.phase == "Baking"


def sim_slo() -> StableSLOs:
    return StableSLOs({"availability": _burn(0.0)})


def test_the_stable_quality_is_read_once_an_interval_and_with_the_bake() -> None:
    sim = deployed(quality_spec())
    plain = deployed()
    assert not reads(plain.spec, plain.status, V1, sim.now).quality
    assert reads(sim.spec, sim.status, V1, sim.now).quality  # never read yet
    observe(sim, reading("v1", Verdict.PASS))
    assert not reads(sim.spec, sim.status, V1, sim.now + timedelta(seconds=30)).quality
    assert reads(sim.spec, sim.status, V1, sim.now + timedelta(minutes=1)).quality
    baking = _baking(quality_spec())
    observe(baking, reading("v2", Verdict.PASS), slo=sim_slo(), target=V2)
    plan = reads(baking.spec, baking.status, V2, baking.now + timedelta(minutes=1))
    assert plan.quality and plan.stable_slo and plan.slo_since == baking.status.rollout_started_at
