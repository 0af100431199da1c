"""decide() writes the Ready and Retraining conditions itself: its status is final."""

from __future__ import annotations

from datetime import UTC, datetime

from modelops.api.conditions import get_condition
from modelops.api.v1alpha1.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus
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
