"""The whole loop, end to end: drift -> retraining Job -> validated model -> gated canary -> new reference.

v1 serves on the local data plane and Prometheus scrapes it. Traffic from the training
distribution keeps the DriftMonitor clean; traffic with three features shifted turns it
Drifted; the RetrainPolicy's drift trigger starts a Job whose pod the local data plane runs
(the reference trainer, `modelops train`, on data with the same shift); the result is
validated, its baseline published; the ModelDeployment (modelFrom) canaries and promotes it
under the same drifted traffic; the DriftMonitor, following the served version's baseline,
clears. Nobody edits any of the three objects after applying them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelops.train.dataset import Drift, generate
from modelops_devcluster.loop import SHIFT, objects
from modelops_devcluster.objects import until
from modelops_devcluster.stack import Stack
from modelops_devcluster.traffic import Service

pytestmark = pytest.mark.integration
NS = "loop"
MODEL = "fraud"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


def _monitor(stack: Stack) -> dict[str, Any]:
    return stack.status(f"{MODEL}-drift", "driftmonitor")


def _policy(stack: Stack) -> dict[str, Any]:
    return stack.status(f"{MODEL}-retrain", "retrainpolicy")


def test_drift_retrains_canaries_promotes_and_clears(stack: Stack) -> None:
    v1 = stack.train(MODEL, "v1", rows=20_000, seed=1)
    stack.apply(*objects(stack, MODEL, v1))
    stack.wait(MODEL, lambda s: s.get("phase") == "Available", timeout=90)
    traffic = stack.traffic(Service(MODEL), dataset=generate(20_000, seed=11), rate=40, seed=11)
    started = time.monotonic()
    marks: dict[str, float] = {}
    try:
        monitor = until("a clean verdict", lambda: _monitor(stack), lambda s: s.get("drifted") is False, timeout=90)
        assert monitor["reference"] == f"ConfigMap {MODEL}-baseline-v1/baseline.json (the baseline of v1)"
        traffic.generator.set_dataset(generate(20_000, seed=12, drift=Drift(mean_shift=SHIFT)))
        marks["shift"] = time.monotonic()
        until("Drifted", lambda: _monitor(stack), lambda s: s.get("drifted") is True, timeout=60)
        marks["drifted"] = time.monotonic()
        run = f"{MODEL}-retrain-1"
        policy = until(
            "a validated run",
            lambda: _policy(stack),
            lambda s: (s.get("latestValidated") or {}).get("version") == run,
            timeout=120,
        )
        marks["validated"] = time.monotonic()
        record = next(r for r in policy["runs"] if r["name"] == run)
        assert record["trigger"] == "drift" and "amount" in record["evidence"], record
        assert policy["latestValidated"]["baselineConfigMap"] == f"{run}-baseline"
        status = stack.wait(MODEL, lambda s: (s.get("stable") or {}).get("version") == run, timeout=180)
        marks["promoted"] = time.monotonic()
        entry = status["history"][0]
        assert (entry["version"], entry["outcome"], entry["retrainRun"]) == (run, "Promoted", run)
        assert status["stable"]["baseline"] == f"{run}-baseline"
        # the monitor now compares with the baseline of the data the new version was trained on
        monitor = until(
            "a reference on the new baseline",
            lambda: _monitor(stack),
            lambda s: s.get("version") == run and s.get("drifted") is False,
            timeout=90,
        )
        marks["cleared"] = time.monotonic()
        assert monitor["reference"] == f"ConfigMap {run}-baseline/baseline.json (the baseline of {run})"
    finally:
        traffic.stop()
    spec = stack.get("md", MODEL)["spec"]
    assert spec["model"]["version"] == "v1"  # nothing edited the user's objects
    timeline = ", ".join(f"{k} +{v - started:.0f}s" for k, v in marks.items())
    print(f"closed loop: {timeline}")
