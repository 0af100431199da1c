"""What each kind looks like to kubectl: names, short names, printer columns."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from modelops.api.v1alpha1.common import GROUP
from modelops.api.v1alpha1.driftmonitor import DriftMonitorSpec, DriftMonitorStatus
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from modelops.api.v1alpha1.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str | None = None


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[Column, ...]
    categories: tuple[str, ...] = field(default=("modelops",))

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


AGE = Column("Age", ".metadata.creationTimestamp", "date")

MODEL_DEPLOYMENT = KindInfo(
    kind="ModelDeployment",
    plural="modeldeployments",
    singular="modeldeployment",
    short_names=("md", "mdep"),
    description="A served ML model whose new versions roll out behind a Prometheus-judged canary.",
    spec=ModelDeploymentSpec,
    status=ModelDeploymentStatus,
    columns=(
        Column("Phase", ".status.phase", description="Lifecycle phase"),
        Column("Stable", ".status.stable.version", description="Version serving production"),
        Column("Canary", ".status.canary.version", description="Version being rolled out"),
        Column("Weight", ".status.canaryWeight", "integer", "Percent of traffic to the canary"),
        Column("Step", ".status.currentStep", "integer", "Current rollout step"),
        Column("Analysis", ".status.lastAnalysis.verdict", description="Latest analysis verdict"),
        Column(
            "Ready",
            ".status.conditions[?(@.type=='Ready')].status",
            description="The spec's version serves and nothing is in progress",
        ),
        Column(  # at 3 a.m. the reason (ModelFetchFailed, SignatureInvalid, RolledBack...) without -o wide
            "Reason",
            ".status.conditions[?(@.type=='Ready')].reason",
            description="Why it is or is not Ready",
        ),
        Column("Quality", ".status.quality.value", "number", "Stable version's quality on labels", priority=1),
        Column("Message", ".status.message", description="What is happening", priority=1),
        AGE,
    ),
)

DRIFT_MONITOR = KindInfo(
    kind="DriftMonitor",
    plural="driftmonitors",
    singular="driftmonitor",
    short_names=("dm", "drift"),
    description="Feature and prediction drift of a served model, from Prometheus histograms.",
    spec=DriftMonitorSpec,
    status=DriftMonitorStatus,
    columns=(
        Column("Model", ".spec.modelDeploymentRef.name", description="Watched ModelDeployment"),
        Column("Version", ".status.version", description="Version whose traffic is evaluated"),
        Column("Drifted", ".status.drifted", "boolean", "Whether the model drifts"),
        Column("Share", ".status.driftShare", "number", "Share of features drifting"),
        Column("Worst", ".status.worstFeature", description="Feature drifting most"),
        Column("Data", ".status.conditions[?(@.type=='InsufficientData')].status", description="InsufficientData"),
        Column("Evaluated", ".status.lastEvaluated", "date", "Last evaluation"),
        Column("Ready", ".status.conditions[?(@.type=='Ready')].status", description="The monitor evaluates"),
        Column(
            "Reason",
            ".status.conditions[?(@.type=='Ready')].reason",
            description="Why it is or is not Ready",
            priority=1,
        ),
        AGE,
    ),
)

RETRAIN_POLICY = KindInfo(
    kind="RetrainPolicy",
    plural="retrainpolicies",
    singular="retrainpolicy",
    short_names=("rp", "retrain"),
    description="Turns drift, SLO burn or a schedule into a validated retrained model.",
    spec=RetrainPolicySpec,
    status=RetrainPolicyStatus,
    columns=(
        Column("Model", ".spec.modelDeploymentRef.name", description="ModelDeployment retrained for"),
        Column("Last Run", ".status.lastRun.name", description="Newest run"),
        Column("Trigger", ".status.lastRun.trigger", description="What started it"),
        Column("Outcome", ".status.lastRun.outcome", description="How it ended"),
        Column("Validated", ".status.latestValidated.version", description="Newest validated version"),
        Column("Next", ".status.nextScheduled", "date", "Next scheduled run"),
        Column(
            "Ready",
            ".status.conditions[?(@.type=='Ready')].status",
            description="Every trigger can fire and no run is active",
        ),
        Column(
            "Reason",
            ".status.conditions[?(@.type=='Ready')].reason",
            description="Why it is or is not Ready",
            priority=1,
        ),
        AGE,
    ),
)

KINDS: tuple[KindInfo, ...] = (MODEL_DEPLOYMENT, DRIFT_MONITOR, RETRAIN_POLICY)
