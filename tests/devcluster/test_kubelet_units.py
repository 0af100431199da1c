"""The data plane's kubelet parts and the counted traffic, without a cluster.

Readiness probes (thresholds, periods, what cannot be probed), the status patch, preStop,
the kwok stages that leave Ready and pod removal to the data plane, and the traffic records
that tell injected failures from real ones.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.train.dataset import generate
from modelops_devcluster import kwok
from modelops_devcluster.dataplane import (
    DataPlane,
    _condition,
    _pod_ready,
    _PodRun,
    _prestop,
    _Prober,
    _prober,
    _probers,
    _ready_patch,
)
from modelops_devcluster.stack import Traffic
from modelops_devcluster.traffic import (
    Backend,
    Endpoint,
    RequestRecord,
    Routes,
    RoutingError,
    Service,
    TrafficGenerator,
)


def _pod(containers: list[dict[str, Any]], annotations: dict[str, str] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "annotations": annotations or {}},
        "spec": {"containers": containers},
        "status": {"podIP": "127.1.0.5", "phase": "Running", **status},
    }


PROBED = {
    "name": "model",
    "ports": [{"name": "http", "containerPort": 8080}],
    "readinessProbe": {
        "httpGet": {"path": "/ready", "port": "http"},
        "periodSeconds": 2,
        "failureThreshold": 2,
        "successThreshold": 2,
    },
}


class _Running:
    """A process stand-in: alive until `code` is set."""

    def __init__(self) -> None:
        self.code: int | None = None

    def exit_code(self) -> int | None:
        return self.code

    def started(self) -> bool:
        return True


def test_a_new_pod_waits_while_a_stopping_pod_still_serves_on_its_reused_ip() -> None:
    """kwok reuses a deleted pod's IP at once; the old server may still be draining."""
    plane = DataPlane(None)  # type: ignore[arg-type]  # _setup never reaches the API here
    old = _PodRun(_pod([{"name": "model"}]), Path("/nonexistent"), phase="running")
    old.pod["metadata"]["name"] = "old"
    process = _Running()
    old.processes.append(process)  # type: ignore[arg-type]
    old.terminating_since = 1.0
    new = _PodRun(_pod([{"name": "model", "image": "other"}]), Path("/nonexistent"))
    new.pod["metadata"]["uid"] = "u2"
    plane._runs = {old.uid: old, new.uid: new}

    plane._setup(new)
    assert (new.phase, new.message) == ("waiting", "waiting for pod old to stop serving on 127.1.0.5")

    process.code = 0
    plane._setup(new)
    assert new.phase == "skipped"  # past the wait: planned (no modelops container here)


# -- probes ------------------------------------------------------------------------------


def test_a_prober_follows_thresholds_and_periods() -> None:
    answers = iter([False, True, True, True, False, False, True])
    p = _Prober("model", lambda: next(answers), period=2, initial_delay=1, success_threshold=2, failure_threshold=2)
    assert not p.step(0.0)  # not started: never probed
    p.started(0.0)
    assert not p.step(0.5)  # initial delay
    assert [p.step(t) for t in (1.0, 1.5, 3.0, 5.0)] == [False, False, False, True]  # F, (wait), T, T
    assert p.step(7.0) and p.step(9.0)  # T; then one failure is not enough
    assert not p.step(11.0)  # the second consecutive failure
    assert not p.step(13.0)  # one success of two


