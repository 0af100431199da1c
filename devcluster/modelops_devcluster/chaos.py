"""A seeded chaos campaign on the local stack: rollouts while the operator, Prometheus and the API server fail.

Several ModelDeployments (one router each, in turn) serve under traffic and roll out a seeded
sequence of versions, healthy or broken (a share of 500s injected by the traffic generator).
Meanwhile a driver, seeded too, SIGKILLs the operator at random moments (and starts it again a
moment later), restarts Prometheus, and restarts the API server once; and a RetrainPolicy is
triggered by hand now and then. The verdict:

- every rollout ends as it would without faults: a healthy version Promoted, a broken one
  RolledBack (what the seed planned; the same seed without the driver gives the same plan);
- every decision is in status history, exactly once per version;
- no request failed or went unanswered except those the fault injection produced;
- every manual retraining trigger started exactly one Job (no duplicate after a restart).

`bench/chaos.py` runs the long campaign (N >= 50); tests/integration/test_chaos.py a short one.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelops_devcluster.stack import Artifact, Stack, Traffic
from modelops_devcluster.traffic import Fault, HTTPRoute, Service, Target, VirtualService

ROUTERS: dict[str, dict[str, Any]] = {
    "gatewayAPI": {"router": "gatewayAPI", "parentRefs": [{"name": "public"}], "hosts": ["m.example"]},
    "istio": {"router": "istio", "hosts": ["m.example"]},
    "replicas": {"router": "replicas"},
}
ROLLOUT = {
    "interval": "5s",
    "minRequests": 20,
    "maxFailedChecks": 2,
    "maxUnknownChecks": 40,
    "bakeTime": "5s",
    "scaleDownDelay": "5s",
    "progressDeadline": "10m",
    "steps": [{"setWeight": 25}, {"analysis": {"intervals": 1}}, {"setWeight": 50}, {"analysis": {"intervals": 1}}],
}
BROKEN = Fault(error_rate=0.4)  # a broken version: clearly failing, so its outcome is not a coin toss


@dataclass(frozen=True)
class Rollout:
    deployment: str
    version: str
    artifact: str  # which trained artifact it serves (versions are labels; two artifacts suffice)
    broken: bool

    @property
    def expected(self) -> str:
        return "RolledBack" if self.broken else "Promoted"


@dataclass(frozen=True)
class Plan:
    seed: int
    routers: dict[str, str]  # deployment -> router
    rollouts: tuple[Rollout, ...]

    def of(self, deployment: str) -> list[Rollout]:
        return [r for r in self.rollouts if r.deployment == deployment]


def plan(seed: int, deployments: int, rollouts: int, broken_share: float = 0.35) -> Plan:
    """The campaign a seed stands for, independent of what goes wrong while it runs."""
    rng = random.Random(seed)
    names = [f"chaos-{i}" for i in range(deployments)]
    routers = {name: sorted(ROUTERS)[i % len(ROUTERS)] for i, name in enumerate(names)}
    out: list[Rollout] = []
    for k in range(rollouts):
        name = names[k % deployments]
        version = f"v{k // deployments + 2}"
        out.append(Rollout(name, version, "ab"[k // deployments % 2], rng.random() < broken_share))
    return Plan(seed, routers, tuple(out))


@dataclass
class Injected:
    at: float  # seconds since the campaign began
    what: str  # operator-kill | prometheus-restart | apiserver-restart
    down_s: float


@dataclass
class Driver:
    """Injects faults at seeded random moments until stopped (bounded: `budget` faults at most)."""

    stack: Stack
    seed: int
    every: tuple[float, float] = (8.0, 20.0)  # seconds between faults
    prometheus_restarts: int = 2
    apiserver_restarts: int = 1
    budget: int = 200
    injected: list[Injected] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _began: float = 0.0

    def start(self) -> Driver:
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="chaos-driver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _loop(self) -> None:
        rng = random.Random(self.seed + 1)
        left = {"prometheus-restart": self.prometheus_restarts, "apiserver-restart": self.apiserver_restarts}
        while len(self.injected) < self.budget and not self._stop.wait(rng.uniform(*self.every)):
            choices = ["operator-kill"] * 4 + [k for k, n in left.items() if n > 0]
            what = rng.choice(choices)
            if what != "operator-kill":
                left[what] -= 1
            at = time.monotonic() - self._began
            self.injected.append(Injected(at, what, self._inject(what, rng)))

    def _inject(self, what: str, rng: random.Random) -> float:
        started = time.monotonic()
        if what == "operator-kill":
            self.stack.operator.kill()
            time.sleep(rng.uniform(0.5, 3.0))
            self.stack.operator.start()
        elif what == "prometheus-restart":
            self.stack.prometheus.restart()
        else:
            self.stack.cluster.restart_apiserver()
        return time.monotonic() - started


def model_deployment(
    namespace: str, name: str, router: str, version: str, artifact: Artifact, **rollout: Any
) -> dict[str, Any]:
    """A ModelDeployment of `version` on `router` with the campaign's fast rollout (`rollout` overrides)."""
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"name": name, "version": version, "uri": artifact.uri, "sha256": artifact.sha256},
            "replicas": 2,
            "traffic": ROUTERS[router],
            "rollout": {**ROLLOUT, **rollout},
            "historyLimit": 100,
            # two artifacts trained on different seeds really do score differently; this campaign judges
            # errors and latency (prediction drift has its own tests)
            "analysis": {"predictionDrift": {"enabled": False}},
        },
    }


