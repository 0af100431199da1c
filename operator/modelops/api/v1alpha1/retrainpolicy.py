"""RetrainPolicy: drift, SLO burn, a schedule or a person start a retraining Job, with guards."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from modelops.api.durations import Duration
from modelops.api.v1alpha1.common import (
    PRESERVE,
    ApiModel,
    Condition,
    LocalObjectReference,
    Nonce,
    conditions_field,
)

CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|hourly)|([^\s]+\s+){4}[^\s]+)$"
Trigger = Literal["drift", "burnRate", "performance", "schedule", "manual"]
PerformanceMetric = Literal["accuracy", "precision", "recall", "auc"]
RunOutcome = Literal["Running", "Validated", "Rejected", "Failed", "Skipped"]


class DriftTrigger(ApiModel):
    """Retrain when a DriftMonitor turns Drifted."""

    monitor_ref: LocalObjectReference = Field(description="The DriftMonitor to follow.")


class BurnRateTrigger(ApiModel):
    """Retrain when the stable version burns error budget (ticket level or above)."""

    above: float = Field(default=1.0, gt=0, description="Burn rate of the stable version that triggers a run.")
    window: Duration = Field(default=Duration("6h"), description="Window the burn rate is measured over.")


class PerformanceTrigger(ApiModel):
    """Retrain when the stable version's label-based quality drops below a floor (concept drift).

    Evaluated every `interval` from the model servers' label telemetry over `window`. A drop counts
    only when it is significant (the upper end of the one-sided 1-alpha interval is below the
    threshold) with at least `minLabels` labels; `consecutive` such evaluations in a row confirm it
    (and as many at or above the threshold clear it). Too few labels changes nothing, never fires.
    """

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.metric != 'auc' || self.threshold > 0.5",
                    "message": "an auc threshold at or below 0.5 (chance) can never detect a drop",
                }
            ]
        }
    }

    metric: PerformanceMetric = Field(
        default="accuracy",
        description=(
            "accuracy, precision or recall at the serving threshold, or auc (from the label-split score histograms)."
        ),
    )
    threshold: float = Field(gt=0, le=1, description="Fire when the metric is confidently below this value.")
    window: Duration = Field(
        default=Duration("1h"), description="Labels that arrived in this window are counted; longer than the label lag."
    )
    min_labels: int = Field(
        default=200,
        ge=1,
        le=10_000_000,
        description=(
            "Labels in the metric's denominator below which an evaluation is InsufficientLabels (never fires): all "
            "labels for accuracy, labelled positive predictions for precision, labelled positives for recall, the "
            "smaller class for auc."
        ),
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Significance of the one-sided test below threshold.")
    consecutive: int = Field(
        default=2, ge=1, le=100, description="Evaluations in a row needed to confirm a drop, and to clear it."
    )
    interval: Duration = Field(default=Duration("1m"), description="How often to evaluate.")

    @model_validator(mode="after")
    def _auc_above_chance(self) -> PerformanceTrigger:
        if self.metric == "auc" and self.threshold <= 0.5:
            raise ValueError("an auc threshold at or below 0.5 (chance) can never detect a drop")
        return self


class Triggers(ApiModel):
    """What starts a retraining run; any combination."""

    drift: DriftTrigger | None = Field(default=None, description="Follow a DriftMonitor.")
    burn_rate: BurnRateTrigger | None = Field(default=None, description="Follow the stable version's SLO burn.")
    performance: PerformanceTrigger | None = Field(
        default=None, description="Follow the stable version's quality on ground-truth labels."
    )
    schedule: str | None = Field(
        default=None,
        max_length=128,
        pattern=CRON_PATTERN,
        description="Cron schedule in UTC (5 fields, or @daily/@weekly/...).",
    )
    manual: Nonce | None = Field(
        default=None, description="Set to a new value to request a run now (`kubectl modelops retrain NAME`)."
    )


class OutputSpec(ApiModel):
    """Where a run writes its model."""

    uri_template: str = Field(
        default="file:///models/{model}/{version}",
        max_length=2048,
        description=(
            "Artifact URI for a run, any scheme spec.model.uri takes (file, http(s), pvc, s3, oci); "
            "{model}, {version}, {run} and {namespace} are substituted."
        ),
    )


class ValidationGate(ApiModel):
    """A metric a trained model must satisfy before it is offered for rollout."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.min) || has(self.max) || self.mustBeatStable",
                    "message": "a validation gate needs min, max or mustBeatStable",
                }
            ]
        }
    }

    metric: str = Field(min_length=1, max_length=128, description="Metric name in the run's result (e.g. auc).")
    min: float | None = Field(default=None, description="Smallest acceptable value.")
    max: float | None = Field(default=None, description="Largest acceptable value.")
    must_beat_stable: bool = Field(
        default=False, description="Must be at least as good as the stable version's recorded value."
    )
    higher_is_better: bool = Field(default=True, description="Direction used by mustBeatStable.")

    @model_validator(mode="after")
    def _something(self) -> ValidationGate:
        if self.min is None and self.max is None and not self.must_beat_stable:
            raise ValueError("a validation gate needs min, max or mustBeatStable")
        return self


