"""Rollouts judged from real Prometheus, end to end, for every router.

The healthy/broken test runs once per router; the others run one ModelDeployment per router
side by side in the same test (one operator judging three rollouts at once, as in production).

The stack: the real control plane (kwok runs the pods), the operator, Debian's Prometheus
scraping the reference model servers that the local data plane runs on the pods' 127.x IPs,
and traffic routed the way the cluster says (Service endpoints, HTTPRoute or VirtualService
weights). Versions are trained by the reference trainer; a broken version is simulated by
the servers' fault injection.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from modelops_devcluster import objects
from modelops_devcluster.objects import until
from modelops_devcluster.stack import Artifact, Stack, Traffic
from modelops_devcluster.traffic import Fault, HTTPRoute, Service, Target, VirtualService

pytestmark = pytest.mark.integration
NS = "e2e"
FAST = {
    "interval": "5s",
    "minRequests": 20,
    "maxFailedChecks": 2,
    "maxUnknownChecks": 24,
    "bakeTime": "5s",
    "progressDeadline": "5m",
    "steps": [{"setWeight": 20}, {"analysis": {"intervals": 1}}, {"setWeight": 50}, {"analysis": {"intervals": 1}}],
}
RATE_EACH = 25  # requests/s per ModelDeployment when the three routers run side by side
ROUTERS: dict[str, dict[str, Any]] = {
    "gatewayAPI": {"router": "gatewayAPI", "parentRefs": [{"name": "public"}], "hosts": ["m.example"]},
    "istio": {"router": "istio", "hosts": ["m.example"]},
    "replicas": {"router": "replicas"},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


@pytest.fixture(scope="module")
def versions(stack: Stack) -> dict[str, Artifact]:
    return {v: stack.train("m", v, rows=4000, seed=i) for i, v in enumerate(("v1", "v2", "v3"), start=1)}


def _md(
    name: str, artifact: Artifact, traffic: dict[str, Any], rollout: dict[str, Any] | None = None, replicas: int = 2
) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"name": name, "version": artifact.version, "uri": artifact.uri, "sha256": artifact.sha256},
            "replicas": replicas,
            "traffic": traffic,
            "rollout": rollout or FAST,
            # v1..v3 are models trained on different seeds: their scores differ for real, and at ~35
            # canary requests an interval the prediction-drift check sometimes says so (it failed a healthy
            # v2 once in six CI runs, PSI 2.5). These tests judge errors and latency; prediction drift
            # has its own tests (test_canary_analysis).
            "analysis": {
                "slo": {"latency": {"objective": 99, "thresholdSeconds": 0.25}},
                "predictionDrift": {"enabled": False},
            },
        },
    }


def _target(name: str, router: str) -> Target:
    return {"gatewayAPI": HTTPRoute(name), "istio": VirtualService(name), "replicas": Service(name)}[router]


def _serve(stack: Stack, name: str, router: str, v1: Artifact, replicas: int = 2) -> Traffic:
    stack.apply(_md(name, v1, ROUTERS[router], replicas=replicas))
    stack.wait(name, lambda s: s.get("phase") == "Available", timeout=60)
    return stack.traffic(_target(name, router), rate=40, seed=zlib.crc32(name.encode()) % 1000)


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_healthy_version_is_promoted_and_broken_one_rolled_back(
    stack: Stack, versions: dict[str, Artifact], router: str
) -> None:
    name = f"r-{router.lower()}"
    replicas = 4 if router == "replicas" else 2  # a replica ratio can only approximate the steps
    traffic = _serve(stack, name, router, versions["v1"], replicas)
    traffic.faults["v3"] = Fault(error_rate=0.10)
    try:
        stack.apply(_md(name, versions["v2"], ROUTERS[router], replicas=replicas))
        seen: list[int] = []
        status = stack.wait(
            name, lambda s: _serving(s, "v2"), timeout=180, on_change=lambda s: seen.append(s.get("canaryWeight", 0))
        )
        assert status["history"][0]["outcome"] == "Promoted"
        assert {20, 50} <= set(seen), seen
        stack.apply(_md(name, versions["v3"], ROUTERS[router], replicas=replicas))
        status = stack.wait(name, lambda s: s.get("phase") == "RolledBack", timeout=180)
        last = status["history"][0]
        assert (last["version"], last["outcome"]) == ("v3", "RolledBack"), (last, _events(stack, name))
        assert "failed analyses" in last["reason"] and "bad" in last["reason"]
        assert status["stable"]["version"] == "v2" and status["canaryWeight"] == 0
        # v3 keeps its pods for the scale-down delay (requests in flight finish), then goes
        stack.wait(name, lambda s: not s.get("retiring"), timeout=90)
        until(
            f"{name}-v3 deleted",
            lambda: _deployments(stack, name),
            lambda ds: not any(d.startswith(f"{name}-v3") for d in ds),
            timeout=30,
        )
    finally:
        traffic.stop()


def test_canary_refusing_inputs_stable_accepts_is_rolled_back(stack: Stack, versions: dict[str, Artifact]) -> None:
    """A changed input schema. A client sends a tenth of its requests with an old field name, and every
    version's real server refuses those (400, unknown_input): a healthy v2 refuses what the stable
    refuses and is promoted. v3's servers refuse half of what they get, inputs the stable accepts: the
    checks on 5xx see nothing, invalid-vs-stable fails it and it is rolled back."""
    name = "schema"
    traffic = _serve(stack, name, "gatewayAPI", versions["v1"])
    old_field = Fault(renamed_input_rate=0.1)
    traffic.faults.update({"v1": old_field, "v2": old_field, "v3": Fault(renamed_input_rate=0.5)})
    try:
        stack.apply(_md(name, versions["v2"], ROUTERS["gatewayAPI"]))
        judged: list[dict[str, Any]] = []
        status = stack.wait(
            name,
            lambda s: _serving(s, "v2"),
            timeout=180,
            on_change=lambda s: judged.append(_check(s, "invalid-vs-stable")),
        )
        assert status["history"][0]["outcome"] == "Promoted", (status["history"][0], _events(stack, name))
        passed = [c for c in judged if c.get("verdict") == "Pass"]
        assert passed, judged  # judged from data: the stable's own refusals, not a missing series
        print("v2:", [f"{c.get('verdict')} {c.get('reason')}" for c in judged if c])

        stack.apply(_md(name, versions["v3"], ROUTERS["gatewayAPI"]))
        failing: list[dict[str, Any]] = []
        status = stack.wait(
            name,
            lambda s: s.get("phase") == "RolledBack",
            timeout=180,
            on_change=lambda s: failing.append(s.get("lastAnalysis") or {}),
        )
        last = status["history"][0]
        assert (last["version"], last["outcome"]) == ("v3", "RolledBack"), (last, _events(stack, name))
        assert "failed analyses" in last["reason"] and "invalid-vs-stable" in last["reason"], last
        assert "unknown_input" in last["reason"], last
        failed = [a for a in failing if a.get("verdict") == "Fail"]
        assert failed, failing
        for analysis in failed:  # only the new check saw it: no 5xx, no slow requests
            verdicts = {c["name"]: c["verdict"] for c in analysis["checks"]}
            print("v3:", verdicts, _check({"lastAnalysis": analysis}, "invalid-vs-stable").get("reason"))
            assert verdicts["invalid-vs-stable"] == "Fail", verdicts
            assert {verdicts["availability"], verdicts["errors-vs-stable"]} <= {"Pass", "Unknown"}, verdicts
        assert status["stable"]["version"] == "v2" and status["canaryWeight"] == 0
    finally:
        traffic.stop()


def _check(status: dict[str, Any], check: str) -> dict[str, Any]:
    checks = (status.get("lastAnalysis") or {}).get("checks") or []
    return next((c for c in checks if c.get("name") == check), {})


def _each_router(stack: Stack, prefix: str, v1: Artifact) -> dict[str, tuple[str, Traffic]]:
    """One ModelDeployment per router serving v1 under traffic, all at once: {router: (name, traffic)}."""
    names = {router: f"{prefix}-{router.lower()}" for router in ROUTERS}
    for router, name in names.items():
        stack.apply(_md(name, v1, ROUTERS[router]))
    for name in names.values():
        stack.wait(name, lambda s: s.get("phase") == "Available", timeout=90)
    return {
        router: (name, stack.traffic(_target(name, router), rate=RATE_EACH, seed=zlib.crc32(name.encode()) % 1000))
        for router, name in names.items()
    }


def _stop(served: dict[str, tuple[str, Traffic]]) -> None:
    for _, traffic in served.values():
        traffic.stop()


def test_slow_version_fails_the_latency_slo(stack: Stack, versions: dict[str, Artifact]) -> None:
    served = _each_router(stack, "slow", versions["v1"])
    try:
        for router, (name, traffic) in served.items():
            traffic.faults["v2"] = Fault(latency_s=0.3)  # every request of v2 takes longer than the 250 ms objective
            stack.apply(_md(name, versions["v2"], ROUTERS[router]))
        for router, (name, _) in served.items():
            status = stack.wait(name, lambda s: s.get("phase") == "RolledBack", timeout=180)
            checks = {c["name"]: c for c in status["lastAnalysis"]["checks"]}
            # judged over the last interval or over the rollout so far: at a slow canary's share of traffic
            # the last interval alone may hold fewer than minRequests (Unknown) while the rollout's do not
            verdicts = {name: checks[name]["verdict"] for name in checks if name.startswith(("latency", "availab"))}
            assert "Fail" in {verdicts["latency"], verdicts.get("latency-since-start")}, (router, checks)
            assert "Fail" not in {verdicts["availability"], verdicts.get("availability-since-start")}, (router, checks)
            assert "latency" in status["history"][0]["reason"], (router, status["history"][0])
            assert status["stable"]["version"] == "v1" and status["canaryWeight"] == 0, router
    finally:
        _stop(served)


# after promotion v2 breaks: errors on two routers, and on istio it turns slow (every SLO is watched in the bake)
BREAKS = {
    "gatewayAPI": (Fault(error_rate=0.5), "availability"),
    "istio": (Fault(latency_s=0.3), "latency"),
    "replicas": (Fault(error_rate=0.5), "availability"),
}


def test_bad_promotion_is_reverted_during_bake(stack: Stack, versions: dict[str, Artifact]) -> None:
    served = _each_router(stack, "bake", versions["v1"])
    try:
        for router, (name, _) in served.items():
            body = _md(name, versions["v2"], ROUTERS[router], rollout={**FAST, "bakeTime": "2m"})
            # this test is about the bake: the statistical canary-vs-stable comparison once failed the healthy
            # canary here (latency-vs-stable, P=0.605, p=0.008, on a loaded 2-core machine) before any bake
            body["spec"]["analysis"]["compareToStable"] = False
            stack.apply(body)
        for router, (name, traffic) in served.items():
            stack.wait(name, lambda s: s.get("phase") == "Baking", timeout=180)
            assert _deployments(stack, name)[f"{name}-v1"] == 2, router  # kept warm, at full replicas
            traffic.faults["v2"] = BREAKS[router][0]
        for router, (name, _) in served.items():
            status = stack.wait(name, lambda s: s.get("phase") == "RolledBack", timeout=120)
            last = status["history"][0]
            assert (last["version"], last["outcome"]) == ("v2", "Reverted"), (router, last)
            assert f"page-level {BREAKS[router][1]} burn" in last["reason"], (router, last)
            assert status["stable"]["version"] == "v1" and status["blockedVersion"] == "v2", router
            assert _deployments(stack, name)[f"{name}-v1"] > 0, router
        switched = time.monotonic()
        for _, traffic in served.values():  # requests in flight at the switch come back
            traffic.returned(switched)
        for router, (_, traffic) in served.items():  # the revert is a switch to warm pods: no request lost
            assert traffic.unexpected_failures() == [], (router, traffic.summary())
    finally:
        _stop(served)


def test_killed_operator_resumes_each_rollout(stack: Stack, versions: dict[str, Artifact]) -> None:
    """SIGKILL mid-rollout, with a canary taking traffic; the next operator finishes the same rollouts."""
    served = _each_router(stack, "crash", versions["v1"])
    try:
        for router, (name, _) in served.items():
            stack.apply(_md(name, versions["v2"], ROUTERS[router]))
        before = {
            router: stack.wait(name, lambda s: s.get("canaryWeight", 0) > 0, timeout=120)
            for router, (name, _) in served.items()
        }
        stack.operator.kill()
        for router, (name, _) in served.items():  # killed mid-rollout: nothing promoted yet
            assert stack.status(name)["stable"]["version"] == "v1", router
        time.sleep(3)
        stack.operator.start()
        for router, (name, _) in served.items():
            status = stack.wait(name, lambda s: _serving(s, "v2"), timeout=180)
            assert (status["history"][0]["version"], status["history"][0]["outcome"]) == ("v2", "Promoted"), router
            assert sum(h["version"] == "v2" for h in status["history"]) == 1, (router, status["history"])
            started = before[router]["rolloutStartedAt"]
            assert started and status["history"][0]["at"] >= started, router
    finally:
        _stop(served)


def test_prometheus_down_holds_then_rolls_back(stack: Stack, versions: dict[str, Artifact]) -> None:
    """Last in the module: it stops the stack's Prometheus."""
    served = _each_router(stack, "blind", versions["v1"])
    # an endless pause last: a rollout whose router passed first cannot finish (and be promoted) while
    # the others are still waiting for their first pass, before Prometheus is stopped (seen in CI)
    held_rollout = {**FAST, "steps": [*FAST["steps"], {"pause": {}}]}
    frozen = "blind-freeze"  # a deploy freeze that cannot see must hold (fail closed), not let a rollout start

    def guarded(version: str) -> dict[str, Any]:
        body = _md(frozen, versions[version], ROUTERS["gatewayAPI"])
        body["spec"]["freeze"] = {"burnRateAbove": 2}
        return body

    try:
        stack.apply(guarded("v1"))
        stack.wait(frozen, lambda s: s.get("phase") == "Available", timeout=90)
        for router, (name, _) in served.items():
            stack.apply(_md(name, versions["v2"], ROUTERS[router], rollout=held_rollout))
        limits = {}
        for router, (name, _) in served.items():
            passed = stack.wait(name, lambda s: (s.get("lastAnalysis") or {}).get("verdict") == "Pass", timeout=120)
            # Unknowns before traffic reached the canary count too: allow three more from here on
            limits[router] = limit = passed.get("unknownChecks", 0) + 3
            stack.apply(_md(name, versions["v2"], ROUTERS[router], rollout={**held_rollout, "maxUnknownChecks": limit}))
        steps = {router: stack.status(name)["currentStep"] for router, (name, _) in served.items()}
        stack.prometheus.stop()
        for router, (name, _) in served.items():
            held = stack.wait(name, _blind, timeout=60)
            assert held["currentStep"] in {steps[router], steps[router] + 1}, router  # never advances on Unknown
            assert held["canaryWeight"] > 0 and held["phase"] != "RolledBack", (router, held["phase"])
            assert held["unknownChecks"] < limits[router], router
        stack.apply(guarded("v2"))
        status = stack.wait(frozen, lambda s: s.get("phase") == "Frozen", timeout=60)
        condition = next(c for c in status["conditions"] if c["type"] == "Frozen")
        assert (condition["status"], condition["reason"]) == ("True", "CannotSee"), condition
        assert "Prometheus unavailable" in condition["message"] and not status.get("canary"), condition
        for router, (name, _) in served.items():
            status = stack.wait(name, lambda s: s.get("phase") == "RolledBack", timeout=120)
            assert "without a verdict" in status["history"][0]["reason"] and status["canaryWeight"] == 0, router
        assert stack.status(frozen).get("phase") == "Frozen"  # still holding: it never saw
    finally:
        _stop(served)


def _blind(status: dict[str, Any]) -> bool:
    checks = (status.get("lastAnalysis") or {}).get("checks") or []
    return any("Prometheus unavailable" in c.get("reason", "") for c in checks)


def _serving(status: dict[str, Any], version: str) -> bool:
    return bool((status.get("stable") or {}).get("version") == version and status.get("phase") == "Available")


def _events(stack: Stack, name: str) -> list[str]:
    """The ModelDeployment's events, oldest first: what a failed assertion shows of the rollout's story."""
    found = objects.events(stack.cluster, NS, name, kind="ModelDeployment")
    return [f"{e.get('lastTimestamp') or e.get('eventTime')} {e['reason']}: {e['message']}" for e in found]


def _deployments(stack: Stack, name: str) -> dict[str, int]:
    return objects.deployment_replicas(stack.cluster, NS, name)
