"""Lenient typed views of objects a controller reads but does not own.

A DriftMonitor or RetrainPolicy reads the ModelDeployment it follows, a RetrainPolicy its
DriftMonitor, a ModelDeployment its RetrainPolicy. A field the reader does not need, or one
that is invalid in the other object's spec, must not stop the reader's pass, so these views
take only the fields read, all optional, unknown ones ignored: the strict API models stay
the single source of truth for what the operator writes and accepts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class View(BaseModel):
    """camelCase on the wire, unknown fields ignored, nothing required unless said."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class MetaView(View):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    creation_timestamp: str | None = None  # kept as served: sorting needs no parse
    owner_references: list[OwnerView] | None = None

    def owned_by(self, uid: str) -> bool:
        return any(o.uid == uid for o in self.owner_references or [])


class OwnerView(View):
    uid: str | None = None


class ObjectView(View):
    """Any object, for who owns it."""

    metadata: MetaView = Field(default_factory=MetaView)


class ConditionView(View):
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = None


def find_condition(conditions: list[ConditionView] | None, type_: str) -> ConditionView:
    """The first condition of that type, or an empty one."""
    return next((c for c in conditions or [] if c.type == type_), ConditionView())


class BaselineRefView(View):
    name: str | None = None
    key: str | None = None


class ModelView(View):
    name: str | None = None
    baseline: BaselineRefView | None = None


class AnalysisView(View):
    prometheus: dict[str, Any] | None = None


class DeploymentSpecView(View):
    model: ModelView | None = None
    analysis: AnalysisView | None = None


class VariantView(View):
    version: str | None = None
    baseline: str | None = None  # the version's own baseline ConfigMap (published by a RetrainPolicy run)


class DeploymentStatusView(View):
    stable: VariantView | None = None
    canary: VariantView | None = None


class DeploymentView(View):
    """The ModelDeployment a DriftMonitor or RetrainPolicy follows. `raw_spec` is the spec as
    written, for the reader that validates it with the API model (it may be invalid)."""

    metadata: MetaView = Field(default_factory=MetaView)
    spec: DeploymentSpecView | None = None
    status: DeploymentStatusView | None = None
    raw_spec: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _keep_raw_spec(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**data, "rawSpec": dict(data.get("spec") or {})}
        return data

    @property
    def model(self) -> str:
        """The model label its servers export: spec.model.name, else the object's name."""
        model = self.spec.model if self.spec is not None else None
        return (model.name if model is not None else None) or self.metadata.name

    def variant(self, which: Literal["stable", "canary"]) -> VariantView:
        status = self.status or DeploymentStatusView()
        return getattr(status, which) or VariantView()

    @property
    def declared_baseline(self) -> tuple[str, str] | None:
        """(ConfigMap, key) of spec.model.baseline, when it names one."""
        model = self.spec.model if self.spec is not None else None
        ref = model.baseline if model is not None else None
        if ref is None or not ref.name:
            return None
        return ref.name, ref.key or "baseline.json"

    @property
    def prometheus(self) -> dict[str, Any]:
        """spec.analysis.prometheus as written (the reader validates it)."""
        analysis = self.spec.analysis if self.spec is not None else None
        return (analysis.prometheus if analysis is not None else None) or {}


class MonitorStatusView(View):
    drifted: bool | None = None
    conditions: list[ConditionView] | None = None


class MonitorView(View):
    """The DriftMonitor a RetrainPolicy's drift trigger follows."""

    status: MonitorStatusView | None = None

    @property
    def drifted(self) -> bool | None:
        return self.status.drifted if self.status is not None else None

    def condition(self, type_: str) -> ConditionView:
        return find_condition(self.status.conditions if self.status is not None else None, type_)


class ValidatedView(View):
    version: str | None = None
    uri: str | None = None
    sha256: str | None = None
    run: str | None = None
    baseline_config_map: str | None = None


class PolicyStatusView(View):
    latest_validated: ValidatedView | None = None


class RefView(View):
    name: str | None = None


class DriftTriggerView(View):
    monitor_ref: RefView | None = None


class TriggersView(View):
    drift: DriftTriggerView | None = None


class PolicySpecView(View):
    triggers: TriggersView | None = None


class PolicyView(View):
    """A RetrainPolicy as a ModelDeployment (modelFrom) or a DriftMonitor's watch sees it."""

    spec: PolicySpecView | None = None
    status: PolicyStatusView | None = None

    @property
    def drift_monitor(self) -> str | None:
        """The DriftMonitor its drift trigger follows."""
        triggers = self.spec.triggers if self.spec is not None else None
        drift = triggers.drift if triggers is not None else None
        ref = drift.monitor_ref if drift is not None else None
        return ref.name if ref is not None else None

    @property
    def latest_validated(self) -> ValidatedView | None:
        return self.status.latest_validated if self.status is not None else None
