"""Ready, Reconciling and Stalled as users' tools read them, on the real stack.

One ModelDeployment goes through every phase (serving, a canary in progress, the bake,
promoted, rolled back by a failing analysis) and another is refused by the operator (invalid
spec). At each phase the object as the API server returns it is given to the real kstatus
library (sigs.k8s.io/cli-utils, through devcluster's kstatus-check, built from the Go module
proxy) and to `kubectl wait`: Current and `--for=condition=Ready` returning only when the spec's
version serves with nothing in progress, InProgress (and `kubectl wait` timing out) while a
canary runs or bakes, Failed and `--for=condition=Stalled` returning on a rollback and on a
refused spec. A DriftMonitor and a RetrainPolicy are checked the same way.

The captured objects are the fixtures in tests/fixtures/phases/ (for Argo CD health scripts):
with MODELOPS_WRITE_PHASE_FIXTURES=1 this test rewrites them; otherwise it checks that the
committed ones still show the state this run saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelops_devcluster import gotools
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Fault, HTTPRoute

pytestmark = pytest.mark.integration
NS = "kst"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "phases"
WRITE = os.environ.get("MODELOPS_WRITE_PHASE_FIXTURES") == "1"
TRAFFIC = {"router": "gatewayAPI", "parentRefs": [{"name": "public"}], "hosts": ["m.example"]}
ROLLOUT = {
    "interval": "5s",
    "minRequests": 20,
    "maxFailedChecks": 2,
    "maxUnknownChecks": 24,
    "bakeTime": "15s",
    "progressDeadline": "5m",
    "scaleDownDelay": "2s",
    # a timed pause holds the canary at 20% long enough to look at it, then two analyses judge it
    "steps": [{"setWeight": 20}, {"pause": {"duration": "30s"}}, {"analysis": {"intervals": 2}}],
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


@pytest.fixture(scope="module")
def kstatus() -> Path:
    return gotools.build("kstatus-check")


@pytest.fixture(scope="module")
def versions(stack: Stack) -> dict[str, Artifact]:
    return {v: stack.train("m", v, rows=4000, seed=i) for i, v in enumerate(("v1", "v2", "v3"), start=1)}


def _md(name: str, artifact: Artifact, **rollout: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"name": name, "version": artifact.version, "uri": artifact.uri, "sha256": artifact.sha256},
            "replicas": 2,
            "traffic": TRAFFIC,
            "rollout": {**ROLLOUT, **rollout},
            # errors and latency judge these versions (trained on different seeds, their scores differ)
            "analysis": {
                "slo": {"latency": {"objective": 99, "thresholdSeconds": 0.25}},
                "predictionDrift": {"enabled": False},
            },
        },
    }


def verdict(kstatus: Path, obj: dict[str, Any]) -> dict[str, str]:
    """What sigs.k8s.io/cli-utils' kstatus computes for `obj`."""
    out = subprocess.run([str(kstatus)], input=json.dumps(obj), capture_output=True, text=True, timeout=30, check=True)
    result: dict[str, str] = json.loads(out.stdout)
    return result


def state(obj: dict[str, Any]) -> dict[str, Any]:
    """The three kstatus conditions as (status, reason), and the generations."""
    conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
    shown: dict[str, Any] = {
        t: (conditions[t]["status"], conditions[t]["reason"])
        for t in ("Ready", "Reconciling", "Stalled")
        if t in conditions
    }
    return shown


def _check_generations(obj: dict[str, Any]) -> None:
    generation = obj["metadata"]["generation"]
    assert obj["status"]["observedGeneration"] == generation
    for c in obj["status"]["conditions"]:
        if c["type"] in {"Ready", "Reconciling", "Stalled"}:
            assert c["observedGeneration"] == generation, c


