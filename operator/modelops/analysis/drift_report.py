"""A DriftMonitor's status, conditions and events from one evaluation (pure: values in, values out).

The controller gathers (ModelDeployment, reference, Prometheus answers), then calls
`evaluated` when it could compare, or `blocked` when it could not. Both keep everything the
next pass needs in the status (the hysteresis streak, the time of the last evaluation), and
both return only the events of transitions, so a steady monitor posts nothing.

Conditions:
- Ready: the monitor evaluates (ModelDeployment found, reference readable, Prometheus answering).
  Otherwise Ready=False with the reason, and either Reconciling=True (waiting for something that
  comes by itself: a serving version, past data, Prometheus back) or Stalled=True (configuration a
  person must fix). Drift is a finding, not a failure: a Drifted monitor is still Ready.
- Drifted: True/False after hysteresis, Unknown until the first conclusive evaluation.
- InsufficientData: some selected features had fewer than minSamples observations.
- Degraded: some features could not be compared at all (edges that do not match, missing series).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelops.analysis.drift import PREDICTION, DriftEvaluation, FeatureResult, next_state, to_status
from modelops.api.conditions import (
    Status,
    Summary,
    get_condition,
    ready,
    reconciling,
    set_condition,
    stalled,
    summarize,
)
from modelops.api.events import Event
from modelops.api.v1alpha1.driftmonitor import DriftMonitorSpec, DriftMonitorStatus

MAX_NAMED = 5  # features named in a condition message or event
MAX_STATUS_FEATURES = 1000  # the spec caps features at 1,000 too: status stays well under etcd's 1.5 MB


@dataclass(frozen=True)
class Report:
    status: DriftMonitorStatus
    events: list[Event] = field(default_factory=list)


def _label(name: str) -> str:
    return "predictions" if name == PREDICTION else name


def _names(features: list[FeatureResult], describe: bool = False) -> str:
    shown = []
    for f in features[:MAX_NAMED]:
        label = _label(f.name)
        if describe and f.psi is not None and f.adjusted_p_value is not None:
            label += f" (PSI {f.psi:.2f}, adjusted p {f.adjusted_p_value:.1e})"
        elif describe and f.error is not None:
            label += f": {f.error}"
        shown.append(label)
    more = len(features) - MAX_NAMED
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


@dataclass
class _Conditions:
    """Sets conditions on `status` and tells which ones changed (status or reason) since `previous`."""

    previous: DriftMonitorStatus
    status: DriftMonitorStatus
    now: datetime
    generation: int | None

    def set(self, type_: str, status: Status, reason: str, message: str) -> bool:
        old = get_condition(self.previous.conditions, type_)
        self.status.conditions = set_condition(
            self.status.conditions, type_, status, reason, message, now=self.now, generation=self.generation
        )
        return old is None or (old.status, old.reason) != (status, reason)

    def summarize(self, summary: Summary) -> bool:
        """Ready, Reconciling, Stalled from `summary`; whether Ready's status or reason changed."""
        old = get_condition(self.previous.conditions, "Ready")
        self.status.conditions = summarize(self.status.conditions, summary, now=self.now, generation=self.generation)
        new = get_condition(self.status.conditions, "Ready")
        assert new is not None
        return old is None or (old.status, old.reason) != (new.status, new.reason)


# Why an evaluation could not run, as kstatus sees the monitor: these wait for something that comes
# on its own (a version to serve, history in the past window, Prometheus back); every other reason
# is configuration a person must fix (a missing or unreadable reference, no or refused Prometheus,
# no such ModelDeployment), so the monitor is Stalled with it.
WAITING_REASONS = frozenset({"NoVersion", "NoReferenceData", "PrometheusUnavailable"})
STALLED_REASONS = (
    "InvalidSpec",
    "ModelDeploymentNotFound",
    "NoBaseline",
    "ReferenceNotFound",
    "InvalidReference",
    "InvalidPrometheusSource",
    "NoPrometheus",
    "PrometheusUnauthorized",
    "PrometheusCredentialsUnavailable",
)


def blocked_summary(reason: str, message: str) -> Summary:
    """Reconciling while waiting for something that comes by itself, else Stalled (needs a person)."""
    return reconciling(reason, message) if reason in WAITING_REASONS else stalled(reason, message)


def no_histograms_hint(evaluation: DriftEvaluation, *, has_baseline: bool, deployment: str) -> str | None:
    """The likely cause when numeric features could not be compared: without a baseline, a
    ModelDeployment's servers have no bucket edges, so they export no feature histograms."""
    if has_baseline or not any(f.type == "numeric" for f in evaluation.errors):
        return None
    return f"ModelDeployment {deployment!r} sets no spec.model.baseline, so its servers export no feature histograms"