class RetrainPolicySpec(ApiModel):
    """Desired retraining behaviour for one ModelDeployment."""

    model_deployment_ref: LocalObjectReference = Field(description="The ModelDeployment retrained for.")
    triggers: Triggers = Field(default_factory=Triggers, description="What starts a run.")
    job_template: dict[str, Any] = Field(
        description=(
            "A batch/v1 JobSpec for the trainer (any image). The operator injects MODELOPS_* "
            "environment (model, versions, output URI, trigger, data window) into every container."
        ),
        json_schema_extra=PRESERVE,
    )
    output: OutputSpec = Field(default_factory=OutputSpec, description="Where runs write models.")
    validation: list[ValidationGate] = Field(
        default_factory=list, max_length=32, description="Gates a result must pass to become latestValidated."
    )
    data_window: Duration = Field(default=Duration("7d"), description="Window of recent data the trainer should use.")
    cooldown: Duration = Field(default=Duration("6h"), description="Minimum time between the starts of two runs.")
    max_concurrent: int = Field(default=1, ge=1, le=10, description="Runs active at the same time.")
    max_runs_per_day: int = Field(default=3, ge=1, le=100, description="Runs started in any 24 hours.")
    history_limit: int = Field(default=10, ge=1, le=100, description="Runs kept in status.")
    suspend: bool = Field(default=False, description="Record triggers as skipped and start nothing.")


class ValidatedModel(ApiModel):
    """A trained model that passed its gates."""

    version: str = Field(description="Model version.")
    uri: str = Field(description="Artifact URI.")
    sha256: str | None = Field(default=None, description="Artifact checksum.")
    run: str = Field(description="The run that produced it.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Evaluation metrics of the run.")
    baseline_config_map: str | None = Field(default=None, description="ConfigMap with its training baseline.")


class RetrainRun(ApiModel):
    """One retraining run (or a skipped trigger)."""

    name: str = Field(description="Run name; the Job is named after it, so a restart never starts it twice.")
    trigger: Trigger = Field(description="What started it.")
    evidence: str = Field(default="", description="Why the trigger fired (drift summary, burn rate, schedule time).")
    outcome: RunOutcome = Field(description="Running, Validated, Rejected, Failed or Skipped.")
    reason: str = Field(default="", description="Why the run ended the way it did.")
    job: str | None = Field(default=None, description="Job name.")
    version: str | None = Field(default=None, description="Version the run produced.")
    uri: str | None = Field(default=None, description="Artifact URI the run produced.")
    sha256: str | None = Field(default=None, description="Artifact checksum.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Evaluation metrics reported by the trainer.")
    started: datetime | None = Field(default=None, description="When the run (or skip) happened.")
    finished: datetime | None = Field(default=None, description="When the run ended.")


class PerformanceState(ApiModel):
    """The performance trigger's last evaluation and its hysteresis."""

    dropped: bool | None = Field(
        default=None, description="Whether a drop is confirmed (null: not known yet, e.g. too few labels so far)."
    )
    streak: int = Field(default=0, description="Evaluations in a row disagreeing with `dropped` (hysteresis).")
    verdict: str = Field(
        default="",
        description="Last evaluation: Below, AtOrAbove, Inconclusive (below, not significantly), InsufficientLabels.",
    )
    version: str | None = Field(default=None, description="The stable version evaluated.")
    metric: str = Field(default="", description="The metric evaluated.")
    value: float | None = Field(default=None, description="Its value over the window (null without labels).")
    threshold: float | None = Field(default=None, description="The trigger's threshold.")
    labels: int = Field(default=0, description="Labels in the metric's denominator.")
    window: str = Field(default="", description="The window evaluated.")
    query: str = Field(default="", description="The PromQL the value came from.")
    message: str = Field(default="", description="The evaluation in words.")
    last_evaluated: datetime | None = Field(default=None, description="When it was evaluated.")


class RetrainPolicyStatus(ApiModel):
    """Observed retraining state."""

    model_config = {"extra": "ignore"}

    observed_generation: int | None = Field(default=None, description="Generation of the spec last reconciled.")
    runs: list[RetrainRun] = Field(default_factory=list, description="Recent runs and skipped triggers, newest first.")
    last_run: RetrainRun | None = Field(default=None, description="The newest run that was started.")
    next_scheduled: datetime | None = Field(default=None, description="Next time the schedule fires.")
    latest_validated: ValidatedModel | None = Field(default=None, description="Newest model that passed validation.")
    acknowledged_manual: str | None = Field(default=None, description="Last manual nonce acted on.")
    acknowledged_drift: datetime | None = Field(
        default=None, description="Start of the last drift episode acted on (the DriftMonitor's Drifted transition)."
    )
    burn_firing: bool = Field(default=False, description="Whether the burn-rate trigger is above its threshold.")
    performance: PerformanceState | None = Field(
        default=None, description="The performance trigger's last evaluation (with its evidence) and hysteresis."
    )
    schedule: str | None = Field(default=None, description="The schedule nextScheduled was computed from.")
    run_count: int = Field(default=0, description="Runs started so far; the next run is named after count + 1.")
    consecutive_failures: int = Field(default=0, description="Failed runs in a row; each doubles the cooldown.")
    recent_starts: list[datetime] = Field(
        default_factory=list, max_length=100, description="Start times of the runs of the last 24 hours (guards)."
    )
    skip_count: int = Field(default=0, description="Triggers skipped so far (names the skipped records).")
    conditions: list[Condition] = conditions_field()


class RetrainPolicy(ApiModel):
    """Turns drift, SLO burn or a schedule into a validated retrained model."""

    model_config = {"extra": "ignore"}

    api_version: str = Field(default="modelops.dev/v1alpha1", description="modelops.dev/v1alpha1")
    kind: str = Field(default="RetrainPolicy", description="RetrainPolicy")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: RetrainPolicySpec = Field(description="Desired state.")
    status: RetrainPolicyStatus = Field(default_factory=RetrainPolicyStatus, description="Observed state.")
