"""DriftMonitor end to end: the operator judges drift from real Prometheus scraping real model servers.

v1 of the reference model is trained on synthetic data and served by the local data plane;
its training baseline goes into a ConfigMap the DriftMonitor references. Traffic drawn from
the training distribution must keep the monitor clean for 20 evaluations; traffic with three
features shifted must turn it Drifted within a few intervals, naming those three and no
other. Evaluations are every INTERVAL over a WINDOW of traffic, Prometheus scrapes every second.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelops.train.dataset import Drift, generate
from modelops_devcluster.objects import condition
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Service

pytestmark = pytest.mark.integration
NS = "drift"
MODEL = "fraud"
INTERVAL_S = 5
WINDOW_S = 10
CLEAN_EVALUATIONS = 20
SHIFTED = {"amount": 1.0, "hour": -1.0, "velocity": 1.0}  # mean shifts in standard deviations
RATE = 40.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


@pytest.fixture(scope="module")
def v1(stack: Stack) -> Artifact:
    return stack.train(MODEL, "v1", rows=20_000, seed=1)


def _md(artifact: Artifact) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": MODEL, "namespace": NS},
        "spec": {
            "model": {
                "name": MODEL,
                "version": artifact.version,
                "uri": artifact.uri,
                "sha256": artifact.sha256,
                "baseline": {"name": f"{MODEL}-baseline"},
            },  # the servers bucket features on its edges
            "replicas": 2,
            "traffic": {"router": "replicas"},
        },
    }


def _monitor(name: str, **spec: Any) -> dict[str, Any]:
    base = {
        "modelDeploymentRef": {"name": MODEL},
        "reference": {"configMapRef": {"name": f"{MODEL}-baseline", "key": "baseline.json"}},
        "interval": f"{INTERVAL_S}s",
        "window": f"{WINDOW_S}s",
        "minSamples": 100,
        "driftShare": 0.2,
        "consecutive": 2,
    }
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": name, "namespace": NS},
        "spec": {**base, **spec},
    }


def _status(stack: Stack, name: str) -> dict[str, Any]:
    return stack.status(name, "driftmonitor")


def _wait(stack: Stack, name: str, check: Any, timeout: float) -> dict[str, Any]:
    return stack.wait_status("driftmonitor", name, check, timeout=timeout)


def _next_evaluation(stack: Stack, name: str, after: str | None, timeout: float = 3 * INTERVAL_S) -> dict[str, Any]:
    return _wait(stack, name, lambda s: s.get("lastEvaluated") not in (None, after), timeout)


def test_clean_traffic_stays_clean_and_a_shift_is_detected(stack: Stack, v1: Artifact) -> None:
    stack.apply(stack.baseline_configmap(f"{MODEL}-baseline", v1), _md(v1))
    stack.wait(MODEL, lambda s: s.get("phase") == "Available", timeout=90)
    traffic = stack.traffic(Service(MODEL), dataset=generate(20_000, seed=11), rate=RATE, seed=11)
    try:
        time.sleep(WINDOW_S)  # a full window of traffic before the first evaluation
        stack.apply(_monitor("fraud-drift"))
        status = _wait(stack, "fraud-drift", lambda s: condition(s, "Ready").get("status") == "True", 60)
        assert status["version"] == "v1" and "ConfigMap fraud-baseline" in status["reference"]
        # the first windows may be InsufficientData while Prometheus discovers the pods: drifted stays null
        status = _wait(stack, "fraud-drift", lambda s: s.get("drifted") is not None, 60)
        assert status["drifted"] is False, json.dumps(status)[:4000]
        false_alarms: dict[str, int] = {}
        last = status.get("lastEvaluated")
        for _ in range(CLEAN_EVALUATIONS):
            status = _next_evaluation(stack, "fraud-drift", last)
            last = status["lastEvaluated"]
            assert status.get("drifted") is False, json.dumps(status)[:4000]
            assert condition(status, "InsufficientData")["status"] == "False", condition(status, "InsufficientData")
            assert condition(status, "Degraded")["status"] == "False", condition(status, "Degraded")
            for f in status["features"]:
                assert f["samples"] >= 100 and f["pValue"] is not None
                false_alarms[f["name"]] = false_alarms.get(f["name"], 0) + f["drifted"]
        assert {f["name"] for f in status["features"]} == {
            *SHIFTED,
            "age_days",
            "txn_per_day",
            "distance_km",
            "merchant_risk",
            "device_age",
            "country",
        }
        assert stack.operator.metric("modelops_drift_detected", name="fraud-drift") == 0
        print(f"clean: per-feature drifted flags over {CLEAN_EVALUATIONS} evaluations: {false_alarms}")

        switched = time.monotonic()
        traffic.generator.set_dataset(generate(20_000, seed=12, drift=Drift(mean_shift=SHIFTED)))
        evaluations = 0
        while status["drifted"] is not True:
            status = _next_evaluation(stack, "fraud-drift", last)
            last = status["lastEvaluated"]
            evaluations += 1
            assert evaluations <= WINDOW_S // INTERVAL_S + 2, json.dumps(status)[:3000]  # window refill + consecutive
        print(f"drift: Drifted after {evaluations} evaluations, {time.monotonic() - switched:.1f}s after the switch")
        drifted = {f["name"] for f in status["features"] if f["drifted"]}
        assert drifted == set(SHIFTED), status["features"]
        assert status["worstFeature"] in SHIFTED
        assert condition(status, "Drifted")["reason"] == "DriftDetected"
        assert all(name in condition(status, "Drifted")["message"] for name in SHIFTED)
        assert stack.operator.metric("modelops_drift_detected", name="fraud-drift") == 1
        assert (stack.operator.metric("modelops_drift_score", name="fraud-drift", feature="amount") or 0) > 0.1
        events = stack.kubectl("get", "events", "-n", NS, "--field-selector", "reason=DriftDetected", "-o", "json")
        assert any("amount" in e["message"] for e in json.loads(events)["items"])
        shown = stack.kubectl("get", "driftmonitor", "fraud-drift", "-n", NS)
        assert re.search(r"fraud-drift\s+fraud\s+v1\s+true", shown), shown
    finally:
        traffic.stop()


def test_plugin_prints_the_feature_table(stack: Stack, v1: Artifact) -> None:
    """Runs after the drift test: the monitor has features to show."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "modelops.cli.kubectl_plugin", "-n", NS, "drift", "fraud-drift"],
        env={**stack.cluster.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "FEATURE" in result.stdout and "amount" in result.stdout and "DRIFTED" in result.stdout, result.stdout


def test_problems_are_conditions_not_crashes(stack: Stack, v1: Artifact) -> None:
    """A missing ModelDeployment, a malformed ConfigMap and edges that do not match each name the problem."""
    stack.apply(
        _monitor("no-model", modelDeploymentRef={"name": "nope"}),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "broken", "namespace": NS},
            "data": {"baseline.json": "{not json"},
        },
        _monitor("bad-json", reference={"configMapRef": {"name": "broken"}}),
    )
    status = _wait(stack, "no-model", lambda s: condition(s, "Ready").get("status") == "False", 60)
    assert condition(status, "Ready")["reason"] == "ModelDeploymentNotFound"
    assert "'nope'" in condition(status, "Ready")["message"]
    status = _wait(stack, "bad-json", lambda s: condition(s, "Ready").get("status") == "False", 60)
    assert (
        condition(status, "Ready")["reason"] == "InvalidReference" and "broken" in condition(status, "Ready")["message"]
    )
    # a reference whose `amount` edges are not the ones the servers export, and whose `hour` has a negative
    # count (before: clamped to 0 and judged): those two features are errors, the rest tested
    baseline = json.loads(v1.baseline.read_text())
    for feature in baseline["features"]:
        if feature["name"] == "amount":
            feature["edges"] = [e + 0.001 for e in feature["edges"]]
        if feature["name"] == "hour":
            feature["counts"][2] = -190
    stack.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shifted-edges", "namespace": NS},
            "data": {"baseline.json": json.dumps(baseline)},
        },
        _monitor("edges", reference={"configMapRef": {"name": "shifted-edges"}}),
    )
    traffic = stack.traffic(Service(MODEL), dataset=generate(5_000, seed=21), rate=RATE, seed=21)
    try:
        # `hour` is Degraded from the first evaluation; `amount` once the servers' series are scraped
        status = _wait(stack, "edges", lambda s: "amount" in condition(s, "Degraded").get("message", ""), 60)
    finally:
        traffic.stop()
    degraded = condition(status, "Degraded")["message"]
    assert "amount" in degraded and "do not match the reference edges" in degraded, degraded
    assert "hour: reference: malformed entry: counts[2] (le " in degraded and ") = -190 is negative" in degraded
    assert degraded.endswith("(1 invalid entry in the reference, ConfigMap shifted-edges/baseline.json)"), degraded
    errors = {f["name"] for f in status["features"] if f.get("error")}
    tested = {f["name"] for f in status["features"] if f.get("pValue") is not None}
    assert errors == {"amount", "hour"} and "velocity" in tested
