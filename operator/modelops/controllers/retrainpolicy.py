"""RetrainPolicy handlers."""

from __future__ import annotations

from modelops.api.v1alpha1 import RETRAIN_POLICY, RetrainPolicySpec
from modelops.controllers.admission import register

register(RETRAIN_POLICY, RetrainPolicySpec)
