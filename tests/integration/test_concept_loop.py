"""Concept drift, end to end: labels drop -> performance trigger -> retraining Job -> gated canary -> recovered.

v1 serves on the local data plane; the traffic generator sends the ground truth of every answer
back to the pod that gave it, two seconds later. Then the concept shifts: the same feature
values, labels from another relation. The DriftMonitor stays clean the whole time (nothing it
can see moved); the stable version's AUC on the labels drops, the RetrainPolicy's performance
trigger confirms it and starts a Job that trains on fresh labelled data of the new concept; the
result is validated, canaried and promoted by the ModelDeployment (modelFrom), and the AUC on
labels of the new stable version is back above the threshold. Nobody edits the objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modelops_devcluster import concept
from modelops_devcluster.stack import Stack
from modelops_devcluster.traffic import Service

pytestmark = pytest.mark.integration
NS = "concept"
MODEL = "churn"
POLL_S = 0.5


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


class Watch:
    """Polls the policy until a predicate holds, checking on every poll that the DriftMonitor never drifts."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.monitor_verdicts: list[bool | None] = []

    def policy(self, what: str, check: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            monitor = self.stack.status(f"{MODEL}-drift", "driftmonitor")
            self.monitor_verdicts.append(monitor.get("drifted"))
            assert monitor.get("drifted") is not True, f"the DriftMonitor drifted: {monitor}"
            status = self.stack.status(f"{MODEL}-retrain", "retrainpolicy")
            if check(status):
                return status
            time.sleep(POLL_S)
        raise TimeoutError(f"{what}: not reached in {timeout:.0f}s; policy status: {status}")


def test_concept_drift_is_caught_by_labels_retrained_promoted_and_recovers(stack: Stack) -> None:
    v1 = stack.train(MODEL, "v1", rows=20_000, seed=1)
    stack.apply(*concept.objects(stack, MODEL, v1))
    stack.wait(MODEL, lambda s: s.get("phase") == "Available", timeout=90)
    traffic = stack.traffic(Service(MODEL), dataset=concept.traffic_data(), rate=40, seed=21, labels=concept.LABELS)
    watch = Watch(stack)
    started = time.monotonic()
    marks: dict[str, float] = {}
    run = f"{MODEL}-retrain-1"
    try:
        before = watch.policy(
            "v1's AUC on labels at or above the threshold",
            lambda s: _condition(s, "PerformanceDropped").get("reason") == "AtOrAbove",
            timeout=90,
        )
        assert before["performance"]["version"] == "v1" and before["performance"]["value"] >= 0.7, before
        until_clean = time.monotonic() + 30
        while stack.status(f"{MODEL}-drift", "driftmonitor").get("drifted") is not False:
            assert time.monotonic() < until_clean, "the DriftMonitor gave no clean verdict"
            time.sleep(POLL_S)
        traffic.generator.set_dataset(concept.traffic_data(concept.CONCEPT))
        marks["shift"] = time.monotonic()
        dropped = watch.policy(
            "the performance trigger fires",
            lambda s: any(r["trigger"] == "performance" for r in s.get("runs") or []),
            timeout=90,
        )
        marks["drop detected"] = time.monotonic()
        record = next(r for r in dropped["runs"] if r["trigger"] == "performance")
        assert record["name"] == run and record["outcome"] == "Running", record
        for evidence in ("stable v1", "auc", "below 0.7", "over 20s", "modelops_labelled_score_bucket"):
            assert evidence in record["evidence"], record
        assert _condition(dropped, "PerformanceDropped")["status"] == "True"
        validated = watch.policy(
            "a validated run", lambda s: (s.get("latestValidated") or {}).get("version") == run, timeout=120
        )
        marks["trained"] = time.monotonic()
        assert validated["latestValidated"]["metrics"]["auc"] >= 0.7  # trained on the new concept
        canary_checks: dict[str, dict[str, Any]] = {}  # the canary's analyses on labels, as they come

        def promoted(s: dict[str, Any]) -> bool:
            if (s.get("canary") or {}).get("version") == run:
                for check in (s.get("lastAnalysis") or {}).get("checks") or []:
                    if check["name"].startswith("quality"):
                        canary_checks.setdefault(f"{check['name']} {check['verdict']}", check)
            return bool((s.get("stable") or {}).get("version") == run)

        status = stack.wait(MODEL, promoted, timeout=180)
        marks["promoted"] = time.monotonic()
        entry = status["history"][0]
        assert (entry["version"], entry["outcome"], entry["retrainRun"]) == (run, "Promoted", run)
        # the canary was judged on labels too: its quality checks passed, and none failed
        assert {"quality Pass", "quality-vs-stable Pass"} <= set(canary_checks), list(canary_checks)
        assert not [k for k in canary_checks if k.endswith("Fail")], list(canary_checks)
        print("canary on labels:", canary_checks["quality Pass"]["reason"])
        recovered = watch.policy(
            "the new version's AUC on labels at or above the threshold",
            lambda s: (
                (s.get("performance") or {}).get("version") == run
                and _condition(s, "PerformanceDropped").get("reason") == "AtOrAbove"
            ),
            timeout=90,
        )
        marks["recovered"] = time.monotonic()
        assert recovered["performance"]["value"] >= 0.7
        assert len(recovered["runs"]) == 1  # one drop, one run
    finally:
        traffic.stop()
    labels = traffic.generator.label_counts
    assert labels.posted > 1000 and labels.results["accepted"] > 0.95 * labels.posted, labels
    assert not labels.failed_posts, labels.errors
    assert watch.monitor_verdicts.count(False) > 0  # the monitor kept evaluating, and never drifted
    assert stack.get("md", MODEL)["spec"]["model"]["version"] == "v1"  # nothing edited the user's objects
    timeline = ", ".join(f"{k} +{v - marks['shift']:.0f}s" for k, v in marks.items())
    print(
        f"concept loop ({time.monotonic() - started:.0f}s in all; {labels.posted} labels): {timeline}; "
        f"AUC {before['performance']['value']:.3f} -> {record['evidence'].split('auc ')[1][:6]} -> "
        f"{recovered['performance']['value']:.3f}"
    )
