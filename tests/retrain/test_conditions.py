"""decide() writes the Ready and Retraining conditions itself: its status is final."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelops.api.conditions import get_condition, summary_of
from modelops.api.v1alpha1.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus, RetrainRun
from modelops.retrain.conditions import policy_summary
from modelops.retrain.policy import Signals, decide

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TEMPLATE = {"template": {"spec": {"containers": [{"name": "t", "image": "x"}], "restartPolicy": "Never"}}}


def spec(**fields: object) -> RetrainPolicySpec:
    return RetrainPolicySpec.model_validate(
        {"modelDeploymentRef": {"name": "fraud"}, "jobTemplate": TEMPLATE, **fields}
    )


def test_observation_problems_and_decision_problems_make_ready_false() -> None:
    signals = Signals(T0, "fraud", "v1", problems=("no Prometheus configured: the burnRate trigger cannot fire",))
    d = decide("rp", "ml", spec(triggers={"schedule": "0 0 31 2 *"}), RetrainPolicyStatus(), signals, generation=4)
    ready = get_condition(d.status.conditions, "Ready")
    assert ready is not None and ready.status == "False" and ready.reason == "TriggerProblems"
    assert ready.message.startswith("no Prometheus configured") and "0 0 31 2 *" in ready.message
    assert ready.observed_generation == 4


def test_a_started_run_is_retraining_and_an_idle_policy_says_so() -> None:
    d = decide("rp", "ml", spec(triggers={"manual": "go"}), RetrainPolicyStatus(), Signals(T0, "fraud", "v1"))
    retraining = get_condition(d.status.conditions, "Retraining")
    assert retraining is not None and (retraining.status, retraining.message) == ("True", "rp-1 (manual)")
    idle = decide("rp", "ml", spec(), RetrainPolicyStatus(), Signals(T0, "fraud", "v1"))
    assert [(c.type, c.status, c.reason) for c in idle.status.conditions] == [
        ("Ready", "True", "Watching"),
        ("Reconciling", "False", "Reconciled"),
        ("Retraining", "False", "Idle"),
        ("Stalled", "False", "NotStalled"),
    ]


# ---- kstatus: Ready, Reconciling, Stalled ------------------------------------------------------


def _run(name: str, outcome: str, reason: str = "", trigger: str = "manual") -> RetrainRun:
    return RetrainRun.model_validate(
        {"name": name, "trigger": trigger, "outcome": outcome, "reason": reason, "version": name, "started": T0}
    )


def _state(status: RetrainPolicyStatus, problems: tuple[str, ...] = (), **fields: object) -> tuple[str, str]:
    summary = policy_summary(spec(**fields), status, problems, T0)
    return summary.state, summary.reason


def test_policy_states() -> None:
    assert _state(RetrainPolicyStatus()) == ("Ready", "Watching")
    assert _state(RetrainPolicyStatus(), ("no Prometheus configured",)) == ("Stalled", "TriggerProblems")
    running = RetrainPolicyStatus(runs=[_run("rp-2", "Running")], last_run=_run("rp-2", "Running"))
    assert _state(running) == ("Reconciling", "Retraining")
    failed = RetrainPolicyStatus(runs=[_run("rp-1", "Failed", "BackoffLimitExceeded")], last_run=_run("rp-1", "Failed"))
    assert _state(failed) == ("Stalled", "RunFailed")
    rejected = RetrainPolicyStatus(runs=[_run("rp-1", "Rejected", "auc 0.6 < 0.8")], last_run=_run("rp-1", "Rejected"))
    assert _state(rejected) == ("Stalled", "ValidationFailed")
    validated = RetrainPolicyStatus(
        runs=[_run("rp-3", "Validated"), _run("rp-1", "Failed")], last_run=_run("rp-3", "Validated")
    )
    assert _state(validated) == ("Ready", "Watching")  # a newer run that worked clears an older failure
    # the daily budget spent and a trigger skipped for it: Stalled while it stays spent
    budget = "maxRunsPerDay 1 reached; the next slot opens at 2026-11-24T11:00Z"
    spent = RetrainPolicyStatus(
        runs=[_run("skip-1", "Skipped", budget, "drift"), _run("rp-1", "Validated")],
        last_run=_run("rp-1", "Validated"),
        recent_starts=[T0 - timedelta(hours=1)],
    )
    assert _state(spent, maxRunsPerDay=1) == ("Stalled", "BudgetExhausted")
    assert _state(spent, maxRunsPerDay=2) == ("Ready", "Watching")
    cooldown = RetrainPolicyStatus(runs=[_run("skip-1", "Skipped", "cooldown until 2026-11-23T18:00:00Z")])
    assert _state(cooldown) == ("Ready", "Watching")  # a guard doing its job needs nobody
    # a problem outranks a running Job: the object says what needs a person
    assert _state(running, ("DriftMonitor 'dm' does not exist",)) == ("Stalled", "TriggerProblems")


def test_a_started_run_makes_the_policy_reconciling() -> None:
    d = decide(
        "rp", "ml", spec(triggers={"manual": "go"}), RetrainPolicyStatus(), Signals(T0, "fraud", "v1"), generation=3
    )
    summary = summary_of(d.status.conditions)
    assert summary is not None and (summary.state, summary.reason) == ("Reconciling", "Retraining")
    assert all(c.observed_generation == 3 for c in d.status.conditions)
