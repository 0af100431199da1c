"""Two operator replicas, one leading: the leader is lost during a canary, during a bake, while a
retraining Job runs, and frozen (SIGSTOP) longer than its lease during another canary.

Each time the standby takes over within leaseDuration plus two retries (the bound the Lease state
machine guarantees, tests/lease) and finishes a reconcile pass soon after; every rollout ends as it
would have without the loss (healthy: Promoted, once); the retraining trigger makes exactly one
Job and one run; the frozen leader, resumed, exits with code 3 and sends no write (the API
server's audit log, by User-Agent); and the traffic generator saw no failed request.

Short durations (4/3/1 s) keep it within a few minutes; bench/failover.py measures client-go's
defaults (15/10/2) as well.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelops_devcluster.chaos import _policy, model_deployment, target
from modelops_devcluster.failover import AUDIT_WRITES, Takeover, fail_leader, writes_by
from modelops_devcluster.operator import LeaderElection
from modelops_devcluster.stack import Stack

pytestmark = pytest.mark.integration
NS = "failover"
ELECTION = LeaderElection("operator", lease_duration=4, renew_deadline=3, retry_period=1)
TAKEOVER_BOUND = ELECTION.lease_duration + 2 * ELECTION.retry_period + 1.0  # + polling and process start
RECONCILE_BOUND = TAKEOVER_BOUND + 10.0  # one pass: kopf's first list, then a pass with its Prometheus queries


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None, replicas=2, election=ELECTION, audit_policy=AUDIT_WRITES) as s:
        yield s


def _promoted_once(version: str) -> Any:
    def check(status: dict[str, Any]) -> bool:
        entries = [h for h in status.get("history", []) if h["version"] == version]
        idle = not status.get("canary") and not status.get("bake") and not status.get("retiring")
        return bool(entries) and idle

    return check


def _check_takeover(takeover: Takeover) -> None:
    assert takeover.new != takeover.old, takeover
    assert takeover.lease_s <= TAKEOVER_BOUND, takeover
    assert takeover.reconcile_s is not None and takeover.reconcile_s <= RECONCILE_BOUND, takeover


def _jobs_of(stack: Stack, policy: str) -> list[dict[str, Any]]:
    jobs = json.loads(stack.kubectl("get", "-n", NS, "jobs", "-o", "json"))["items"]
    return [j for j in jobs if any(o.get("name") == policy for o in j["metadata"].get("ownerReferences", []))]


def test_the_standby_takes_over_and_nothing_is_lost_or_done_twice(stack: Stack) -> None:
    v1, a, b = (stack.train("m", v, rows=4000, seed=i) for i, v in enumerate(("v1", "a", "b"), start=1))
    name = "fo"
    stack.apply(model_deployment(NS, name, "replicas", "v1", v1, bakeTime="20s"))
    stack.wait(name, lambda s: s.get("phase") == "Available", timeout=120)
    traffic = stack.traffic(target(name, "replicas"), rate=20, seed=5)
    takeovers: list[Takeover] = []
    try:
        # 1. lost during the canary
        stack.apply(model_deployment(NS, name, "replicas", "v2", a, bakeTime="20s"))
        stack.wait(name, lambda s: s.get("canaryWeight", 0) > 0, timeout=120)
        takeovers.append(fail_leader(stack, "kill"))
        # 2. lost during the bake
        stack.wait(name, lambda s: s.get("phase") == "Baking" and s["stable"]["version"] == "v2", timeout=180)
        takeovers.append(fail_leader(stack, "kill"))
        status = stack.wait(name, _promoted_once("v2"), timeout=180)
        assert [h["outcome"] for h in status["history"] if h["version"] == "v2"] == ["Promoted"], status
        # 3. lost while a retraining Job runs (kwok completes it with a valid result)
        policy = "fo-retrain"
        stack.apply(_policy(NS, policy, name, "n1"))
        deadline = time.monotonic() + 60
        while not _jobs_of(stack, policy):
            assert time.monotonic() < deadline, "no retraining Job"
            time.sleep(0.1)
        takeovers.append(fail_leader(stack, "kill", kind="RetrainPolicy"))
        runs = stack.wait_status(
            "retrainpolicy", policy, lambda s: any(r.get("finished") for r in s.get("runs", [])), timeout=120
        )["runs"]
        assert len(_jobs_of(stack, policy)) == 1 and len(runs) == 1, runs  # no decision made twice
        # 4. frozen longer than its lease during a canary, then resumed: deposed, it must not write
        stack.apply(model_deployment(NS, name, "replicas", "v3", b, bakeTime="5s"))
        stack.wait(name, lambda s: s.get("canaryWeight", 0) > 0, timeout=120)
        frozen = fail_leader(stack, "stop")
        takeovers.append(frozen)
        assert frozen.exit_code == 3, frozen
        assert frozen.resumed_at is not None
        assert writes_by(stack, frozen.old, since=frozen.resumed_at) == [], frozen
        status = stack.wait(name, _promoted_once("v3"), timeout=180)
        assert [h["outcome"] for h in status["history"] if h["version"] == "v3"] == ["Promoted"], status
    finally:
        traffic.stop()
    for takeover in takeovers:
        print(takeover)  # the figures (pytest -s)
        _check_takeover(takeover)
    # every replica that ever led wrote through the audit log under its own name
    assert {t.old for t in takeovers} | {t.new for t in takeovers} == {"operator-0", "operator-1"}
    summary = traffic.summary()
    print(summary)
    assert len(traffic.records) > 1000, summary
    assert traffic.unexpected_failures() == [], summary
    history = stack.status(name)["history"]
    assert sorted(h["version"] for h in history if h["outcome"] == "Promoted") == ["v2", "v3"], history
