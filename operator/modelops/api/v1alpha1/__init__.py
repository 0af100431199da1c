"""modelops.dev/v1alpha1: ModelDeployment, DriftMonitor, RetrainPolicy."""

from modelops.api.v1alpha1.baseline import Baseline, Distribution, FeatureBaseline
from modelops.api.v1alpha1.common import API_VERSION, GROUP, VERSION, Condition
from modelops.api.v1alpha1.driftmonitor import DriftMonitor, DriftMonitorSpec, DriftMonitorStatus
from modelops.api.v1alpha1.kinds import DRIFT_MONITOR, KINDS, MODEL_DEPLOYMENT, RETRAIN_POLICY, KindInfo
from modelops.api.v1alpha1.modeldeployment import ModelDeployment, ModelDeploymentSpec, ModelDeploymentStatus
from modelops.api.v1alpha1.retrainpolicy import RetrainPolicy, RetrainPolicySpec, RetrainPolicyStatus

__all__ = [
    "API_VERSION",
    "DRIFT_MONITOR",
    "GROUP",
    "KINDS",
    "MODEL_DEPLOYMENT",
    "RETRAIN_POLICY",
    "VERSION",
    "Baseline",
    "Condition",
    "Distribution",
    "DriftMonitor",
    "DriftMonitorSpec",
    "DriftMonitorStatus",
    "FeatureBaseline",
    "KindInfo",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "RetrainPolicy",
    "RetrainPolicySpec",
    "RetrainPolicyStatus",
]
