"""RetrainPolicy on the real control plane: triggers, guards, Jobs, results, restarts.

kwok runs the Jobs' pods: it completes them at once, with the exit code and termination
message the pod template's `kwok.modelops.dev/*` annotations give (what a kubelet would
report of a real trainer container). The trainer image is a placeholder the local data
plane does not run. The last test runs the reference trainer as a local process and hands
its real result to the Job the same way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from modelops.train.trainer import Settings, train
from modelops_devcluster import objects
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Service

pytestmark = pytest.mark.integration
NS = "retrain"
MODEL = "fraud"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


@pytest.fixture(scope="module")
def v1(stack: Stack) -> Artifact:
    artifact = stack.train(MODEL, "v1", rows=4000, seed=1)
    stack.apply(
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": MODEL, "namespace": NS},
            "spec": {
                "model": {"name": MODEL, "version": "v1", "uri": artifact.uri, "sha256": artifact.sha256},
                "replicas": 1,
                "traffic": {"router": "replicas"},
            },
        }
    )
    stack.wait(MODEL, lambda s: s.get("phase") == "Available", timeout=90)
    return artifact


def _result(version: str, auc: float = 0.9, **extra: Any) -> str:
    return json.dumps(
        {
            "model": MODEL,
            "version": version,
            "uri": f"file:///models/{MODEL}/{version}/model.npz",
            "sha256": "0" * 64,
            "metrics": {"auc": auc, "accuracy": 0.95},
            **extra,
        }
    )


def _policy(name: str, *, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    pod_meta = {"annotations": annotations} if annotations else {}
    base: dict[str, Any] = {
        "modelDeploymentRef": {"name": MODEL},
        "jobTemplate": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": pod_meta,
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "registry.example/trainer:1",
                            "args": ["--data", "s3://bucket/fraud"],
                            "env": [{"name": "MODELOPS_DATA_URI", "value": "s3://bucket/fraud"}],
                            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                        },
                    ],
                },
            },
        },
        "validation": [{"metric": "auc", "min": 0.8}],
        "cooldown": "1h",
    }
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {**base, **spec},
    }


def _status(stack: Stack, name: str) -> dict[str, Any]:
    return stack.status(name, "retrainpolicy")


def _wait(stack: Stack, name: str, check: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    return stack.wait_status("retrainpolicy", name, check, timeout=timeout)


def _passed_again(stack: Stack, policy: dict[str, Any]) -> dict[str, Any]:
    """The policy's status after the operator has passed it once more.

    A fixed sleep only hopes a pass happened; a change of a field no decision here reads
    (historyLimit, with fewer runs than either limit) moves the generation, and the status's
    observedGeneration says when a pass has seen it.
    """
    name = policy["metadata"]["name"]
    spec = policy["spec"]
    stack.apply({**policy, "spec": {**spec, "historyLimit": spec.get("historyLimit", 10) + 1}})
    generation = stack.get("retrainpolicy", name)["metadata"]["generation"]
    return _wait(stack, name, lambda s: s.get("observedGeneration") == generation, 30)


def _run(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next((r for r in status.get("runs") or [] if r["name"] == name), {})


def _jobs(stack: Stack, policy: str) -> list[dict[str, Any]]:
    return objects.items(stack.cluster, NS, "jobs", "-l", f"modelops.dev/retrain-policy={policy}")


def _plugin(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelops.cli.kubectl_plugin", "-n", NS, *args],
        env=stack.cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_manual_trigger_runs_a_job_and_validates_its_result(stack: Stack, v1: Artifact) -> None:
    name = "manual"
    stack.apply(_policy(name, annotations={"kwok.modelops.dev/termination-message": _result("manual-1")}))
    _wait(stack, name, lambda s: s.get("observedGeneration") == 1, 30)
    requested = _plugin(stack, "retrain", name)
    assert requested.returncode == 0, requested.stderr
    status = _wait(stack, name, lambda s: _run(s, "manual-1").get("outcome") == "Validated", 60)
    run = _run(status, "manual-1")
    assert run["trigger"] == "manual" and run["job"] == "manual-1" and run["metrics"]["auc"] == 0.9
    assert status["latestValidated"] == {
        "version": "manual-1",
        "uri": f"file:///models/{MODEL}/manual-1/model.npz",
        "sha256": "0" * 64,
        "run": "manual-1",
        "metrics": {"auc": 0.9, "accuracy": 0.95},
    }
    (job,) = _jobs(stack, name)
    assert job["metadata"]["ownerReferences"][0]["kind"] == "RetrainPolicy"
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELOPS_DATA_URI"] == "s3://bucket/fraud"  # the user's value is kept
    keys = ("MODEL_NAME", "CURRENT_VERSION", "NEXT_VERSION", "TRIGGER", "DATA_WINDOW")
    injected = [env[f"MODELOPS_{k}"] for k in keys]
    assert injected == [MODEL, "v1", "manual-1", "manual", "7d"]
    assert env["MODELOPS_OUTPUT_URI"] == f"file:///models/{MODEL}/manual-1"
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}}  # as the user wrote it
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600 and job["spec"]["backoffLimit"] == 0
    shown = stack.kubectl("get", "retrainpolicy", name, "-n", NS)
    assert "manual-1" in shown and "Validated" in shown, shown
    # a second request inside the cooldown is recorded as skipped, not queued and not lost
    assert _plugin(stack, "retrain", name).returncode == 0
    status = _wait(stack, name, lambda s: any(r["outcome"] == "Skipped" for r in s.get("runs") or []), 30)
    skipped = next(r for r in status["runs"] if r["outcome"] == "Skipped")
    assert skipped["trigger"] == "manual" and skipped["reason"].startswith("cooldown until")
    assert len(_jobs(stack, name)) == 1
    events = objects.events(stack.cluster, NS, name)
    assert {"RunStarted", "RunValidated", "TriggerSkipped"} <= {e["reason"] for e in events}


def test_failed_job_and_rejected_result(stack: Stack, v1: Artifact) -> None:
    stack.apply(
        _policy("failing", annotations={"kwok.modelops.dev/exit-code": "3"}, triggers={"manual": "go"}),
        _policy(
            "weak",
            annotations={"kwok.modelops.dev/termination-message": _result("weak-1", auc=0.6)},
            triggers={"manual": "go"},
        ),
    )
    status = _wait(stack, "failing", lambda s: _run(s, "failing-1").get("outcome") == "Failed", 90)
    reason = _run(status, "failing-1")["reason"]
    assert "BackoffLimitExceeded" in reason and "exit 3" in reason, reason
    assert status["consecutiveFailures"] == 1 and "latestValidated" not in status
    status = _wait(stack, "weak", lambda s: _run(s, "weak-1").get("outcome") == "Rejected", 60)
    assert _run(status, "weak-1")["reason"] == "auc 0.6 < min 0.8"
    assert "latestValidated" not in status


def test_schedule_trigger(stack: Stack, v1: Artifact) -> None:
    stack.apply(
        _policy(
            "nightly",
            annotations={"kwok.modelops.dev/termination-message": _result("nightly-1")},
            triggers={"schedule": "* * * * *"},
        )
    )
    status = _wait(stack, "nightly", lambda s: s.get("nextScheduled") is not None, 30)
    assert not status.get("runs")  # scheduling is not firing: the first pass only computes the next time
    fire = datetime.fromisoformat(status["nextScheduled"].replace("Z", "+00:00"))
    status = _wait(stack, "nightly", lambda s: _run(s, "nightly-1").get("outcome") == "Validated", 90)
    run = _run(status, "nightly-1")
    assert run["trigger"] == "schedule" and run["evidence"] == f"scheduled for {fire:%Y-%m-%dT%H:%M}Z"
    assert datetime.fromisoformat(run["started"].replace("Z", "+00:00")) >= fire
    assert datetime.fromisoformat(status["nextScheduled"].replace("Z", "+00:00")) > fire


def test_drift_trigger_fires_once_per_episode(stack: Stack, v1: Artifact) -> None:
    # A monitor of a ModelDeployment that does not exist cannot evaluate, so the operator keeps
    # whatever verdict its status holds: the test sets one, as an evaluation would.
    spec = {"modelDeploymentRef": {"name": "elsewhere"}, "reference": {"past": {"offset": "1d"}}}
    stack.apply(
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "DriftMonitor",
            "metadata": {"name": "watch", "namespace": NS},
            "spec": spec,
        }
    )
    # the operator's first pass: Ready=False (nothing to evaluate)
    stack.wait_status("driftmonitor", "watch", lambda s: bool(s.get("conditions")), timeout=30)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {
        "status": {
            "drifted": True,
            "lastEvaluated": since,
            "conditions": [
                {
                    "type": "Drifted",
                    "status": "True",
                    "reason": "DriftDetected",
                    "lastTransitionTime": since,
                    "message": "2 of 8 tested features drift: amount (PSI 0.40), hour (PSI 0.22)",
                }
            ],
        }
    }
    stack.kubectl(
        "patch", "driftmonitor", "watch", "-n", NS, "--subresource=status", "--type=merge", "-p", json.dumps(patch)
    )
    annotations = {"kwok.modelops.dev/termination-message": _result("on-drift-1")}
    policy = _policy("on-drift", annotations=annotations, triggers={"drift": {"monitorRef": {"name": "watch"}}})
    stack.apply(policy)
    status = _wait(stack, "on-drift", lambda s: _run(s, "on-drift-1").get("outcome") == "Validated", 60)
    run = _run(status, "on-drift-1")
    assert run["trigger"] == "drift" and "amount (PSI 0.40)" in run["evidence"]
    status = _passed_again(stack, policy)  # a later pass, with the same episode, starts no second run
    assert [r["name"] for r in status["runs"]] == ["on-drift-1"]


def test_restart_mid_run_never_starts_a_second_job(stack: Stack, v1: Artifact) -> None:
    # a pod no node accepts keeps the Job running for as long as the test needs
    policy = _policy("slow", triggers={"manual": "go"})
    policy["spec"]["jobTemplate"]["template"]["spec"]["nodeSelector"] = {"modelops.dev/no-such-node": "x"}
    stack.apply(policy)
    status = _wait(stack, "slow", lambda s: _run(s, "slow-1").get("outcome") == "Running", 30)
    assert len(_jobs(stack, "slow")) == 1
    stack.operator.kill()
    stack.operator.start()
    status = _passed_again(stack, policy)  # the new operator has passed the policy
    assert [(r["name"], r["outcome"]) for r in status["runs"]] == [("slow-1", "Running")]
    assert [j["metadata"]["name"] for j in _jobs(stack, "slow")] == ["slow-1"]
    assert status["runCount"] == 1
    condition = next(c for c in status["conditions"] if c["type"] == "Retraining")
    assert condition["status"] == "True" and "slow-1" in condition["message"]


def test_real_trainer_result(stack: Stack, v1: Artifact) -> None:
    """The reference trainer runs as a local process for run `real-1`; its result is what the Job reports."""
    out = stack.workdir / "models" / MODEL / "real-1"
    result = train(Settings(data="synthetic://?rows=4000&seed=5", out=out, model=MODEL, version="real-1", seed=5))
    message = json.dumps(result)
    assert len(message) < 4096  # what a kubelet keeps of a termination message
    stack.apply(
        _policy(
            "real",
            annotations={"kwok.modelops.dev/termination-message": message},
            triggers={"manual": "go"},
            validation=[{"metric": "auc", "min": 0.7}],
        )
    )
    status = _wait(stack, "real", lambda s: _run(s, "real-1").get("outcome") == "Validated", 60)
    validated = status["latestValidated"]
    assert validated["uri"] == (out / "model.npz").resolve().as_uri() and validated["sha256"] == result["sha256"]
    assert validated["metrics"]["auc"] == pytest.approx(result["metrics"]["auc"])
    # the baseline the trainer wrote beside the model is published for the servers and DriftMonitors
    assert validated["baselineConfigMap"] == "real-1-baseline"
    published = stack.get("configmap", "real-1-baseline")
    assert json.loads(published["data"]["baseline.json"]) == json.loads((out / "baseline.json").read_text())
    assert published["metadata"]["ownerReferences"][0]["name"] == "real"


def test_model_from_rolls_out_a_validated_version_through_the_canary(stack: Stack, v1: Artifact) -> None:
    """v1 serves; a manual run validates a real retrained model; the ModelDeployment that takes its
    versions from the policy rolls it out through the judged canary, without anyone editing it."""
    out = stack.workdir / "models" / "loop" / "loop-retrain-1"
    result = train(
        Settings(data="synthetic://?rows=4000&seed=7", out=out, model="loop", version="loop-retrain-1", seed=7)
    )
    policy = _policy(
        "loop-retrain",
        annotations={"kwok.modelops.dev/termination-message": json.dumps(result)},
        validation=[{"metric": "auc", "min": 0.7}],
    )
    policy["spec"]["modelDeploymentRef"] = {"name": "loop"}
    md = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "loop", "namespace": NS},
        "spec": {
            "model": {"name": "loop", "version": "v1", "uri": v1.uri, "sha256": v1.sha256},
            "modelFrom": {"retrainPolicyRef": {"name": "loop-retrain"}},
            "replicas": 2,
            "traffic": {"router": "replicas"},
            "rollout": {
                "interval": "5s",
                "minRequests": 20,
                "maxUnknownChecks": 24,
                "bakeTime": "5s",
                "steps": [{"setWeight": 50}, {"analysis": {"intervals": 1}}],
            },
        },
    }
    stack.apply(policy, md)
    stack.wait("loop", lambda s: s.get("phase") == "Available", timeout=90)
    assert stack.status("loop")["stable"]["version"] == "v1"  # nothing validated yet: spec.model serves
    traffic = stack.traffic(Service("loop"), rate=40, seed=3)
    try:
        assert _plugin(stack, "retrain", "loop-retrain").returncode == 0
        _wait(stack, "loop-retrain", lambda s: _run(s, "loop-retrain-1").get("outcome") == "Validated", 60)
        status = stack.wait("loop", lambda s: (s.get("stable") or {}).get("version") == "loop-retrain-1", timeout=180)
    finally:
        traffic.stop()
    entry = status["history"][0]
    assert (entry["version"], entry["outcome"], entry["retrainRun"]) == ("loop-retrain-1", "Promoted", "loop-retrain-1")
    assert stack.get("md", "loop")["spec"]["model"]["version"] == "v1"  # nothing edited the user's spec
    # the new version's servers bucket features on its own baseline, and a DriftMonitor following the
    # served version compares with it
    assert status["stable"]["baseline"] == "loop-retrain-1-baseline"
    deployment = stack.get("deployment", "loop-loop-retrain-1")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["baseline"]["configMap"]["name"] == "loop-retrain-1-baseline"
    stack.apply(
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "DriftMonitor",
            "metadata": {"name": "loop-drift", "namespace": NS},
            "spec": {"modelDeploymentRef": {"name": "loop"}, "reference": {"served": {}}},
        }
    )
    monitor = stack.wait_status("driftmonitor", "loop-drift", lambda s: bool(s.get("reference")), timeout=30)
    assert monitor["reference"] == "ConfigMap loop-retrain-1-baseline/baseline.json (the baseline of loop-retrain-1)"
    assert monitor["version"] == "loop-retrain-1"
    shown = _plugin(stack, "history", "loop")  # provenance: rollout -> run -> trigger and evidence
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "Promoted" in line)
    assert "loop-retrain-1" in row and "manual" in row and "requested with nonce" in row, shown.stdout