def capture(stack: Stack, kstatus: Path, kind: str, name: str, fixture: str, *, expected: str) -> dict[str, Any]:
    """The object now, its kstatus verdict checked, written to (or checked against) its fixture."""
    obj = stack.get(kind, name)
    found = verdict(kstatus, obj)
    assert found["status"] == expected, (found, state(obj), obj["status"].get("message"))
    _check_generations(obj)
    true = [t for t, (status, _) in state(obj).items() if status == "True"]
    assert len(true) == 1, state(obj)
    path = FIXTURES / f"{fixture}.json"
    kept = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
    if WRITE:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
        index_path = FIXTURES / "index.json"
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        summary = next(c for c in obj["status"]["conditions"] if c["type"] in true)
        index[path.name] = {
            "kind": obj["kind"],
            "phase": obj["status"].get("phase"),
            "kstatus": found["status"],
            "condition": summary["type"],
            "reason": summary["reason"],
        }
        index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    elif path.exists():
        committed = json.loads(path.read_text())
        assert state(committed) == state(obj), (fixture, state(committed), state(obj))
        assert verdict(kstatus, committed)["status"] == expected
    return obj


def kubectl_wait(stack: Stack, condition: str, ref: str, timeout_s: int) -> subprocess.CompletedProcess[str]:
    return stack.cluster.kubectl(
        "wait",
        "-n",
        NS,
        f"--for=condition={condition}",
        ref,
        f"--timeout={timeout_s}s",
        check=False,
        timeout=timeout_s + 30,
    )


