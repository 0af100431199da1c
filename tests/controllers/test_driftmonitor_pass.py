"""DriftMonitor passes against the in-memory Kube and a fake Prometheus: the followed
ModelDeployment and its baseline ConfigMap are read, the verdict lands in status, events and
metrics; what stops an evaluation is Ready=False naming it."""

from __future__ import annotations

import json
from typing import Any

from modelops.api.v1alpha1 import API_VERSION
from modelops.controllers import driftmonitor
from tests.controllers.fakes import FakeKube, FakePrometheus, memo
from tests.controllers.reconcile import run_pass

NS = "ml"
BASELINE = {"features": [{"name": "x", "edges": [0.0, 1.0], "counts": [500, 500, 500]}]}


def cluster(baseline: Any = BASELINE, **monitor: Any) -> FakeKube:
    kube = FakeKube()
    model = {"name": "fraud-model", "version": "v1", "uri": "file:///m/v1.npz", "baseline": {"name": "fraud-baseline"}}
    kube.put(
        {
            "apiVersion": API_VERSION,
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud", "namespace": NS},
            "spec": {"model": model},
            "status": {"stable": {"version": "v1"}},
        }
    )
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fraud-baseline", "namespace": NS},
            "data": {"baseline.json": baseline if isinstance(baseline, str) else json.dumps(baseline)},
        }
    )
    spec = {"modelDeploymentRef": {"name": "fraud"}, "reference": {"served": {}}, "consecutive": 1}
    kube.put(
        {
            "apiVersion": API_VERSION,
            "kind": "DriftMonitor",
            "metadata": {"name": "dm", "namespace": NS},
            "spec": {**spec, "predictions": False, **monitor},
        }
    )
    return kube


def shifted(query: str) -> list[tuple[dict[str, str], float]] | None:
    """Every live observation of x above the last edge: a plain shift."""
    if "modelops_feature_value_bucket" not in query:
        return None
    return [({"feature": "x", "le": le}, value) for le, value in (("0.0", 0.0), ("1.0", 0.0), ("+Inf", 1500.0))]


def status(kube: FakeKube) -> dict[str, Any]:
    body = kube.find("DriftMonitor", "dm")
    assert body is not None
    return dict(body["status"])


def condition(kube: FakeKube, type_: str) -> dict[str, Any]:
    return next(c for c in status(kube)["conditions"] if c["type"] == type_)


def test_a_shifted_feature_is_drifted_with_its_evidence() -> None:
    kube, prometheus = cluster(), FakePrometheus(answer=shifted)
    delay = run_pass(driftmonitor.reconcile, kube, memo(kube, prometheus), "DriftMonitor", "dm")
    assert delay == 300.0  # the interval
    assert any('model="fraud-model"' in q and 'version="v1"' in q for q in prometheus.queries)
    st = status(kube)
    assert st["drifted"] is True and st["version"] == "v1"
    assert st["reference"] == "ConfigMap fraud-baseline/baseline.json (the baseline of v1)"
    assert st["features"][0]["name"] == "x" and st["features"][0]["drifted"] is True
    assert condition(kube, "Drifted")["status"] == "True"
    assert "DriftDetected" in kube.reasons()


def test_a_missing_model_deployment_blocks_with_its_reason() -> None:
    kube = cluster(modelDeploymentRef={"name": "nope"})
    delay = run_pass(driftmonitor.reconcile, kube, memo(kube, FakePrometheus()), "DriftMonitor", "dm")
    ready = condition(kube, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ModelDeploymentNotFound"
    assert delay == driftmonitor.BLOCKED_RETRY_SECONDS


def test_prometheus_down_blocks_and_keeps_the_verdict_unknown() -> None:
    kube = cluster()
    run_pass(driftmonitor.reconcile, kube, memo(kube, FakePrometheus(down=True)), "DriftMonitor", "dm")
    assert condition(kube, "Ready")["reason"] == "PrometheusUnavailable"
    assert status(kube).get("drifted") is None


def test_no_prometheus_configured_is_named() -> None:
    kube = cluster()
    run_pass(driftmonitor.reconcile, kube, memo(kube), "DriftMonitor", "dm")
    assert condition(kube, "Ready")["reason"] == "NoPrometheus"


def test_bad_reference_entries_are_degraded_and_the_good_features_still_judged() -> None:
    """Before: the -190 was clamped to 0 and y judged on it (drifted), the second z silently won,
    and Degraded said every feature was readable."""
    baseline = {
        "features": [
            BASELINE["features"][0],
            {"name": "y", "edges": [0.0, 1.0], "counts": [500, -190, 500]},
            {"name": "z", "edges": [0.0, 1.0], "counts": [0, 0, 1500]},
            {"name": "z", "edges": [0.0, 1.0], "counts": [500, 500, 500]},
        ]
    }

    def live(query: str) -> list[tuple[dict[str, str], float]] | None:
        x = shifted(query)
        return None if x is None else [({**labels, "feature": f}, v) for f in "xyz" for labels, v in x]

    kube, prometheus = cluster(baseline), FakePrometheus(answer=live)
    run_pass(driftmonitor.reconcile, kube, memo(kube, prometheus), "DriftMonitor", "dm")
    st = status(kube)
    by_name = {f["name"]: f for f in st["features"]}
    assert by_name["x"]["drifted"] is True and by_name["x"]["pValue"] is not None
    assert by_name["y"]["error"] == "reference: malformed entry: counts[1] (le 1) = -190 is negative"
    assert by_name["z"]["error"] == "reference: malformed entry: listed 2 times (features[2], features[3])"
    degraded = condition(kube, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "FeatureErrors"
    assert "y: reference: malformed entry: counts[1] (le 1) = -190 is negative" in degraded["message"]
    assert degraded["message"].endswith(
        "(2 invalid entries in the reference, ConfigMap fraud-baseline/baseline.json (the baseline of v1))"
    )
    assert condition(kube, "Ready")["status"] == "True" and condition(kube, "Stalled")["status"] == "False"
    events = [e for e in kube.events if e.reason == "FeatureErrors"]
    assert len(events) == 1 and events[0].type == "Warning" and "-190" in events[0].message


def test_a_reference_with_no_valid_entry_is_stalled_naming_the_problems() -> None:
    baseline = {"features": [{"name": "x", "edges": [0.0, 1.0], "counts": [500, 500, 1e300]}]}
    kube, prometheus = cluster(baseline), FakePrometheus(answer=shifted)
    delay = run_pass(driftmonitor.reconcile, kube, memo(kube, prometheus), "DriftMonitor", "dm")
    stalled = condition(kube, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "InvalidReference"
    assert stalled["message"] == (
        "ConfigMap 'fraud-baseline' key 'baseline.json' has no valid entry: x: malformed entry: counts[2] "
        "(le +Inf) = 1e+300 is more than the largest count, 2**53 (9007199254740992)"
    )
    assert condition(kube, "Ready")["reason"] == "InvalidReference" and "InvalidReference" in kube.reasons()
    assert status(kube).get("drifted") is None and delay == driftmonitor.BLOCKED_RETRY_SECONDS


def test_a_reference_over_the_configmap_limit_is_refused_unparsed() -> None:
    kube = cluster(" " * (2**20 + 1))
    run_pass(driftmonitor.reconcile, kube, memo(kube, FakePrometheus(answer=shifted)), "DriftMonitor", "dm")
    stalled = condition(kube, "Stalled")
    assert stalled["reason"] == "InvalidReference" and "more than the limit of 1048576 bytes" in stalled["message"]
