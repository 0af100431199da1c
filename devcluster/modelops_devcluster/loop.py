"""The closed loop's objects on the local stack, shared by `make demo` and its end-to-end test.

A ModelDeployment taking versions from a RetrainPolicy, a DriftMonitor following the served
version's baseline, and a RetrainPolicy whose drift trigger runs the reference trainer in a
Job the local data plane executes, on synthetic data with the same shift the traffic gets.
"""

from __future__ import annotations

from typing import Any

from modelops_devcluster.stack import Artifact, Stack

SHIFT = {"amount": 1.0, "hour": -1.0, "velocity": 1.0}  # mean shifts in standard deviations
API = "modelops.dev/v1alpha1"


def objects(stack: Stack, model: str, v1: Artifact) -> list[dict[str, Any]]:
    """ConfigMap with v1's baseline, ModelDeployment, DriftMonitor, RetrainPolicy (in that order)."""
    shift = ",".join(f"{k}:{v}" for k, v in SHIFT.items())
    md = {
        "apiVersion": API,
        "kind": "ModelDeployment",
        "metadata": {"name": model, "namespace": stack.namespace},
        "spec": {
            "model": {
                "name": model,
                "version": v1.version,
                "uri": v1.uri,
                "sha256": v1.sha256,
                "baseline": {"name": f"{model}-baseline-{v1.version}"},
            },
            "modelFrom": {"retrainPolicyRef": {"name": f"{model}-retrain"}},
            "replicas": 2,
            "traffic": {"router": "replicas"},
            "rollout": {
                "interval": "5s",
                "minRequests": 20,
                "maxUnknownChecks": 24,
                "bakeTime": "5s",
                "steps": [{"setWeight": 50}, {"analysis": {"intervals": 1}}],
            },
            # a model retrained on shifted data is meant to score differently: judge errors and latency only
            "analysis": {"predictionDrift": {"enabled": False}},
        },
    }
    monitor = {
        "apiVersion": API,
        "kind": "DriftMonitor",
        "metadata": {"name": f"{model}-drift", "namespace": stack.namespace},
        "spec": {
            "modelDeploymentRef": {"name": model},
            "reference": {"served": {}},
            "interval": "5s",
            "window": "10s",
            "minSamples": 100,
            "driftShare": 0.2,
            "consecutive": 2,
        },
    }
    data = {"name": "MODELOPS_DATA_URI", "value": f"synthetic://?rows=20000&seed=9&mean_shift={shift}"}
    trainer = {"name": "trainer", "image": "ghcr.io/modelops/modelops:0.1.0", "args": ["train"], "env": [data]}
    pod = {
        "metadata": {"annotations": {"kwok.modelops.dev/run-locally": "true"}},
        "spec": {"restartPolicy": "Never", "containers": [trainer]},
    }
    policy = {
        "apiVersion": API,
        "kind": "RetrainPolicy",
        "metadata": {"name": f"{model}-retrain", "namespace": stack.namespace},
        "spec": {
            "modelDeploymentRef": {"name": model},
            "triggers": {"drift": {"monitorRef": {"name": f"{model}-drift"}}},
            "jobTemplate": {"backoffLimit": 0, "template": pod},
            "output": {"uriTemplate": f"file://{stack.workdir}/models/{{model}}/{{version}}"},
            "validation": [{"metric": "auc", "min": 0.7}],
            "cooldown": "1h",
        },
    }
    baseline = stack.baseline_configmap(f"{model}-baseline-{v1.version}", v1)
    return [baseline, md, monitor, policy]
