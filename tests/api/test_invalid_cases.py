"""The pydantic models refuse every invalid case the CRD refuses (one source of truth)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from modelops.api.v1alpha1 import DriftMonitorSpec, ModelDeploymentSpec, RetrainPolicySpec
from tests.api.invalid_cases import CASES, VALID, Case

SPECS: dict[str, type[BaseModel]] = {
    "ModelDeployment": ModelDeploymentSpec,
    "DriftMonitor": DriftMonitorSpec,
    "RetrainPolicy": RetrainPolicySpec,
}


def test_at_least_twelve_rules_are_covered() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 12


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_base_specs_parse(kind: str) -> None:
    SPECS[kind].model_validate(VALID[kind])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_models_refuse(case: Case) -> None:
    with pytest.raises(ValidationError) as error:
        SPECS[case.kind].model_validate(case.spec())
    if case.message:
        assert case.message in str(error.value)
