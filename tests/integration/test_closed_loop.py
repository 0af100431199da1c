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

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modelops.train.dataset import Drift, generate
from modelops_devcluster.loop import SHIFT, objects
from modelops_devcluster.stack import Stack
from modelops_devcluster.traffic import Service

pytestmark = pytest.mark.integration
NS = "loop"
MODEL = "fraud"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


def _get(stack: Stack, kind: str, name: str) -> dict[str, Any]:
    return dict(stack.get(kind, name).get("status") or {})


def _until(what: str, probe: Callable[[], dict[str, Any]], check: Callable[[dict[str, Any]], bool],
           timeout: float) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = probe()
        if check(seen):
            return seen
        time.sleep(0.5)
    raise TimeoutError(f"{what} not reached in {timeout:.0f}s: {json.dumps(seen)[:3000]}")


def test_drift_retrains_canaries_promotes_and_clears(stack: Stack) -> None:
    v1 = stack.train(MODEL, "v1", rows=20_000, seed=1)
    stack.apply(*objects(stack, MODEL, v1))
    stack.wait(MODEL, lambda s: s.get("phase") == "Available", timeout=90)
    traffic = stack.traffic(Service(MODEL), dataset=generate(20_000, seed=11), rate=40, seed=11)
    started = time.monotonic()
    marks: dict[str, float] = {}
    try:
        monitor = _until("a clean verdict", lambda: _get(stack, "driftmonitor", f"{MODEL}-drift"),
                         lambda s: s.get("drifted") is False, 90)  # fmt: skip
        assert monitor["reference"] == f"ConfigMap {MODEL}-baseline-v1/baseline.json (the baseline of v1)"
        traffic.generator.set_dataset(generate(20_000, seed=12, drift=Drift(mean_shift=SHIFT)))
        marks["shift"] = time.monotonic()
        _until("Drifted", lambda: _get(stack, "driftmonitor", f"{MODEL}-drift"), lambda s: s.get("drifted") is True, 60)
        marks["drifted"] = time.monotonic()
        run = f"{MODEL}-retrain-1"
        policy = _until("a validated run", lambda: _get(stack, "retrainpolicy", f"{MODEL}-retrain"),
                        lambda s: (s.get("latestValidated") or {}).get("version") == run, 120)  # fmt: skip
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
        monitor = _until("a reference on the new baseline", lambda: _get(stack, "driftmonitor", f"{MODEL}-drift"),
                         lambda s: s.get("version") == run and s.get("drifted") is False, 90)  # fmt: skip
        marks["cleared"] = time.monotonic()
        assert monitor["reference"] == f"ConfigMap {run}-baseline/baseline.json (the baseline of {run})"
    finally:
        traffic.stop()
    spec = stack.get("md", MODEL)["spec"]
    assert spec["model"]["version"] == "v1"  # nothing edited the user's objects
    timeline = ", ".join(f"{k} +{v - started:.0f}s" for k, v in marks.items())
    print(f"closed loop: {timeline}")
