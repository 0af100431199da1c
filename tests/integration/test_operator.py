"""The operator process against the real control plane: admission, status, deletion, endpoints."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from modelops_devcluster import objects
from modelops_devcluster.operator import OperatorProcess
from tests.api.invalid_cases import VALID

pytestmark = pytest.mark.integration
NAMESPACE = "operator-tests"


@pytest.fixture(scope="module")
def operator(cluster: Any) -> Iterator[OperatorProcess]:
    objects.install_crds(cluster)
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    with OperatorProcess(cluster.env, [NAMESPACE]) as process:
        yield process
    print(process.logs()[-3000:])


def _apply(cluster: Any, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }
    objects.apply(cluster, NAMESPACE, body)


def _get(cluster: Any, kind: str, name: str) -> dict[str, Any]:
    found = objects.get(cluster, NAMESPACE, kind, name)
    assert found is not None, f"{kind}/{name} not found"
    return found


def _wait_status(cluster: Any, kind: str, name: str, generation: int, timeout: float = 30) -> dict[str, Any]:
    def observed(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return bool(status.get("observedGeneration") == generation and status.get("conditions"))

    what = f"{kind}/{name} observing generation {generation}"
    return objects.until(what, lambda: _get(cluster, kind, name), observed, timeout=timeout, every=0.3)


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    found = objects.condition(obj["status"], type_)
    assert found, f"no {type_} condition: {obj['status']}"
    return found


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_kind_is_accepted_and_deletes_cleanly(cluster: Any, operator: OperatorProcess, kind: str) -> None:
    name = f"ok-{kind.lower()}"
    _apply(cluster, kind, name, VALID[kind])
    obj = _wait_status(cluster, kind, name, generation=1)
    accepted = _condition(obj, "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("True", "Valid")
    assert accepted["observedGeneration"] == 1 and accepted["lastTransitionTime"]
    # no finalizer: an uninstalled operator can never leave this object stuck in deletion
    assert not obj["metadata"].get("finalizers")
    # every kind is reconciled by a loop that starts from the status: no kopf diff-base annotation (one PATCH less)
    assert not any("last-handled-configuration" in k for k in obj["metadata"].get("annotations", {}))
    started = time.monotonic()
    cluster.kubectl("delete", "-n", NAMESPACE, kind, name, "--timeout=30s")
    assert time.monotonic() - started < 30
    gone = cluster.kubectl("get", "-n", NAMESPACE, kind, name, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_rules_a_schema_cannot_express_become_a_condition(cluster: Any, operator: OperatorProcess) -> None:
    spec = {**VALID["ModelDeployment"], "rollout": {"interval": "2h", "progressDeadline": "30m"}}
    _apply(cluster, "ModelDeployment", "slow-analysis", spec)
    obj = _wait_status(cluster, "ModelDeployment", "slow-analysis", generation=1)
    accepted = _condition(obj, "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "InvalidSpec")
    assert "spec.rollout: rollout.interval (2h) is longer than rollout.progressDeadline (30m)" in accepted["message"]
    events = objects.events(cluster, NAMESPACE, "slow-analysis")
    assert any(e["reason"] == "InvalidSpec" and e["type"] == "Warning" for e in events)
    # fixing the spec clears the condition and moves observedGeneration on
    spec["rollout"]["interval"] = "1m"
    _apply(cluster, "ModelDeployment", "slow-analysis", spec)
    obj = _wait_status(cluster, "ModelDeployment", "slow-analysis", generation=2)
    assert _condition(obj, "Accepted")["status"] == "True"
    assert obj["status"]["phase"] in {"Pending", "Available"}  # kwok makes its pods ready within a second


def test_metrics_and_liveness_endpoints(operator: OperatorProcess) -> None:
    with urllib.request.urlopen(operator.health_url, timeout=5) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    assert "modelops_reconcile_total" in text and 'kind="ModelDeployment"' in text


def test_logs_are_structured_json(operator: OperatorProcess) -> None:
    lines = [line for line in operator.logs().splitlines() if line.startswith("{")]
    assert lines, operator.logs()[-2000:]
    record = json.loads(lines[-1])
    assert {"message", "severity"} <= set(record) or {"message", "levelname"} <= set(record)


def test_restart_writes_nothing_for_unchanged_objects(cluster: Any, operator: OperatorProcess) -> None:
    """Level-based and idempotent: a new operator process resumes without status churn or event spam."""
    _apply(cluster, "ModelDeployment", "steady", VALID["ModelDeployment"])
    bad = {**VALID["ModelDeployment"], "rollout": {"interval": "2h", "progressDeadline": "30m"}}
    _apply(cluster, "ModelDeployment", "steady-bad", bad)
    before = {n: _settled(cluster, "ModelDeployment", n) for n in ("steady", "steady-bad")}
    events_before = _invalid_events(cluster, "steady-bad")
    operator.kill()
    with OperatorProcess(cluster.env, [NAMESPACE]) as second:
        # the new process has passed both objects: each pass ends by setting the object's own series
        def passed() -> tuple[float | None, float | None]:
            return (
                second.metric("modelops_rollout_phase", namespace=NAMESPACE, name="steady"),
                second.metric("modelops_invalid_resources", namespace=NAMESPACE, name="steady-bad"),
            )

        objects.until("a pass over steady and steady-bad", passed, lambda seen: None not in seen, timeout=30)
        with urllib.request.urlopen(second.metrics_url, timeout=5) as resp:
            text = resp.read().decode()
        assert 'modelops_reconcile_total{kind="ModelDeployment",result="ok"}' in text  # it did look...
        for name, obj in before.items():  # ...and wrote nothing
            after = _get(cluster, "ModelDeployment", name)
            assert after["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], name
        assert _invalid_events(cluster, "steady-bad") == events_before
    operator.start()  # leave the module fixture with a running operator


def _settled(cluster: Any, kind: str, name: str, quiet: float = 3.0, timeout: float = 30.0) -> dict[str, Any]:
    """The object once its resourceVersion has not moved for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    obj = _get(cluster, kind, name)
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _get(cluster, kind, name)
        if now["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            obj, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return obj
    raise AssertionError(f"{kind}/{name} never settled: {obj.get('status')}")


def _invalid_events(cluster: Any, name: str) -> int:
    return sum(e.get("count", 1) or 1 for e in objects.events(cluster, NAMESPACE, name) if e["reason"] == "InvalidSpec")