def target(name: str, router: str) -> Target:
    """What the traffic generator follows for `router`: the HTTPRoute, the VirtualService or the Service."""
    targets: dict[str, Target] = {
        "gatewayAPI": HTTPRoute(name),
        "istio": VirtualService(name),
        "replicas": Service(name),
    }
    return targets[router]


def _policy(namespace: str, name: str, deployment: str, nonce: str) -> dict[str, Any]:
    """A RetrainPolicy whose Jobs kwok completes at once with a valid result (see kwok.py's pod-complete)."""
    result = json.dumps(
        {
            "model": deployment,
            "version": f"r-{nonce}",
            "uri": f"file:///models/{nonce}/model.npz",
            "sha256": "0" * 64,
            "metrics": {"auc": 0.9},
        }
    )
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "modelDeploymentRef": {"name": deployment},
            "triggers": {"manual": nonce},
            "cooldown": "1s",
            "maxRunsPerDay": 100,
            "historyLimit": 100,
            "validation": [{"metric": "auc", "min": 0.5}],
            "jobTemplate": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": {"kwok.modelops.dev/termination-message": result}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "trainer", "image": "trainer.example/t:1"}],
                    },
                },
            },
        },
    }


@dataclass
class Outcome:
    deployment: str
    version: str
    expected: str
    actual: str
    seconds: float
    entries: int  # history entries for this version (exactly 1 expected)
    reason: str = ""  # the history entry's reason: why a rollout ended otherwise than planned


@dataclass
class Report:
    seed: int
    rollouts: int
    deployments: dict[str, str]
    injected: list[Injected]
    outcomes: list[Outcome]
    requests: int
    unexpected_failures: int
    failure_examples: list[str]
    triggers: int
    runs: int
    jobs: int
    seconds: float

    @property
    def mismatched(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.actual != o.expected or o.entries != 1]

    @property
    def ok(self) -> bool:
        return (
            not self.mismatched
            and self.unexpected_failures == 0
            and self.triggers == self.runs == self.jobs
            and len(self.outcomes) == self.rollouts
        )

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for fault in self.injected:
            kinds[fault.what] = kinds.get(fault.what, 0) + 1
        return {
            "seed": self.seed,
            "rollouts": self.rollouts,
            "deployments": self.deployments,
            "faults": kinds,
            "outcomes": {k: sum(o.actual == k for o in self.outcomes) for k in ("Promoted", "RolledBack")},
            "expected": {k: sum(o.expected == k for o in self.outcomes) for k in ("Promoted", "RolledBack")},
            "mismatched": [asdict(o) for o in self.mismatched],
            "requests": self.requests,
            "unexpected_failures": self.unexpected_failures,
            "triggers": self.triggers,
            "runs": self.runs,
            "jobs": self.jobs,
            "seconds": round(self.seconds, 1),
            "ok": self.ok,
        }


