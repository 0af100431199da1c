"""The operator's series dashboards join on: each resource's series follow its latest pass, and go with it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY

from modelops.api.v1alpha1.modeldeployment import QualityStatus
from modelops.controllers import metrics, retrainpolicy, rollout
from tests.controllers.fakes import FakeKube, memo
from tests.controllers.reconcile import run_pass
from tests.controllers.test_modeldeployment_pass import model_deployment
from tests.controllers.test_retrainpolicy_pass import cluster, finish, result


def sample(metric: str, /, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def test_deployment_info_keeps_one_series_per_deployment_and_forgets_it() -> None:
    info = {"namespace": "t", "name": "d", "model": "m"}
    metrics.set_deployment(
        "t", "d", model="m", stable_version="v1", canary_version="", objectives={"availability": 0.999}
    )
    assert sample("modelops_deployment_info", **info, stable_version="v1", canary_version="") == 1
    metrics.set_deployment(
        "t", "d", model="m", stable_version="v1", canary_version="v2", objectives={"availability": 0.99, "latency": 0.9}
    )
    assert sample("modelops_deployment_info", **info, stable_version="v1", canary_version="") is None
    assert sample("modelops_deployment_info", **info, stable_version="v1", canary_version="v2") == 1
    assert sample("modelops_slo_objective_ratio", namespace="t", name="d", slo="availability") == 0.99
    assert sample("modelops_slo_objective_ratio", namespace="t", name="d", slo="latency") == 0.9
    metrics.set_deployment(
        "t", "d", model="m", stable_version="v2", canary_version="", objectives={"availability": 0.99}
    )
    assert sample("modelops_slo_objective_ratio", namespace="t", name="d", slo="latency") is None  # latency: null
    metrics.forget_deployment("t", "d")
    assert sample("modelops_deployment_info", **info, stable_version="v2", canary_version="") is None
    assert sample("modelops_slo_objective_ratio", namespace="t", name="d", slo="availability") is None


def test_drift_monitor_info_names_the_watched_deployment() -> None:
    metrics.set_drift_monitor("t", "dm", "a")
    metrics.set_drift_monitor("t", "dm", "b")
    assert sample("modelops_drift_monitor_info", namespace="t", name="dm", model_deployment="a") is None
    assert sample("modelops_drift_monitor_info", namespace="t", name="dm", model_deployment="b") == 1
    metrics.forget_monitor("t", "dm")
    assert sample("modelops_drift_monitor_info", namespace="t", name="dm", model_deployment="b") is None


def test_a_model_deployment_pass_sets_its_info_and_objectives() -> None:
    kube = FakeKube()
    kube.put(model_deployment(analysis={"slo": {"availability": {"objective": 99.5}, "latency": None}}))
    run_pass(rollout.reconcile, kube, memo(kube), "ModelDeployment", "fraud")
    labels = {"namespace": "ml", "name": "fraud", "model": "fraud", "stable_version": "v1", "canary_version": ""}
    assert sample("modelops_deployment_info", **labels) == 1
    assert sample("modelops_slo_objective_ratio", namespace="ml", name="fraud", slo="availability") == 0.995
    assert sample("modelops_slo_objective_ratio", namespace="ml", name="fraud", slo="latency") is None
    metrics.forget_deployment("ml", "fraud")


def test_a_finished_retraining_run_sets_the_last_finished_time_of_its_outcome(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"manual": "go-1"})
    m = memo(kube)
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    labels = {"namespace": "ml", "name": "rp", "model_deployment": "fraud", "outcome": "Validated"}
    assert sample("modelops_retrain_last_finished_timestamp_seconds", **labels) is None  # running: not ended
    finish(kube, "rp-1", message=result(tmp_path, "rp-1", 0.9))
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    ended = sample("modelops_retrain_last_finished_timestamp_seconds", **labels)
    assert ended is not None and ended > 1.7e9
    metrics.forget_policy("ml", "rp")
    assert sample("modelops_retrain_last_finished_timestamp_seconds", **labels) is None


def test_quality_series_follow_status_quality_and_are_judged_only_with_enough_labels() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    judged = QualityStatus(
        version="v1",
        metric="accuracy",
        value=0.91,
        objective=0.9,
        labels=500,
        label_lag_p90_seconds=30.0,
        verdict="Pass",
        evaluated_at=at,
    )
    metrics.set_quality("t", "q", judged)
    assert sample("modelops_quality_ratio", namespace="t", name="q", metric="accuracy") == 0.91
    assert sample("modelops_quality_labels", namespace="t", name="q") == 500
    assert sample("modelops_quality_label_lag_seconds", namespace="t", name="q") == 30.0
    few = judged.model_copy(update={"labels": 20, "verdict": "Unknown", "label_lag_p90_seconds": None})
    metrics.set_quality("t", "q", few)
    assert sample("modelops_quality_ratio", namespace="t", name="q", metric="accuracy") is None  # never on too few
    assert sample("modelops_quality_labels", namespace="t", name="q") == 20
    assert sample("modelops_quality_label_lag_seconds", namespace="t", name="q") is None
    metrics.set_quality("t", "q", judged)
    metrics.forget_deployment("t", "q")
    assert sample("modelops_quality_ratio", namespace="t", name="q", metric="accuracy") is None
    assert sample("modelops_quality_labels", namespace="t", name="q") is None
