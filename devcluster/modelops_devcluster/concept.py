"""The concept-drift loop's objects on the local stack, shared by `make demo` and its end-to-end test.

Concept drift: the inputs stay as they were, their relation to the label changes. A DriftMonitor
sees nothing (the features and the scores are the same); only the labels the traffic generator
sends back show it. So the RetrainPolicy here has only a `performance` trigger, on the stable
version's AUC from label telemetry; its Job runs the reference trainer on fresh labelled data of
the new concept, and the ModelDeployment (modelFrom) canaries the validated result.
"""

from __future__ import annotations

from typing import Any

from modelops.train.dataset import Dataset, Drift, generate
from modelops_devcluster import loop
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Labels

CONCEPT = 1.0  # the label depends on other features entirely (modelops.train.dataset.Drift.concept)
LABELS = Labels(delay_s=2.0)  # ground truth comes back two seconds after each answer
PERFORMANCE = {
    "metric": "auc",
    "threshold": 0.7,  # v1 scores about 0.6 on the new concept, a model of it about 0.77 (binned)
    "window": "20s",
    "minLabels": 40,
    "consecutive": 2,
    "interval": "3s",
}


QUALITY = {"metric": "auc", "objective": PERFORMANCE["threshold"], "minLabels": 40, "window": "10m"}


def traffic_data(concept: float = 0.0) -> Dataset:
    """Production rows; the same seed, so a concept shift changes the labels and not one feature value."""
    return generate(20_000, seed=21, drift=Drift(concept=concept))


def objects(stack: Stack, model: str, v1: Artifact) -> list[dict[str, Any]]:
    """ConfigMap with v1's baseline, ModelDeployment, DriftMonitor, RetrainPolicy (in that order)."""
    baseline, md, monitor, _ = loop.objects(stack, model, v1)
    # the retrained canary is judged on labels too: `quality` (AUC not confidently below the floor) and
    # `quality-vs-stable` (not worse than v1, which the new concept has made poor)
    md["spec"]["analysis"]["slo"] = {"quality": dict(QUALITY)}
    data = {"name": "MODELOPS_DATA_URI", "value": f"synthetic://?rows=20000&seed=9&concept={CONCEPT:g}"}
    trainer = {"name": "trainer", "image": "ghcr.io/modelops/modelops:0.1.0", "args": ["train"], "env": [data]}
    pod = {
        "metadata": {"annotations": {"kwok.modelops.dev/run-locally": "true"}},
        "spec": {"restartPolicy": "Never", "containers": [trainer]},
    }
    policy = {
        "apiVersion": loop.API,
        "kind": "RetrainPolicy",
        "metadata": {"name": f"{model}-retrain", "namespace": stack.namespace},
        "spec": {
            "modelDeploymentRef": {"name": model},
            "triggers": {"performance": dict(PERFORMANCE)},
            "jobTemplate": {"backoffLimit": 0, "template": pod},
            "output": {"uriTemplate": f"file://{stack.workdir}/models/{{model}}/{{version}}"},
            "validation": [{"metric": "auc", "min": 0.7}],
            "cooldown": "1h",
        },
    }
    return [baseline, md, monitor, policy]
