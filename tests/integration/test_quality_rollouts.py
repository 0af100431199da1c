"""Rollouts judged on ground-truth labels, end to end on the real stack.

The labeller (tests/integration/labeller.py) sends predictions through the routes the cluster
says and the dataset's labels for them to the answering pod's feedback endpoint; Prometheus
scrapes the servers' label telemetry and the operator judges `spec.analysis.slo.quality`.

Every version is the same trained model (same data, same seed): its inputs and scores are the
stable's, so only the labels can tell a canary apart. A canary whose labels are good is promoted
with `quality` and `quality-vs-stable` passing; a canary whose labels are flipped (concept drift:
the same inputs, a new relation to the label) is rolled back by them while the prediction-drift
check sees nothing; a canary judged with fewer labels than minLabels is Unknown, never passed, and
rolled back after maxUnknownChecks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelops.cli.status_view import model_deployment
from modelops.train.dataset import generate
from modelops_devcluster import objects
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import HTTPRoute, TrafficGenerator
from tests.integration.labeller import Labeller

pytestmark = pytest.mark.integration
NS = "quality"
ROUTER = {"router": "gatewayAPI", "parentRefs": [{"name": "public"}], "hosts": ["m.example"]}
FAST = {
    "interval": "5s",
    "minRequests": 20,
    "maxFailedChecks": 2,
    "maxUnknownChecks": 24,
    "bakeTime": "5s",
    "progressDeadline": "5m",
    "steps": [{"setWeight": 20}, {"analysis": {"intervals": 2}}, {"setWeight": 50}, {"analysis": {"intervals": 1}}],
}
QUALITY = {"metric": "accuracy", "objective": 0.75, "minLabels": 40, "window": "10m"}  # the model scores ~0.86


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


@pytest.fixture(scope="module")
def versions(stack: Stack) -> dict[str, Artifact]:
    return {v: stack.train("m", v, rows=4000, seed=1) for v in ("v1", "v2", "v3")}


def _md(name: str, artifact: Artifact, quality: dict[str, Any], **rollout: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"name": name, "version": artifact.version, "uri": artifact.uri, "sha256": artifact.sha256},
            "replicas": 2,
            "traffic": ROUTER,
            "rollout": {**FAST, **rollout},
            "analysis": {"slo": {"latency": {"objective": 99, "thresholdSeconds": 0.25}, "quality": quality}},
        },
    }


def _labeller(stack: Stack, name: str, seed: int) -> Labeller:
    generator = TrafficGenerator(
        stack.cluster, NS, target=HTTPRoute(name), dataset=generate(10, seed=seed), rate_per_s=1, seed=seed
    )
    return Labeller(generator, generate(5000, seed=seed), rate=30, seed=seed).start()


def _check(analysis: dict[str, Any], name: str) -> dict[str, Any]:
    return next((c for c in analysis.get("checks") or [] if c.get("name") == name), {})


def _failed(analysis: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(name, value, threshold, samples, reason) of each failed check: what a flaky rollback needs to be read."""
    checks = analysis.get("checks") or []
    return [
        (c.get("name"), c.get("value"), c.get("threshold"), c.get("samples"), c.get("reason"))
        for c in checks
        if c.get("verdict") == "Fail"
    ]


def _events(stack: Stack, name: str) -> list[str]:
    found = objects.events(stack.cluster, NS, name, kind="ModelDeployment")
    return [f"{e.get('lastTimestamp') or e.get('eventTime')} {e['reason']}: {e['message']}" for e in found]


def _serving(status: dict[str, Any], version: str) -> bool:
    return bool((status.get("stable") or {}).get("version") == version and status.get("phase") == "Available")


