"""Fencing of writes: status patches carry the resourceVersion they were computed from, a
conflict makes the supervisor read the object again and decide again (never overwrite), and
the leadership fence refuses writes before they are sent."""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import kopf
import pytest

from modelops.controllers import rollout
from modelops.controllers.supervisor import Supervisor
from modelops.kube import Conflict, NotLeader
from tests.controllers.fakes import FakeKube, indexes, memo
from tests.controllers.reconcile import LOGGER, run_pass
from tests.controllers.test_modeldeployment_pass import model_deployment


def test_a_status_computed_from_an_old_version_is_refused() -> None:
    """A deposed leader's pass, computed from the object as it was, loses to the newer write."""
    kube = FakeKube()
    kube.put(model_deployment())
    m = memo(kube)
    stale = copy.deepcopy(kube.find("ModelDeployment", "fraud"))
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")  # the new leader writes first
    written = copy.deepcopy(kube.find("ModelDeployment", "fraud"))
    assert stale is not None and written is not None
    with pytest.raises(Conflict):
        asyncio.run(rollout.reconcile(stale, m, indexes(kube), LOGGER))
    assert kube.conflicts and kube.find("ModelDeployment", "fraud") == written  # nothing overwritten


def test_two_writes_in_one_pass_follow_the_version_they_produced() -> None:
    kube = FakeKube()
    kube.put(model_deployment(alerts={"enabled": True}))
    kube.missing_kinds.add("PrometheusRule")  # the second write of the pass: AlertRules condition
    run_pass(rollout.reconcile, kube, memo(kube), "ModelDeployment", "fraud")
    assert not kube.conflicts and len(kube.status_patches) == 2


class Flaky:
    """A reconcile that conflicts on a stale body and records which versions it saw."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube, self.seen = kube, list[str]()

    async def __call__(self, body: dict[str, Any], memo: kopf.Memo, indexes: dict[str, Any], logger: Any) -> float:
        version = body["metadata"]["resourceVersion"]
        self.seen.append(version)
        stored = self.kube.find("ModelDeployment", "fraud")
        assert stored is not None
        if version != stored["metadata"]["resourceVersion"]:
            raise Conflict("stale")
        return 3600.0


def test_the_supervisor_reads_again_after_a_conflict_and_decides_at_once() -> None:
    kube = FakeKube()
    kube.put(model_deployment())
    stale = copy.deepcopy(kube.find("ModelDeployment", "fraud"))
    assert stale is not None
    kube.put(kube.find("ModelDeployment", "fraud") or {})  # someone wrote: version 2
    flaky = Flaky(kube)
    supervisor = Supervisor("ModelDeployment", flaky, logging.getLogger("test"))

    async def run() -> None:
        supervisor.observe("ADDED", kopf.Body(stale), kopf.Memo(kube=kube), {})
        for _ in range(50):
            await asyncio.sleep(0.01)
            if len(flaky.seen) >= 2:
                break
        await supervisor.stop_all()

    asyncio.run(run())
    assert flaky.seen[:2] == ["1", "2"]  # no error backoff: the second pass ran within 0.5 s


def test_a_refused_write_is_not_an_error_and_is_not_retried_at_once() -> None:
    calls: list[int] = []

    async def deposed(body: dict[str, Any], memo: kopf.Memo, indexes: dict[str, Any], logger: Any) -> float:
        calls.append(1)
        raise NotLeader("not the leader")

    supervisor = Supervisor("ModelDeployment", deposed, logging.getLogger("test"))
    kube = FakeKube()
    body = kube.put(model_deployment())

    async def run() -> None:
        supervisor.observe("ADDED", kopf.Body(body), kopf.Memo(kube=kube), {})
        await asyncio.sleep(0.2)
        await supervisor.stop_all()

    asyncio.run(run())
    assert calls == [1]
