"""RetrainPolicy passes against the in-memory Kube: triggers (manual, drift, burn rate from a fake
Prometheus) start a Job; the finished Job's pods give the result, its gates the outcome, and a
validated model's baseline beside its artifact becomes a ConfigMap named in latestValidated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelops.api.v1alpha1 import API_VERSION
from modelops.controllers import retrainpolicy
from tests.controllers.fakes import FakeKube, FakePrometheus, by_pattern, memo
from tests.controllers.reconcile import run_pass

NS = "ml"
BASELINE = {"features": [{"name": "x", "edges": [0.0, 1.0], "counts": [5, 5, 5]}]}
DRIFTED = {"type": "Drifted", "status": "True", "message": "x drifts", "lastTransitionTime": "2026-01-01T00:00:00Z"}
JOB_TEMPLATE = {"template": {"spec": {"containers": [{"name": "train", "image": "t"}], "restartPolicy": "Never"}}}


def cluster(tmp_path: Path, **spec: Any) -> FakeKube:
    kube = FakeKube()
    kube.put(
        {
            "apiVersion": API_VERSION,
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud", "namespace": NS},
            "spec": {"model": {"name": "fraud-model", "version": "v1", "uri": "file:///m/v1.npz"}},
            "status": {"stable": {"version": "v1"}},
        }
    )
    kube.put(
        {
            "apiVersion": API_VERSION,
            "kind": "RetrainPolicy",
            "metadata": {"name": "rp", "namespace": NS},
            "spec": {
                "modelDeploymentRef": {"name": "fraud"},
                "jobTemplate": JOB_TEMPLATE,
                "output": {"uriTemplate": f"file://{tmp_path}/{{version}}/model.npz"},
                "validation": [{"metric": "auc", "min": 0.8}],
                **spec,
            },
        }
    )
    return kube


def status(kube: FakeKube) -> dict[str, Any]:
    body = kube.find("RetrainPolicy", "rp")
    assert body is not None
    return dict(body["status"])


def condition(kube: FakeKube, type_: str) -> dict[str, Any]:
    return next(c for c in status(kube)["conditions"] if c["type"] == type_)


def finish(kube: FakeKube, job: str, *, failed: bool = False, message: str = "", exit_code: int = 0) -> None:
    """The Job ends (Complete or Failed) with one pod whose container terminated like this."""
    body = kube.find("Job", job)
    assert body is not None
    ended = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    body["status"] = {"conditions": [ended if failed else {"type": "Complete", "status": "True"}]}
    terminated = {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed", "message": message}
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{job}-abc", "namespace": NS, "labels": {"job-name": job}},
            "status": {"containerStatuses": [{"name": "train", "state": {"terminated": terminated}}]},
        }
    )


def result(tmp_path: Path, version: str, auc: float, *, baseline: bool = True) -> str:
    """What the trainer writes: the result JSON, with its baseline document beside the artifact."""
    directory = tmp_path / version
    directory.mkdir(exist_ok=True)
    doc: dict[str, Any] = {"version": version, "uri": f"file://{directory}/model.npz", "metrics": {"auc": auc}}
    if baseline:
        (directory / "baseline.json").write_text(json.dumps(BASELINE))
        doc["baseline"] = "baseline.json"
    return json.dumps(doc)


def test_a_manual_run_starts_a_job_then_its_validated_model_and_baseline_are_published(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"manual": "go-1"})
    m = memo(kube)
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    job = kube.find("Job", "rp-1")
    assert job is not None and job["metadata"]["ownerReferences"][0]["name"] == "rp"
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODELOPS_MODEL_NAME"] == "fraud-model" and env["MODELOPS_CURRENT_VERSION"] == "v1"
    assert env["MODELOPS_TRIGGER"] == "manual"
    assert status(kube)["runs"][0]["outcome"] == "Running"
    assert condition(kube, "Retraining")["status"] == "True"
    assert kube.reasons() == ["RunStarted"]

    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")  # still running: nothing new
    assert len(kube.of_kind("Job")) == 1 and kube.reasons() == ["RunStarted"]

    finish(kube, "rp-1", message=result(tmp_path, "rp-1", 0.9))
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    st = status(kube)
    assert st["runs"][0]["outcome"] == "Validated"
    assert st["latestValidated"]["version"] == "rp-1" and st["latestValidated"]["baselineConfigMap"] == "rp-1-baseline"
    config_map = kube.find("ConfigMap", "rp-1-baseline")
    assert config_map is not None and json.loads(config_map["data"]["baseline.json"]) == BASELINE
    assert config_map["metadata"]["ownerReferences"][0]["name"] == "rp"
    assert kube.reasons()[-1] == "RunValidated"
    assert condition(kube, "Retraining")["status"] == "False"


def test_an_unreadable_baseline_is_a_warning_and_the_model_still_validates(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"manual": "go-1"})
    m = memo(kube)
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    finish(kube, "rp-1", message=result(tmp_path, "rp-1", 0.9, baseline=False))
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    assert "baselineConfigMap" not in status(kube)["latestValidated"]
    assert kube.reasons()[-2:] == ["RunValidated", "BaselineUnavailable"]
    assert "the result names no baseline document" in kube.events[-1].message
    assert not kube.of_kind("ConfigMap")


def test_a_failed_job_names_the_pod_exit_and_a_rejected_model_its_gate(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"manual": "go-1"})
    m = memo(kube)
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    finish(kube, "rp-1", failed=True, exit_code=3)
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    run = status(kube)["runs"][0]
    assert run["outcome"] == "Failed"
    assert run["reason"] == "Job failed: BackoffLimitExceeded; last pod: train exit 3 (Error)"

    kube.find("RetrainPolicy", "rp")["spec"].update(triggers={"manual": "go-2"}, cooldown="0s")  # type: ignore[index]
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    finish(kube, "rp-2", message=result(tmp_path, "rp-2", 0.5))
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    run = status(kube)["runs"][0]
    assert run["outcome"] == "Rejected" and run["reason"] == "auc 0.5 < min 0.8"


def test_a_drifted_monitor_starts_a_run_once_per_episode(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"drift": {"monitorRef": {"name": "dm"}}})
    m = memo(kube)
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    ready = condition(kube, "Ready")
    assert ready["status"] == "False" and "DriftMonitor 'dm' does not exist" in ready["message"]
    kube.put(
        {
            "apiVersion": API_VERSION,
            "kind": "DriftMonitor",
            "metadata": {"name": "dm", "namespace": NS},
            "spec": {"modelDeploymentRef": {"name": "fraud"}},
            "status": {"drifted": True, "conditions": [DRIFTED]},
        }
    )
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    run = status(kube)["runs"][0]
    assert run["trigger"] == "drift" and run["evidence"] == "DriftMonitor dm: x drifts"
    assert status(kube)["acknowledgedDrift"] == "2026-01-01T00:00:00Z"
    # every trigger can fire now; the run it started keeps the policy Reconciling, not yet Ready
    assert (condition(kube, "Stalled")["status"], condition(kube, "Reconciling")["reason"]) == ("False", "Retraining")
    assert condition(kube, "Ready")["status"] == "False"
    run_pass(retrainpolicy.reconcile, kube, m, "RetrainPolicy", "rp")
    assert len(kube.of_kind("Job")) == 1


def test_the_burn_rate_trigger_reads_the_stable_version_from_prometheus(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"burnRate": {"above": 10, "window": "1h"}})
    prometheus = FakePrometheus(answer=by_pattern({r'code=~"5\.\."': 20.0, "modelops_requests_total": 1000.0}))
    delay = run_pass(retrainpolicy.reconcile, kube, memo(kube, prometheus), "RetrainPolicy", "rp")
    assert delay == retrainpolicy.BURN_POLL_SECONDS
    assert all('version="v1"' in q and "[1h]" in q for q in prometheus.queries)
    run = status(kube)["runs"][0]
    assert run["trigger"] == "burnRate"
    assert run["evidence"] == (
        "stable v1 burns its 99.9% availability budget at 20.00x over 1h (20 of 1000 requests failed)"
    )
    assert status(kube)["burnFiring"] is True


def test_the_burn_rate_trigger_without_prometheus_says_so(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"burnRate": {"above": 10}})
    run_pass(retrainpolicy.reconcile, kube, memo(kube), "RetrainPolicy", "rp")
    ready = condition(kube, "Ready")
    assert ready["reason"] == "TriggerProblems" and "no Prometheus configured" in ready["message"]
    assert not kube.of_kind("Job")


def test_a_missing_model_deployment_blocks_every_run(tmp_path: Path) -> None:
    kube = cluster(tmp_path, modelDeploymentRef={"name": "nope"}, triggers={"manual": "go"})
    delay = run_pass(retrainpolicy.reconcile, kube, memo(kube), "RetrainPolicy", "rp")
    assert condition(kube, "Ready")["reason"] == "ModelDeploymentNotFound"
    assert delay == retrainpolicy.BLOCKED_RETRY_SECONDS and not kube.of_kind("Job")


def _outcomes(query: str) -> list[tuple[dict[str, str], float]] | None:
    if "modelops_feedback_total" not in query:
        return None
    return [
        ({"outcome": "tp"}, 100.0),
        ({"outcome": "tn"}, 400.0),
        ({"outcome": "fp"}, 250.0),
        ({"outcome": "fn"}, 250.0),
    ]


def test_the_performance_trigger_reads_the_stable_version_labels_and_confirms_a_drop(tmp_path: Path) -> None:
    performance = {"metric": "accuracy", "threshold": 0.8, "window": "10m", "consecutive": 2, "interval": "1m"}
    kube = cluster(tmp_path, triggers={"performance": performance})
    prometheus = FakePrometheus(answer=_outcomes)
    delay = run_pass(retrainpolicy.reconcile, kube, memo(kube, prometheus), "RetrainPolicy", "rp")
    assert len(prometheus.queries) == 1 and 'version="v1"' in prometheus.queries[0] and "[10m]" in prometheus.queries[0]
    assert 0 < delay <= 60
    state = status(kube)["performance"]
    assert (state["verdict"], state["value"], state["labels"], state["streak"]) == ("Below", 0.5, 1000, 1)
    assert condition(kube, "PerformanceDropped")["reason"] == "Confirming" and not kube.of_kind("Job")
    run_pass(retrainpolicy.reconcile, kube, memo(kube, prometheus), "RetrainPolicy", "rp")
    assert len(prometheus.queries) == 1  # not due again within the interval
    body = kube.find("RetrainPolicy", "rp")
    assert body is not None
    body["status"]["performance"]["lastEvaluated"] = "2026-01-01T00:00:00Z"  # the interval has passed
    run_pass(retrainpolicy.reconcile, kube, memo(kube, prometheus), "RetrainPolicy", "rp")
    run = status(kube)["runs"][0]
    assert run["trigger"] == "performance" and "accuracy 500/1000" in run["evidence"]
    assert condition(kube, "PerformanceDropped")["status"] == "True" and kube.of_kind("Job")


def test_the_performance_trigger_without_prometheus_says_so(tmp_path: Path) -> None:
    kube = cluster(tmp_path, triggers={"performance": {"threshold": 0.9}})
    run_pass(retrainpolicy.reconcile, kube, memo(kube), "RetrainPolicy", "rp")
    ready = condition(kube, "Ready")
    assert ready["reason"] == "TriggerProblems" and "the performance trigger cannot fire" in ready["message"]
