"""Invalid resources, one per validation rule, with the field the rejection must name.

The same table drives two tests: the pydantic models refuse each case, and the real API
server (schema + CEL from the generated CRDs) refuses it with a message naming the field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

MODEL = {"name": "fraud", "version": "v1", "uri": "file:///models/fraud/v1/model.npz"}
VALID: dict[str, dict[str, Any]] = {
    "ModelDeployment": {"model": MODEL},
    "DriftMonitor": {"modelDeploymentRef": {"name": "fraud"}},
    "RetrainPolicy": {
        "modelDeploymentRef": {"name": "fraud"},
        "jobTemplate": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "x"}]}}},
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    path: tuple[str | int, ...]  # where in spec the bad value goes
    value: Any
    field: str  # what the API server's message must name
    message: str = ""  # a fragment of the human message (CEL rules)

    def spec(self) -> dict[str, Any]:
        spec = copy.deepcopy(VALID[self.kind])
        node: Any = spec
        for key in self.path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[self.path[-1]] = self.value
        return spec


CASES = [
    Case(
        "weight-over-100",
        "ModelDeployment",
        ("rollout", "steps"),
        [{"setWeight": 150}],
        "spec.rollout.steps[0].setWeight",
    ),
    Case(
        "weights-decrease",
        "ModelDeployment",
        ("rollout", "steps"),
        [{"setWeight": 50}, {"setWeight": 10}],
        "spec.rollout.steps",
        "must increase",
    ),
    Case(
        "weights-repeat",
        "ModelDeployment",
        ("rollout", "steps"),
        [{"setWeight": 10}, {"setWeight": 10}],
        "spec.rollout.steps",
        "strictly increasing",
    ),
    Case(
        "step-two-actions",
        "ModelDeployment",
        ("rollout", "steps"),
        [{"setWeight": 10, "pause": {}}],
        "spec.rollout.steps[0]",
        "exactly one of setWeight, pause, analysis",
    ),
    Case(
        "objective-100",
        "ModelDeployment",
        ("analysis", "slo", "availability", "objective"),
        100,
        "spec.analysis.slo.availability.objective",
    ),
    Case(
        "objective-0",
        "ModelDeployment",
        ("analysis", "slo", "latency", "objective"),
        0,
        "spec.analysis.slo.latency.objective",
    ),
    Case(
        "quality-metric-unknown",
        "ModelDeployment",
        ("analysis", "slo", "quality"),
        {"metric": "f1", "objective": 0.9},
        "spec.analysis.slo.quality.metric",
    ),
    Case(
        "quality-objective-percent",
        "ModelDeployment",
        ("analysis", "slo", "quality"),
        {"metric": "accuracy", "objective": 90},
        "spec.analysis.slo.quality.objective",
    ),
    Case(
        "quality-objective-0",
        "ModelDeployment",
        ("analysis", "slo", "quality"),
        {"metric": "auc", "objective": 0},
        "spec.analysis.slo.quality.objective",
    ),
    Case(
        "quality-min-labels-0",
        "ModelDeployment",
        ("analysis", "slo", "quality"),
        {"metric": "accuracy", "objective": 0.9, "minLabels": 0},
        "spec.analysis.slo.quality.minLabels",
    ),
    Case(
        "quality-drop-negative",
        "ModelDeployment",
        ("analysis", "slo", "quality"),
        {"metric": "recall", "objective": 0.8, "maxDropVsStable": -0.01},
        "spec.analysis.slo.quality.maxDropVsStable",
    ),
    Case(
        "quality-window-not-a-duration",
        "ModelDeployment",
        ("analysis", "slo", "quality"),
        {"metric": "precision", "objective": 0.8, "window": "an hour"},
        "spec.analysis.slo.quality.window",
    ),
    Case(
        "quality-without-objective",
        "ModelDeployment",
        ("analysis", "slo", "quality"),
        {"metric": "accuracy"},
        "spec.analysis.slo.quality.objective",
    ),
    Case(
        "invalid-increase-whole",
        "ModelDeployment",
        ("analysis", "invalidRequests", "maxIncrease"),
        1,
        "spec.analysis.invalidRequests.maxIncrease",
    ),
    Case(
        "latency-increase-negative",
        "ModelDeployment",
        ("analysis", "latencyVsStable", "maxIncrease"),
        -0.1,
        "spec.analysis.latencyVsStable.maxIncrease",
    ),
    Case(
        "latency-difference-not-a-duration",
        "ModelDeployment",
        ("analysis", "latencyVsStable", "minDifference"),
        "1 millisecond",
        "spec.analysis.latencyVsStable.minDifference",
    ),
    Case(
        "min-over-max-replicas",
        "ModelDeployment",
        ("autoscaling",),
        {"minReplicas": 5, "maxReplicas": 2},
        "spec.autoscaling.minReplicas",
        "minReplicas must be <= autoscaling.maxReplicas",
    ),
    Case("version-not-a-label", "ModelDeployment", ("model", "version"), "v1/beta", "spec.model.version"),
    Case("uri-scheme", "ModelDeployment", ("model", "uri"), "ftp://host/model.npz", "spec.model.uri"),
    Case("sha256-length", "ModelDeployment", ("model", "sha256"), "abc123", "spec.model.sha256"),
    Case(
        "signature-key-kind",
        "ModelDeployment",
        ("model", "signature"),
        {"publicKey": {"kind": "Pod", "name": "signer"}},
        "spec.model.signature.publicKey.kind",
    ),
    Case(
        "signature-key-path",
        "ModelDeployment",
        ("model", "signature"),
        {"publicKey": {"name": "signer", "key": "../etc/passwd"}},
        "spec.model.signature.publicKey.key",
    ),
    Case(
        "signature-uri-scheme",
        "ModelDeployment",
        ("model", "signature"),
        {"uri": "model.npz.sig", "publicKey": {"name": "signer"}},
        "spec.model.signature.uri",
    ),
    Case(
        "pvc-uri-without-path",
        "ModelDeployment",
        ("model", "uri"),
        "pvc://fraud-models",
        "spec.model.uri",
        "model.uri must be pvc://CLAIM/PATH",
    ),
    Case(
        "pvc-uri-escapes-claim",
        "ModelDeployment",
        ("model", "uri"),
        "pvc://fraud-models/../other/model.npz",
        "spec.model.uri",
        "model.uri must be pvc://CLAIM/PATH",
    ),
    Case(
        "pvc-uri-claim-not-a-name",
        "ModelDeployment",
        ("model", "uri"),
        "pvc://Fraud_Models/model.npz",
        "spec.model.uri",
        "model.uri must be pvc://CLAIM/PATH",
    ),
    Case(
        "s3-uri-bucket-not-a-name",
        "ModelDeployment",
        ("model", "uri"),
        "s3://Fraud_Models/model.npz",
        "spec.model.uri",
        "model.uri must be s3://BUCKET/KEY",
    ),
    Case(
        "s3-uri-empty-segment",
        "ModelDeployment",
        ("model", "uri"),
        "s3://models/fraud//v1/",
        "spec.model.uri",
        "model.uri must be s3://BUCKET/KEY",
    ),
    Case(
        "s3-uri-dotdot",
        "ModelDeployment",
        ("model", "uri"),
        "s3://models/fraud/../other/",
        "spec.model.uri",
        "model.uri must be s3://BUCKET/KEY",
    ),
    Case(
        "oci-uri-uppercase-repository",
        "ModelDeployment",
        ("model", "uri"),
        "oci://ghcr.io/Acme/fraud:v1",
        "spec.model.uri",
        "model.uri must be oci://REGISTRY/REPOSITORY:TAG",
    ),
    Case(
        "oci-uri-short-digest",
        "ModelDeployment",
        ("model", "uri"),
        "oci://ghcr.io/acme/fraud@sha256:abc123",
        "spec.model.uri",
        "model.uri must be oci://REGISTRY/REPOSITORY:TAG",
    ),
    Case(
        "credentials-for-a-file-uri",
        "ModelDeployment",
        ("model", "credentialsSecretRef"),
        {"name": "store"},
        "spec.model.credentialsSecretRef",
        "for s3:// and oci:// URIs only",
    ),
    Case(
        "s3-options-for-a-file-uri",
        "ModelDeployment",
        ("model", "s3"),
        {"endpoint": "http://minio:9000"},
        "spec.model.s3",
        "for s3:// URIs only",
    ),
    Case(
        "s3-endpoint-not-a-url",
        "ModelDeployment",
        ("model",),
        {**MODEL, "uri": "s3://models/fraud/v1/", "s3": {"endpoint": "minio:9000"}},
        "spec.model.s3.endpoint",
    ),
    Case(
        "gateway-without-parent",
        "ModelDeployment",
        ("traffic",),
        {"router": "gatewayAPI"},
        "spec.traffic.parentRefs",
        "must name at least one Gateway",
    ),
    Case(
        "istio-without-hosts",
        "ModelDeployment",
        ("traffic",),
        {"router": "istio"},
        "spec.traffic.hosts",
        "must list at least one host",
    ),
    Case("unknown-router", "ModelDeployment", ("traffic", "router"), "nginx", "spec.traffic.router"),
    Case(
        "shadow-on-replicas-router",
        "ModelDeployment",
        ("rollout", "strategy"),
        "shadow",
        "spec.rollout.strategy",
        "shadow needs traffic.router gatewayAPI or istio",
    ),
    Case("freeze-when-unknown", "ModelDeployment", ("freeze",), {"whenUnknown": "Ignore"}, "spec.freeze.whenUnknown"),
    Case("duration-words", "ModelDeployment", ("rollout", "interval"), "5 minutes", "spec.rollout.interval"),
    Case(
        "threshold-min-over-max",
        "ModelDeployment",
        ("analysis", "metrics"),
        [{"name": "m", "query": "vector(1)", "thresholdRange": {"min": 2, "max": 1}}],
        "spec.analysis.metrics[0].thresholdRange",
        "min must be <= thresholdRange.max",
    ),
    Case(
        "threshold-empty",
        "ModelDeployment",
        ("analysis", "metrics"),
        [{"name": "m", "query": "vector(1)", "thresholdRange": {}}],
        "spec.analysis.metrics[0].thresholdRange",
        "needs min or max",
    ),
    Case(
        "prometheus-two-credentials",
        "ModelDeployment",
        ("analysis", "prometheus"),
        {"bearerTokenSecretRef": {"name": "t"}, "basicAuthSecretRef": {"name": "b"}},
        "spec.analysis.prometheus",
        "mutually exclusive",
    ),
    Case(
        "two-reference-sources",
        "DriftMonitor",
        ("reference",),
        {"configMapRef": {"name": "b"}, "past": {"offset": "7d"}},
        "spec.reference",
        "exactly one of configMapRef, inline, past",
    ),
    Case(
        "no-reference-source",
        "DriftMonitor",
        ("reference",),
        {},
        "spec.reference",
        "exactly one of configMapRef, inline, past",
    ),
    Case("alpha-over-1", "DriftMonitor", ("alpha",), 1.5, "spec.alpha"),
    Case("correction-unknown", "DriftMonitor", ("correction",), "holm", "spec.correction"),
    Case(
        "baseline-counts-mismatch",
        "DriftMonitor",
        ("reference",),
        {"inline": {"features": [{"name": "x", "edges": [1, 2], "counts": [1, 2]}]}},
        "spec.reference.inline.features[0]",
        "len(counts) == len(edges) + 1",
    ),
    Case(
        "gate-without-bound",
        "RetrainPolicy",
        ("validation",),
        [{"metric": "auc"}],
        "spec.validation[0]",
        "needs min, max or mustBeatStable",
    ),
    Case("cron-malformed", "RetrainPolicy", ("triggers", "schedule"), "every day", "spec.triggers.schedule"),
    Case("max-concurrent-0", "RetrainPolicy", ("maxConcurrent",), 0, "spec.maxConcurrent"),
    Case(
        "performance-auc-at-chance",
        "RetrainPolicy",
        ("triggers", "performance"),
        {"metric": "auc", "threshold": 0.5},
        "spec.triggers.performance",
        "at or below 0.5 (chance)",
    ),
    Case(
        "performance-threshold-over-1",
        "RetrainPolicy",
        ("triggers", "performance"),
        {"threshold": 1.5},
        "spec.triggers.performance.threshold",
    ),
    Case(
        "performance-no-threshold",
        "RetrainPolicy",
        ("triggers", "performance"),
        {"metric": "accuracy"},
        "spec.triggers.performance.threshold",
    ),
    Case(
        "performance-metric-unknown",
        "RetrainPolicy",
        ("triggers", "performance"),
        {"metric": "f1", "threshold": 0.8},
        "spec.triggers.performance.metric",
    ),
    Case(
        "performance-min-labels-0",
        "RetrainPolicy",
        ("triggers", "performance"),
        {"threshold": 0.8, "minLabels": 0},
        "spec.triggers.performance.minLabels",
    ),
]