def run(
    stack: Stack,
    artifacts: Mapping[str, Artifact],
    the_plan: Plan,
    *,
    rate: float = 20.0,
    every: tuple[float, float] = (8.0, 20.0),
    prometheus_restarts: int = 2,
    apiserver_restarts: int = 1,
    triggers: int = 4,
    timeout_per_rollout: float = 240.0,
    log: Callable[[str], None] = print,
) -> Report:
    """Run the campaign on a started stack; `artifacts` maps "a"/"b" (and "v1") to trained versions."""
    began = time.monotonic()
    served: dict[str, Traffic] = {}
    for name, router in the_plan.routers.items():
        stack.apply(model_deployment(stack.namespace, name, router, "v1", artifacts["v1"]))
    for name, router in the_plan.routers.items():
        stack.wait(name, lambda s: s.get("phase") == "Available", timeout=120)
        served[name] = stack.traffic(target(name, router), rate=rate, seed=zlib.crc32(name.encode()) % 1000)
    policy = "chaos-retrain"
    first = next(iter(the_plan.routers))
    driver = Driver(stack, the_plan.seed, every, prometheus_restarts, apiserver_restarts).start()
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    errors: list[str] = []

    def one(name: str) -> None:
        router = the_plan.routers[name]
        for rollout in the_plan.of(name):
            started = time.monotonic()
            if rollout.broken:
                served[name].faults[rollout.version] = BROKEN
            _retrying(
                stack.apply,
                model_deployment(stack.namespace, name, router, rollout.version, artifacts[rollout.artifact]),
            )
            status = _settled(stack, name, rollout.version, timeout_per_rollout)
            entries = [h for h in status.get("history", []) if h["version"] == rollout.version]
            actual = entries[0]["outcome"] if entries else "none"
            reason = str(entries[0].get("reason", "")) if entries else ""
            took = time.monotonic() - started
            with lock:
                outcomes.append(Outcome(name, rollout.version, rollout.expected, actual, took, len(entries), reason))
            why = f": {reason}" if actual != rollout.expected else ""
            log(f"{name} {rollout.version}: {actual} (expected {rollout.expected}) in {took:.0f}s{why}")

    def guarded(name: str) -> None:
        try:
            one(name)
        except Exception as error:  # reported, and the campaign fails
            errors.append(f"{name}: {error}")

    workers = [threading.Thread(target=guarded, args=(n,), name=f"chaos-{n}") for n in the_plan.routers]
    for w in workers:
        w.start()
    for k in range(triggers):  # retraining triggered by hand while the rest goes on
        time.sleep(5.0)
        nonce = f"t{k}"
        _retrying(stack.apply, _policy(stack.namespace, policy, first, nonce))
        _wait_runs(stack, policy, k + 1, timeout=120)
    for w in workers:
        w.join()
    driver.stop()
    for traffic in served.values():
        traffic.stop()
    requests = sum(len(t.records) for t in served.values())
    bad = [r for t in served.values() for r in t.unexpected_failures()]
    runs = (_retrying(stack.get, "retrainpolicy", policy).get("status") or {}).get("runs", [])
    jobs = json.loads(stack.kubectl("get", "-n", stack.namespace, "jobs", "-o", "json"))["items"]
    mine = [j for j in jobs if any(o.get("name") == policy for o in j["metadata"].get("ownerReferences", []))]
    if errors:
        raise RuntimeError("; ".join(errors))
    examples = [f"{r.version} {r.pod} code={r.code} error={r.error or '-'}" for r in bad[:10]]
    return Report(
        seed=the_plan.seed,
        rollouts=len(the_plan.rollouts),
        deployments=the_plan.routers,
        injected=driver.injected,
        outcomes=outcomes,
        requests=requests,
        unexpected_failures=len(bad),
        failure_examples=examples,
        triggers=triggers,
        runs=len([r for r in runs if r.get("trigger") == "manual"]),
        jobs=len(mine),
        seconds=time.monotonic() - began,
    )


def _retrying(call: Callable[..., Any], *args: Any, attempts: int = 30) -> Any:
    """One API call, tried again for up to ~30 s while the API server restarts."""
    for attempt in range(attempts):
        try:
            return call(*args)
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)
    return None


def _settled(stack: Stack, name: str, version: str, timeout: float) -> dict[str, Any]:
    """Wait until `version`'s rollout has ended and nothing is left in flight (no canary, bake or retiring)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = stack.status(name)
        except Exception:
            time.sleep(1.0)
            continue
        ended = any(h["version"] == version for h in status.get("history", []))
        idle = not status.get("canary") and not status.get("bake") and not status.get("retiring")
        if ended and idle and status.get("phase") in {"Available", "RolledBack"}:
            return status
        time.sleep(1.0)
    raise TimeoutError(f"{name} {version}: not settled in {timeout:.0f}s: {json.dumps(status)[:1500]}")


def _wait_runs(stack: Stack, policy: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            runs = (stack.get("retrainpolicy", policy).get("status") or {}).get("runs", [])
            if sum(r.get("trigger") == "manual" for r in runs) >= count:
                return
        except Exception:
            pass
        time.sleep(1.0)
    raise TimeoutError(f"RetrainPolicy {policy}: fewer than {count} manual runs after {timeout:.0f}s")
