"""ModelDeployment handlers."""

from __future__ import annotations

import kopf

from modelops.api.v1alpha1 import MODEL_DEPLOYMENT, ModelDeploymentSpec
from modelops.controllers.admission import register


def _initial_phase(spec: ModelDeploymentSpec, body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger) -> None:
    if not (body.get("status") or {}).get("phase"):
        patch.status["phase"] = "Pending"


register(MODEL_DEPLOYMENT, ModelDeploymentSpec, _initial_phase)