def _until(stack: Stack, kind: str, name: str, check: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    obj: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = stack.get(kind, name)
        if check(obj):
            return obj
        time.sleep(0.5)
    raise TimeoutError(f"{kind} {name}: {json.dumps(obj.get('status'))[:2000]}")


def _is(state_type: str, reason: str | None = None) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        if obj["metadata"].get("generation") != (obj.get("status") or {}).get("observedGeneration"):
            return False
        shown = state(obj).get(state_type)
        return shown is not None and shown[0] == "True" and (reason is None or shown[1] == reason)

    return check


def test_a_model_deployment_through_every_phase(stack: Stack, kstatus: Path, versions: dict[str, Artifact]) -> None:
    name = "phases"
    ref = f"md/{name}"
    stack.apply(_md(name, versions["v1"]))
    done = kubectl_wait(stack, "Ready", ref, 90)
    assert done.returncode == 0, done.stderr
    serving = capture(stack, kstatus, "md", name, "modeldeployment-serving", expected="Current")
    assert serving["status"]["phase"] == "Available" and state(serving)["Ready"] == ("True", "Serving")
    traffic = stack.traffic(HTTPRoute(name), rate=40, seed=zlib.crc32(name.encode()) % 1000)
    traffic.faults["v3"] = Fault(error_rate=0.5)
    try:
        # a canary at 20%: InProgress, and `kubectl wait --for=condition=Ready` does not return
        stack.apply(_md(name, versions["v2"]))
        _until(
            stack, "md", name, lambda o: (o.get("status") or {}).get("canaryWeight") == 20 and _is("Reconciling")(o), 90
        )
        canary = capture(stack, kstatus, "md", name, "modeldeployment-canary", expected="InProgress")
        assert canary["status"]["phase"] == "Progressing"
        assert state(canary) == {
            "Ready": ("False", "Progressing"),
            "Reconciling": ("True", "Progressing"),
            "Stalled": ("False", "NotStalled"),
        }
        started = time.monotonic()
        waited = kubectl_wait(stack, "Ready", ref, 5)
        assert waited.returncode != 0 and "timed out" in waited.stderr, (waited.stdout, waited.stderr)
        assert time.monotonic() - started >= 5
        assert stack.status(name)["canary"]["version"] == "v2"  # still in progress when the wait gave up

        # promoted, baking with v1 kept warm: still InProgress
        baking = _until(stack, "md", name, _is("Reconciling", "Baking"), 150)
        baking = capture(stack, kstatus, "md", name, "modeldeployment-baking", expected="InProgress")
        assert baking["status"]["phase"] == "Baking" and baking["status"]["stable"]["version"] == "v2"
        assert state(baking)["Ready"] == ("False", "Baking")

        # the bake is over: Ready, Current, and `kubectl wait` returns
        done = kubectl_wait(stack, "Ready", ref, 120)
        assert done.returncode == 0, done.stderr
        promoted = capture(stack, kstatus, "md", name, "modeldeployment-promoted", expected="Current")
        assert promoted["status"]["phase"] == "Available" and promoted["status"]["stable"]["version"] == "v2"
        assert promoted["status"]["history"][0]["outcome"] == "Promoted"

        # a failing v3 is rolled back by its analysis: `kubectl wait --for=condition=Stalled`, started
        # before the rollback, returns on it; kstatus says Failed
        stack.apply(_md(name, versions["v3"]))
        _until(stack, "md", name, _is("Reconciling", "Progressing"), 60)
        stalled: list[subprocess.CompletedProcess[str]] = []
        waiter = threading.Thread(target=lambda: stalled.append(kubectl_wait(stack, "Stalled", ref, 240)))
        waiter.start()
        waiter.join(timeout=300)
        assert stalled and stalled[0].returncode == 0, stalled
        rolled = capture(stack, kstatus, "md", name, "modeldeployment-rolledback", expected="Failed")
        assert rolled["status"]["phase"] == "RolledBack" and rolled["status"]["history"][0]["outcome"] == "RolledBack"
        assert state(rolled) == {
            "Ready": ("False", "RolledBack"),
            "Reconciling": ("False", "Stalled"),
            "Stalled": ("True", "RolledBack"),
        }
        degraded = next(c for c in rolled["status"]["conditions"] if c["type"] == "Degraded")
        assert degraded["status"] == "True"  # kept: Degraded and Stalled agree, Ready no longer contradicts them
        assert kubectl_wait(stack, "Ready", ref, 3).returncode != 0
        assert not traffic.unexpected_failures()  # only the 500s fault injection asked for
    finally:
        traffic.stop()


def test_a_refused_spec_is_stalled(stack: Stack, kstatus: Path, versions: dict[str, Artifact]) -> None:
    """A rule the schema cannot express (interval longer than the progress deadline): the operator
    refuses it; Stalled=True InvalidSpec (kubectl wait for it returns), kstatus Failed."""
    name = "refused"
    stack.apply(_md(name, versions["v1"], interval="2h", progressDeadline="30m"))
    done = kubectl_wait(stack, "Stalled", f"md/{name}", 60)
    assert done.returncode == 0, done.stderr
    refused = capture(stack, kstatus, "md", name, "modeldeployment-invalidspec", expected="Failed")
    assert state(refused) == {
        "Ready": ("False", "InvalidSpec"),
        "Reconciling": ("False", "Stalled"),
        "Stalled": ("True", "InvalidSpec"),
    }
    stalled = next(c for c in refused["status"]["conditions"] if c["type"] == "Stalled")
    assert "rollout.interval (2h) is longer than rollout.progressDeadline (30m)" in stalled["message"]
    # fixed: a new generation, Ready again
    stack.apply(_md(name, versions["v1"]))
    done = kubectl_wait(stack, "Ready", f"md/{name}", 90)
    assert done.returncode == 0, done.stderr
    fixed = stack.get("md", name)
    assert fixed["metadata"]["generation"] == 2 and verdict(kstatus, fixed)["status"] == "Current"


def test_drift_monitor_and_retrain_policy(stack: Stack, kstatus: Path, versions: dict[str, Artifact]) -> None:
    md = "watched"
    stack.apply(_md(md, versions["v1"]), stack.baseline_configmap("watched-baseline", versions["v1"]))
    assert kubectl_wait(stack, "Ready", f"md/{md}", 90).returncode == 0
    monitor = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": "dm-ok", "namespace": NS},
        "spec": {
            "modelDeploymentRef": {"name": md},
            "reference": {"configMapRef": {"name": "watched-baseline"}},
            "interval": "1m",
            "window": "5m",
        },
    }
    broken = {
        **monitor,
        "metadata": {"name": "dm-broken", "namespace": NS},
        "spec": {**monitor["spec"], "reference": {"configMapRef": {"name": "watched-baseline", "key": "nope.json"}}},
    }
    stack.apply(monitor, broken)
    assert kubectl_wait(stack, "Ready", "dm/dm-ok", 90).returncode == 0
    ok = capture(stack, kstatus, "dm", "dm-ok", "driftmonitor-ready", expected="Current")
    assert state(ok)["Ready"] == ("True", "Evaluating")
    assert kubectl_wait(stack, "Stalled", "dm/dm-broken", 90).returncode == 0
    bad = capture(stack, kstatus, "dm", "dm-broken", "driftmonitor-stalled", expected="Failed")
    assert state(bad)["Stalled"] == ("True", "InvalidReference")

    policy = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": "rp-orphan", "namespace": NS},
        "spec": {
            "modelDeploymentRef": {"name": "no-such-model"},
            "jobTemplate": {
                "template": {"spec": {"containers": [{"name": "t", "image": "trainer"}], "restartPolicy": "Never"}}
            },
        },
    }
    stack.apply(policy)
    assert kubectl_wait(stack, "Stalled", "rp/rp-orphan", 90).returncode == 0
    orphan = capture(stack, kstatus, "rp", "rp-orphan", "retrainpolicy-stalled", expected="Failed")
    assert state(orphan)["Stalled"] == ("True", "ModelDeploymentNotFound")
    watching = {
        **policy,
        "metadata": {"name": "rp-watching", "namespace": NS},
        "spec": {**policy["spec"], "modelDeploymentRef": {"name": md}},
    }
    stack.apply(watching)
    assert kubectl_wait(stack, "Ready", "rp/rp-watching", 90).returncode == 0
    ready = capture(stack, kstatus, "rp", "rp-watching", "retrainpolicy-ready", expected="Current")
    assert state(ready)["Ready"] == ("True", "Watching")


