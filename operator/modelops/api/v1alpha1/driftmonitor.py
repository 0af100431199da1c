"""DriftMonitor: feature and prediction drift from Prometheus histograms against a reference."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from modelops.api.durations import Duration
from modelops.api.v1alpha1.baseline import Baseline
from modelops.api.v1alpha1.common import (
    ApiModel,
    Condition,
    ConfigMapKeyReference,
    LocalObjectReference,
    conditions_field,
)

Correction = Literal["bh", "bonferroni", "none"]


class FeatureSelector(ApiModel):
    """A feature to monitor."""

    name: str = Field(min_length=1, max_length=128, description="Feature name (the `feature` label).")
    type: Literal["numeric", "categorical"] = Field(default="numeric", description="numeric or categorical.")


class PastWindow(ApiModel):
    """Compare with the same series some time ago (e.g. same hour last week)."""

    offset: Duration = Field(default=Duration("7d"), description="How far back the reference window ends.")


class ServedBaseline(ApiModel):
    """The training baseline of the version being watched, whichever it is now."""


class ReferenceSource(ApiModel):
    """Exactly one source of the reference distribution."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.configMapRef), has(self.inline), has(self.past), has(self.served)]"
                    ".filter(x, x).size() == 1",
                    "message": "reference needs exactly one of configMapRef, inline, past, served",
                }
            ]
        }
    }

    config_map_ref: ConfigMapKeyReference | None = Field(
        default=None, description="ConfigMap key holding a baseline document (as written by `modelops train`)."
    )
    inline: Baseline | None = Field(default=None, description="A baseline document inline.")
    past: PastWindow | None = Field(default=None, description="The same series in a past window.")
    served: ServedBaseline | None = Field(
        default=None,
        description=(
            "The baseline of the version being watched: the ConfigMap its RetrainPolicy run published, else the "
            "ModelDeployment's spec.model.baseline. Follows each promotion without editing this spec."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ReferenceSource:
        if sum(x is not None for x in (self.config_map_ref, self.inline, self.past, self.served)) != 1:
            raise ValueError("reference needs exactly one of configMapRef, inline, past, served")
        return self


class EffectFloor(ApiModel):
    """Smallest drift that matters, whatever the p-value says."""

    psi: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Population stability index a drifting feature must reach, after its sampling noise "
            "(buckets - 1)(1/n + 1/N) is taken off."
        ),
    )


class DriftMonitorSpec(ApiModel):
    """Desired drift monitoring of one ModelDeployment."""

    model_deployment_ref: LocalObjectReference = Field(description="The ModelDeployment whose traffic is watched.")
    variant: Literal["stable", "canary"] = Field(default="stable", description="Which variant's traffic to watch.")
    features: list[FeatureSelector] = Field(
        default_factory=list,
        max_length=1000,
        description="Features to watch; empty means every feature in the reference.",
    )
    reference: ReferenceSource = Field(
        default_factory=lambda: ReferenceSource(past=PastWindow()),
        description="What production is compared with; default the same window a week earlier.",
    )
    window: Duration = Field(
        default=Duration("1h"), description="Window of production traffic each evaluation looks at."
    )
    interval: Duration = Field(default=Duration("5m"), description="How often to evaluate.")
    min_samples: int = Field(
        default=200, ge=1, description="Observations per feature below which it is InsufficientData."
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level after multiple-testing correction.")
    correction: Correction = Field(
        default="bh", description="Multiple-testing correction: bh (Benjamini-Hochberg), bonferroni or none."
    )
    effect_floor: EffectFloor = Field(default_factory=EffectFloor, description="Minimum effect size to call drift.")
    drift_share: float = Field(
        default=0.5, gt=0, le=1, description="Share of features that must drift for the model to be Drifted."
    )
    consecutive: int = Field(
        default=2, ge=1, le=100, description="Evaluations in a row needed to turn Drifted, and to clear it."
    )
    predictions: bool = Field(default=True, description="Also test the prediction distribution.")


class FeatureDrift(ApiModel):
    """One feature's test result."""

    name: str = Field(description="Feature name.")
    test: str = Field(default="", description="Statistical test used (chi2, chi2-categorical).")
    p_value: float | None = Field(default=None, description="Raw p-value.")
    adjusted_p_value: float | None = Field(default=None, description="p-value after correction.")
    ks: float | None = Field(default=None, description="KS statistic on the cumulative buckets.")
    psi: float | None = Field(default=None, description="Population stability index.")
    js: float | None = Field(default=None, description="Jensen-Shannon distance.")
    wasserstein: float | None = Field(default=None, description="Binned Wasserstein distance.")
    samples: int = Field(default=0, description="Observations in the window.")
    drifted: bool = Field(
        default=False, description="Adjusted p < alpha and PSI less its sampling noise >= the effect floor."
    )
    insufficient_data: bool = Field(default=False, description="Fewer than minSamples observations.")
    error: str | None = Field(default=None, description="Why the feature could not be evaluated.")


class DriftMonitorStatus(ApiModel):
    """Observed drift."""

    model_config = {"extra": "ignore"}

    observed_generation: int | None = Field(default=None, description="Generation of the spec last reconciled.")
    drifted: bool | None = Field(default=None, description="Whether the model is drifting (null: not yet known).")
    drift_share: float | None = Field(default=None, description="Share of evaluated features that drift.")
    worst_feature: str | None = Field(default=None, description="The feature with the largest drift.")
    version: str | None = Field(default=None, description="Model version whose traffic was evaluated.")
    reference: str | None = Field(default=None, description="What that traffic was compared with.")
    streak: int = Field(default=0, description="Consecutive evaluations disagreeing with `drifted` (hysteresis).")
    last_evaluated: datetime | None = Field(default=None, description="Time of the last evaluation.")
    features: list[FeatureDrift] = Field(default_factory=list, description="Per-feature results, worst first.")
    prediction: FeatureDrift | None = Field(default=None, description="Prediction distribution result.")
    conditions: list[Condition] = conditions_field()


class DriftMonitor(ApiModel):
    """Feature and prediction drift of a served model, from Prometheus histograms."""

    model_config = {"extra": "ignore"}

    api_version: str = Field(default="modelops.dev/v1alpha1", description="modelops.dev/v1alpha1")
    kind: str = Field(default="DriftMonitor", description="DriftMonitor")
    metadata: dict[str, object] = Field(default_factory=dict, description="Standard object metadata.")
    spec: DriftMonitorSpec = Field(description="Desired state.")
    status: DriftMonitorStatus = Field(default_factory=DriftMonitorStatus, description="Observed state.")
