"""The supervisor's loop: passes run, requeue, and the due-to-start wait is measured."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from modelops.controllers import metrics
from modelops.controllers.supervisor import Supervisor

KIND = "DriftMonitor"  # a label value the metrics know; the loop does not care which kind it runs


def _waits() -> tuple[float, float]:
    sample = {
        s.name: s.value
        for m in metrics.RECONCILE_WAIT.collect()
        for s in m.samples
        if s.labels["kind"] == KIND and s.labels["priority"] == "routine"
    }
    return sample.get("modelops_reconcile_wait_seconds_sum", 0.0), sample.get(
        "modelops_reconcile_wait_seconds_count", 0.0
    )


def _body(name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "uid": "u"}}


def test_every_pass_records_its_wait_for_a_slot() -> None:
    passes: list[str] = []

    async def reconcile(body: dict[str, Any], memo: Any, indexes: Any, logger: Any) -> float:
        passes.append(body["metadata"]["name"])
        return 0.01  # requeue almost at once: several timed-out sleeps, each one due when it ends

    async def scenario() -> None:
        supervisor = Supervisor(KIND, reconcile, logging.getLogger("test"))
        supervisor.observe("ADDED", kopf.Body(_body("a")), kopf.Memo(), {})
        for _ in range(200):
            if len(passes) >= 5:
                break
            await asyncio.sleep(0.01)
        await supervisor.stop_all()

    before = _waits()
    asyncio.run(scenario())
    after = _waits()
    assert len(passes) >= 5
    assert after[1] - before[1] >= 5  # one observation per pass
    assert after[0] >= before[0]  # waits are never negative


def test_a_woken_loop_is_due_at_once_not_at_its_requeue_time() -> None:
    """A wake-up makes the pass due now: the wait measured is not the hour it would have slept."""
    passes: list[str] = []

    async def reconcile(body: dict[str, Any], memo: Any, indexes: Any, logger: Any) -> float:
        passes.append(body["metadata"]["name"])
        return 3600.0

    async def scenario() -> None:
        supervisor = Supervisor(KIND, reconcile, logging.getLogger("test"))
        supervisor.observe("ADDED", kopf.Body(_body("b")), kopf.Memo(), {})
        while not passes:
            await asyncio.sleep(0.01)
        supervisor.observe("MODIFIED", kopf.Body(_body("b")), kopf.Memo(), {})  # wakes the sleeping loop
        for _ in range(200):
            if len(passes) >= 2:
                break
            await asyncio.sleep(0.01)
        await supervisor.stop_all()

    before = _waits()
    asyncio.run(scenario())
    after = _waits()
    assert len(passes) == 2
    assert after[1] - before[1] == 2
    assert after[0] - before[0] < 60  # not 3,600 s: the second pass was due when it was woken