def test_probe_specs_become_local_checks_or_never_pass() -> None:
    p = _prober(PROBED, "127.1.0.5")
    assert (p.check is not None, p.period, p.success_threshold, p.failure_threshold) == (True, 2.0, 2, 2)
    exec_probe = _prober({"name": "c", "readinessProbe": {"exec": {"command": ["true"]}}}, "127.1.0.5")
    assert exec_probe.check is None and "exec" in exec_probe.why
    foreign = _prober({"name": "c", "readinessProbe": {"httpGet": {"port": 80, "host": "10.0.0.1"}}}, "127.1.0.5")
    assert foreign.check is None and "127.0.0.0/8" in foreign.why
    unnamed = _prober({"name": "c", "readinessProbe": {"tcpSocket": {"port": "grpc"}}}, "127.1.0.5")
    assert unnamed.check is None
    https = _prober({"name": "c", "readinessProbe": {"httpGet": {"port": 443, "scheme": "HTTPS"}}}, "127.1.0.5")
    assert https.check is None
    # nothing answers on this address: the check runs (loopback) and fails
    closed = _prober({"name": "c", "readinessProbe": {"tcpSocket": {"port": 9}}}, "127.1.0.5")
    assert closed.check is not None and not closed.check()


def test_probes_pass_annotation_means_no_probers() -> None:
    assert set(_probers(_pod([PROBED]), ["model"])) == {"model"}
    assert _probers(_pod([PROBED]), []) == {}  # not ours to run: no prober, never ready
    assert _probers(_pod([PROBED], {kwok.PROBES_PASS_ANNOTATION: "true"}), ["model"]) == {}


def test_pod_ready_is_left_alone_without_probes_and_false_while_starting_with_one() -> None:
    run = _PodRun(_pod([PROBED]), Path("/nonexistent"))
    assert _pod_ready(run) is False  # waiting: kwok left it False, the data plane keeps it so
    plain = _PodRun(_pod([{"name": "model"}]), Path("/nonexistent"))
    assert _pod_ready(plain) is None  # kwok made it Ready; nothing to change before it runs
    plain.phase = "failed"
    assert _pod_ready(plain) is False  # a dead server is not ready, probe or not
    skipped = _PodRun(_pod([PROBED]), Path("/nonexistent"), phase="skipped")
    assert _pod_ready(skipped) is None  # not ours: stays as kwok left it (NotReady)


def test_ready_patch_merges_conditions_by_type_and_keeps_container_statuses() -> None:
    pod = _pod(
        [PROBED],
        containerStatuses=[{"name": "model", "ready": False, "image": "x", "restartCount": 0}],
        conditions=[{"type": "Ready", "status": "False"}],
    )
    assert _condition(pod, "Ready") is False and _condition(pod, "Initialized") is None
    body = _ready_patch(pod, True, {"model": True}, "2026-01-01T00:00:00Z")
    conditions = {c["type"]: c for c in body["status"]["conditions"]}
    assert set(conditions) == {"Ready", "ContainersReady"}
    assert conditions["Ready"] == {
        "type": "Ready",
        "status": "True",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "reason": None,
        "message": None,
    }
    assert body["status"]["containerStatuses"] == [{"name": "model", "ready": True, "image": "x", "restartCount": 0}]
    down = _ready_patch(pod, False, {"model": False}, "2026-01-01T00:00:01Z")
    assert down["status"]["conditions"][0]["reason"] == "ContainersNotReady"
    assert "model" in down["status"]["conditions"][0]["message"]