def test_frozen_paused_aborted_and_back(stack: Stack, kstatus: Path, versions: dict[str, Artifact]) -> None:
    """A freeze that cannot see the stable SLOs (no latency bucket at 0.33 s) holds v2: Stalled Frozen.
    Overridden and paused: Reconciling Paused, `kubectl wait` times out. Aborted: Stalled RolledBack.
    The spec set back to the serving version: Ready again (phase Available)."""
    name = "held"
    ref = f"md/{name}"

    def md(artifact: Artifact, **extra: Any) -> dict[str, Any]:
        doc = _md(name, artifact, **extra.pop("rollout", {}))
        doc["spec"]["analysis"]["slo"]["latency"]["thresholdSeconds"] = 0.33
        doc["spec"]["freeze"] = {"burnRateAbove": 2, **extra.pop("freeze", {})}
        return doc

    stack.apply(md(versions["v1"]))
    assert kubectl_wait(stack, "Ready", ref, 90).returncode == 0
    stack.apply(md(versions["v2"]))
    done = kubectl_wait(stack, "Stalled", ref, 90)
    assert done.returncode == 0, (done.stderr, stack.status(name).get("message"))
    frozen = capture(stack, kstatus, "md", name, "modeldeployment-frozen", expected="Failed")
    assert frozen["status"]["phase"] == "Frozen" and state(frozen)["Stalled"] == ("True", "Frozen")
    reason = next(c["reason"] for c in frozen["status"]["conditions"] if c["type"] == "Frozen")
    assert reason == "CannotSee"

    stack.apply(md(versions["v2"], freeze={"override": True}, rollout={"paused": True}))
    _until(stack, "md", name, _is("Reconciling", "Paused"), 90)
    paused = capture(stack, kstatus, "md", name, "modeldeployment-paused", expected="InProgress")
    assert paused["status"]["phase"] == "Paused" and paused["status"]["canary"]["version"] == "v2"
    waited = kubectl_wait(stack, "Ready", ref, 3)
    assert waited.returncode != 0 and "timed out" in waited.stderr

    stack.apply(md(versions["v2"], freeze={"override": True}, rollout={"paused": True, "abort": "stop-1"}))
    assert kubectl_wait(stack, "Stalled", ref, 60).returncode == 0
    aborted = capture(stack, kstatus, "md", name, "modeldeployment-aborted", expected="Failed")
    assert aborted["status"]["history"][0]["outcome"] == "Aborted"
    assert state(aborted)["Stalled"] == ("True", "RolledBack") and aborted["status"]["phase"] == "RolledBack"

    stack.apply(md(versions["v1"], freeze={"override": True}, rollout={"abort": "stop-1"}))
    assert kubectl_wait(stack, "Ready", ref, 60).returncode == 0
    back = stack.get("md", name)
    assert back["status"]["phase"] == "Available" and verdict(kstatus, back)["status"] == "Current"