def evaluated(
    spec: DriftMonitorSpec,
    previous: DriftMonitorStatus,
    evaluation: DriftEvaluation,
    *,
    now: datetime,
    version: str,
    reference: str,
    generation: int | None,
    hint: str | None = None,
) -> Report:
    """Status after a completed evaluation of `version` against `reference` (a description).

    `hint` is appended to the Degraded message when features could not be compared (what the
    controller knows about the likely cause)."""
    drifted, streak = next_state(previous.drifted, previous.streak, evaluation, spec.drift_share, spec.consecutive)
    results = to_status(evaluation)
    prediction = next((r for r in results if r.name == PREDICTION), None)
    features = [r for r in results if r.name != PREDICTION][:MAX_STATUS_FEATURES]
    status = previous.model_copy(
        update={
            "drifted": drifted,
            "streak": streak,
            "drift_share": None if evaluation.drift_share is None else round(evaluation.drift_share, 4),
            "worst_feature": evaluation.worst_feature,
            "last_evaluated": now,
            "version": version,
            "reference": reference,
            "features": features,
            "prediction": prediction,
            "observed_generation": generation,
        }
    )
    events: list[Event] = []
    conditions = _Conditions(previous, status, now, generation)
    tested = [f for f in evaluation.features if f.tested]
    hits = [f for f in tested if f.drifted]
    share = evaluation.drift_share
    threshold = f"driftShare {spec.drift_share:g}"
    if share is None:
        drift_reason, drift_message = "InsufficientData", "nothing could be tested in this window"
    else:
        summary = f"{len(hits)} of {len(tested)} tested features drift (share {share:.2f}, {threshold})"
        drift_message = summary + (f": {_names(hits, describe=True)}" if hits else "")
        if drifted is None:
            drift_reason = "Pending"
        elif streak:
            drift_reason = "Confirming"
            drift_message += f"; {streak} of {spec.consecutive} evaluations to {'clear' if drifted else 'confirm'}"
        else:
            drift_reason = "DriftDetected" if drifted else "NoDrift"
    drift_status: Status = "Unknown" if drifted is None else ("True" if drifted else "False")
    old_drifted = previous.drifted
    conditions.set("Drifted", drift_status, drift_reason, drift_message)
    if drifted and not old_drifted:
        events.append(Event("Warning", "DriftDetected", f"{version}: {drift_message}"))
    elif drifted is False and old_drifted:
        events.append(Event("Normal", "DriftCleared", f"{version}: {drift_message}"))

    short = [f for f in evaluation.features if f.insufficient_data]
    if short:
        counts = ", ".join(f"{_label(f.name)} {f.samples}" for f in short[:MAX_NAMED])
        counts += f" and {len(short) - MAX_NAMED} more" if len(short) > MAX_NAMED else ""
        below = f"{len(short)} feature(s) below minSamples {spec.min_samples} in the last {spec.window}"
        message = f"{below}: {counts}" + ("" if tested else "; no verdict from this window")
        if conditions.set("InsufficientData", "True", "TooFewSamples", message):
            events.append(Event("Normal", "InsufficientData", message))
    else:
        enough = f"every tested feature had at least {spec.min_samples} observations"
        conditions.set("InsufficientData", "False", "EnoughSamples", enough)

    errors = list(evaluation.errors)
    if errors:
        message = f"{len(errors)} feature(s) could not be compared: {_names(errors, describe=True)}"
        message += f" ({hint})" if hint else ""
        if conditions.set("Degraded", "True", "FeatureErrors", message):
            events.append(Event("Warning", "FeatureErrors", message[:1000]))
    else:
        conditions.set("Degraded", "False", "AllFeaturesReadable", "every selected feature was compared")
    ready_message = f"evaluating {version} against {reference} every {spec.interval} over {spec.window}"
    recovered = get_condition(previous.conditions, "Ready") is not None  # not just started
    if conditions.summarize(ready("Evaluating", ready_message)) and recovered:
        events.append(Event("Normal", "Evaluating", ready_message))
    return Report(status, events)


def blocked(
    spec: DriftMonitorSpec,
    previous: DriftMonitorStatus,
    *,
    now: datetime,
    reason: str,
    message: str,
    generation: int | None,
    version: str | None = None,
) -> Report:
    """Status when no evaluation could run. Drifted and the streak are kept as they were: not being
    able to look is neither drift nor its absence."""
    status = previous.model_copy(update={"observed_generation": generation})
    if version is not None:
        status.version = version
    events = []
    conditions = _Conditions(previous, status, now, generation)
    if conditions.summarize(blocked_summary(reason, message)):
        events.append(Event("Warning", reason, message[:1000]))
    if status.last_evaluated is None:
        conditions.set("Drifted", "Unknown", reason, "no evaluation yet: " + message)
    return Report(status, events)


def due_in(spec_interval_s: float, status: DriftMonitorStatus, now: datetime, generation: int | None) -> float:
    """Seconds until the next evaluation is due (0: now). A spec change makes it due at once, and so
    does a failed last attempt (Ready=False): the caller paces those retries."""
    ready = get_condition(status.conditions, "Ready")
    if (
        status.last_evaluated is None
        or status.observed_generation != generation
        or ready is None
        or ready.status != "True"
    ):
        return 0.0
    elapsed = (now - status.last_evaluated).total_seconds()
    return max(0.0, spec_interval_s - elapsed)