def test_prestop_runs_sleep_and_names_what_it_skips() -> None:
    assert _prestop({"lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}) == (5.0, "")
    assert _prestop({"lifecycle": {"preStop": {"exec": {"command": ["sh"]}}}}) == (0.0, "exec")
    assert _prestop({}) == (0.0, "")


# -- kwok stages ---------------------------------------------------------------------------


def _stage(name: str) -> dict[str, Any]:
    stages = {s["metadata"]["name"]: s for s in yaml.safe_load_all(kwok.STAGES_YAML)}
    stage: dict[str, Any] = stages[name]
    return stage


def test_kwok_leaves_probed_pods_not_ready_and_waits_for_the_data_plane_to_let_go() -> None:
    template = _stage("pod-ready")["spec"]["next"]["statusTemplate"]
    assert ".readinessProbe" in template and kwok.PROBES_PASS_ANNOTATION in template
    assert 'status: {{ if $ready }}"True"{{ else }}"False"{{ end }}' in template
    expressions = _stage("pod-delete")["spec"]["selector"]["matchExpressions"]
    assert {"key": ".metadata.finalizers.[]", "operator": "NotIn", "values": [kwok.DATAPLANE_FINALIZER]} in expressions


# -- counted traffic -------------------------------------------------------------------------


def _record(version: str, code: int | None, *, fault: str = "", at: float = 0.0, mirror: bool = False) -> RequestRecord:
    error = "" if code is not None else "ConnectError: [Errno 111] Connection refused"
    return RequestRecord(
        f"{version}-pod", version, "stable", code, 0.01, (0,), 0, fault, error, "127.1.0.9", at, mirror
    )


class _Cluster:
    """TrafficGenerator only needs a cluster for route resolution, which these tests replace."""


def _traffic() -> Traffic:
    cluster = _Cluster()
    gen = TrafficGenerator(cluster, "ns", target=Service("m"), dataset=generate(10, seed=1), rate_per_s=10, seed=1)  # type: ignore[arg-type]
    return Traffic(gen, started_at=100.0)


def test_traffic_tells_injected_failures_from_real_ones() -> None:
    t = _traffic()
    t.records += [
        _record("v1", 200, at=100.2),
        _record("v1", None, at=101.5),
        _record("v2", 500, fault="error", at=101.7),
        _record("v2", 500, fault="latency=0.3", at=102.1),
        _record("v2", 400, at=102.2),
        _record("", None, at=103.0),
    ]
    t.mirrored += [_record("v3", 200, at=101.0, mirror=True), _record("v3", None, at=101.1, mirror=True)]
    assert [r.code for r in t.unexpected_failures()] == [None, 500, 400, None]
    assert [r.code for r in t.unexpected_failures("v2")] == [500, 400]
    assert len(t.unexpected_failures(since=102.0)) == 3 and len(t.unexpected_failures(until=102.0)) == 1
    assert t.failures_per_second() == {1: {"v1": 1}, 2: {"v2": 2}, 3: {"-": 1}}
    assert t.answered() == {"v1": 1, "v2": 3} and t.mirrored_answers() == {"v3": 1}
    assert "4 unexpected failures" in t.summary()


def test_a_failing_route_resolution_keeps_the_last_routes_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _traffic().generator
    calls = {"n": 0}
    routes = Routes((Backend("ns/m", (Endpoint("m-1", "127.1.0.9", 9, {}),)),))

    def resolve() -> Routes:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RoutingError("Service ns/m-canary: GET answered 404")
        return routes

    monkeypatch.setattr(gen, "routes", resolve)
    with pytest.raises(RoutingError, match="no routes"):  # nothing resolved ever: nothing to send to
        gen.run(1, max_seconds=0.5)
    assert gen.route_errors and "404" in gen.route_errors[0][1]
    assert gen._refresh(None) is routes
    monkeypatch.setattr(gen, "routes", lambda: (_ for _ in ()).throw(OSError("API server restarting")))
    assert gen._refresh(None) is None and gen._routes is routes
    assert "restarting" in gen.route_errors[-1][1]


def test_the_traffic_loop_survives_a_failing_chunk() -> None:
    t = _traffic()
    failures = {"n": 0}

    def run(count: int, max_seconds: float) -> Any:
        failures["n"] += 1
        raise RoutingError("HTTPRoute m: GET answered 500")

    t.generator.run = run  # type: ignore[method-assign]
    t.start()
    deadline = time.monotonic() + 5
    while failures["n"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    t.stop()
    assert failures["n"] >= 2 and t._thread is not None and not t._thread.is_alive()
    assert all("chunk failed: RoutingError" in why for _, why in t.errors)


def test_records_are_kept_per_run_in_order() -> None:
    rng = random.Random(1)
    t = _traffic()
    t.records += [_record("v1", 200, at=100 + rng.random()) for _ in range(5)]
    assert t.answered() == {"v1": 5} and t.unexpected_failures() == []
