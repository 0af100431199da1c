"""Round trips and defaults of the API models."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelops.api.v1alpha1 import (
    Baseline,
    DriftMonitorSpec,
    ModelDeployment,
    ModelDeploymentSpec,
    RetrainPolicySpec,
)

ROOT = Path(__file__).resolve().parents[2]
SPECS = {"ModelDeployment": ModelDeploymentSpec, "DriftMonitor": DriftMonitorSpec, "RetrainPolicy": RetrainPolicySpec}


def _examples() -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    docs = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        docs += [(f"{path.name}:{d['metadata']['name']}", d) for d in yaml.safe_load_all(path.read_text())]
    return docs


@pytest.mark.parametrize(("name", "doc"), _examples(), ids=[n for n, _ in _examples()])
def test_examples_parse_and_round_trip(name: str, doc: dict) -> None:  # type: ignore[type-arg]
    if doc["kind"] == "ConfigMap":
        Baseline.model_validate_json(doc["data"]["baseline.json"])
        return
    spec = SPECS[doc["kind"]].model_validate(doc["spec"])
    again = SPECS[doc["kind"]].model_validate(spec.wire())
    assert again == spec


def test_minimal_spec_has_working_defaults() -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"name": "m", "version": "v1", "uri": "file:///m.npz"}})
    assert spec.replicas == 2 and spec.traffic.router == "replicas"
    assert [s.set_weight for s in spec.rollout.steps if s.set_weight is not None] == [10, 50]
    assert spec.analysis.slo.availability.objective == 99.9
    assert "autoscaling" not in spec.wire()  # optional blocks stay absent, not null


def test_kubernetes_spelling_of_cpu_alias() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {"model": {"name": "m", "version": "v1", "uri": "file:///m.npz"}, "autoscaling": {"maxReplicas": 4}}
    )
    assert spec.wire()["autoscaling"] == {"minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 70}


def test_status_tolerates_fields_from_newer_operators() -> None:
    obj = ModelDeployment.model_validate(
        {"spec": {"model": {"name": "m", "version": "v1", "uri": "file:///m.npz"}}, "status": {"futureField": 1}}
    )
    assert obj.status.phase == "Pending"


def test_default_drift_reference_is_last_week() -> None:
    spec = DriftMonitorSpec.model_validate({"modelDeploymentRef": {"name": "m"}})
    assert spec.reference.past is not None and spec.reference.past.offset == "7d"


def test_a_skipped_check_is_recorded_in_status_and_the_analysis_stays_three_valued() -> None:
    from pydantic import ValidationError

    from modelops.api.v1alpha1.modeldeployment import AnalysisResult, AnalysisSpec

    skipped = {"name": "invalid-vs-stable", "verdict": "Skipped", "reason": "neither version exports it"}
    result = AnalysisResult.model_validate({"time": "2026-11-28T12:00:00Z", "verdict": "Pass", "checks": [skipped]})
    assert result.checks[0].verdict == "Skipped"
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate({"time": "2026-11-28T12:00:00Z", "verdict": "Skipped"})
    spec = AnalysisSpec()
    assert spec.invalid_requests.enabled and spec.invalid_requests.max_increase == 0.01
    assert spec.model_dump(by_alias=True)["invalidRequests"] == {"enabled": True, "maxIncrease": 0.01}