def test_good_labels_promote_and_concept_drift_rolls_back(stack: Stack, versions: dict[str, Artifact]) -> None:
    name = "labels"
    stack.apply(_md(name, versions["v1"], QUALITY))
    stack.wait(name, lambda s: s.get("phase") == "Available", timeout=90)
    labeller = _labeller(stack, name, seed=11)
    try:
        status = stack.wait(name, lambda s: (s.get("quality") or {}).get("labels", 0) >= 40, timeout=90)
        quality = status["quality"]
        assert quality["version"] == "v1" and quality["verdict"] == "Pass", quality
        assert 0.75 < quality["value"] <= 1 and quality["labelLagP90Seconds"] is not None, quality
        print("stable v1:", quality)

        stack.apply(_md(name, versions["v2"], QUALITY))
        analyses: list[dict[str, Any]] = []
        status = stack.wait(
            name,
            lambda s: _serving(s, "v2") or s.get("phase") == "RolledBack",  # a rollback says why at once
            timeout=240,
            on_change=lambda s: analyses.append(s.get("lastAnalysis") or {}),
        )
        failed = [_failed(a) for a in analyses if _failed(a)]  # the checks that failed, analysis by analysis
        assert status["history"][0]["outcome"] == "Promoted", (status["history"][0], failed, _events(stack, name))
        judged = [(_check(a, "quality"), _check(a, "quality-vs-stable")) for a in analyses if _check(a, "quality")]
        print("v2:", [(q.get("verdict"), q.get("reason"), v.get("verdict")) for q, v in judged])
        passed = [(q, v) for q, v in judged if q.get("verdict") == "Pass" and v.get("verdict") == "Pass"]
        assert passed, judged  # promoted on labels, not on their absence
        assert all(q.get("samples", 0) >= 40 for q, _ in passed), passed

        labeller.flip = {"v3"}  # v3's labels say the opposite: the world changed, the model did not
        stack.apply(_md(name, versions["v3"], QUALITY))
        failing: list[dict[str, Any]] = []
        status = stack.wait(
            name,
            lambda s: s.get("phase") == "RolledBack",
            timeout=240,
            on_change=lambda s: failing.append(s.get("lastAnalysis") or {}),
        )
        last = status["history"][0]
        assert (last["version"], last["outcome"]) == ("v3", "RolledBack"), (last, _events(stack, name))
        assert "failed analyses" in last["reason"] and "quality" in last["reason"], last
        failed = [a for a in failing if a.get("verdict") == "Fail"]
        assert failed, failing
        for analysis in failed:  # only the labels saw it: same inputs, same scores
            verdicts = {c["name"]: c["verdict"] for c in analysis["checks"]}
            print("v3:", verdicts, _check(analysis, "quality").get("reason"))
            assert verdicts["quality"] == "Fail", verdicts
            assert verdicts["prediction-drift"] != "Fail" and verdicts["availability"] != "Fail", verdicts
        assert status["stable"]["version"] == "v2" and status["canaryWeight"] == 0
        predicted, labelled = labeller.counts()
        print("labeller:", predicted, labelled, dict(labeller.results), labeller.errors[:5])
        assert labelled.get("v3", 0) >= 40, labelled

        status = stack.wait(name, lambda s: (s.get("quality") or {}).get("version") == "v2", timeout=60)
        view = model_deployment(stack.get("md", name))
        assert "Quality:  accuracy" in view and "of v2 on" in view and "label lag p90" in view, view
    finally:
        labeller.stop()


def test_too_few_labels_is_unknown_never_a_pass(stack: Stack, versions: dict[str, Artifact]) -> None:
    name = "few-labels"
    scarce = {**QUALITY, "minLabels": 100_000}
    stack.apply(_md(name, versions["v1"], scarce, maxUnknownChecks=4))
    stack.wait(name, lambda s: s.get("phase") == "Available", timeout=90)
    labeller = _labeller(stack, name, seed=12)
    try:
        stack.apply(_md(name, versions["v2"], scarce, maxUnknownChecks=4))
        analyses: list[dict[str, Any]] = []
        status = stack.wait(
            name,
            lambda s: s.get("phase") == "RolledBack",
            timeout=240,
            on_change=lambda s: analyses.append(s.get("lastAnalysis") or {}),
        )
        last = status["history"][0]
        assert (last["version"], last["outcome"]) == ("v2", "RolledBack"), (last, _events(stack, name))
        assert "analyses without a verdict" in last["reason"] and "quality" in last["reason"], last
        judged = [_check(a, "quality") for a in analyses if _check(a, "quality")]
        assert judged and all(c["verdict"] == "Unknown" for c in judged), judged
        assert any("fewer than 100000" in c["reason"] for c in judged), judged
        assert not any(a.get("verdict") == "Pass" for a in analyses if _check(a, "quality")), analyses
        quality = stack.wait(name, lambda s: bool(s.get("quality")), timeout=60)["quality"]
        conditions = {c["type"]: c for c in stack.status(name).get("conditions") or []}
        assert quality["verdict"] == "Unknown" and conditions["Quality"]["reason"] == "InsufficientData", conditions
    finally:
        labeller.stop()
