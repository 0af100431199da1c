"""`make demo`: a model rolled out safely with nobody watching, on one machine.

1. The stack starts on loopback: control plane (kwok runs the pods), Prometheus, the
   operator, the reference model servers as local processes, traffic through an HTTPRoute.
2. v1 serves production traffic.
3. v2 (retrained, healthy) goes out as a canary: 10% -> judged -> 50% -> judged -> promoted,
   then bakes.
4. v3 fails 10% of its requests: the analysis catches it at 10% and rolls it back by itself.
5. Bad input is refused with a message naming the field.
6. The closed loop on a second model: traffic drifts, the DriftMonitor fires, a Job runs the
   reference trainer on the drifted data, the result is validated, canaried and promoted,
   and the monitor is clean again on the new version's baseline. Each stage is timed.
7. Concept drift on a third model, which no input statistic sees: the traffic generator sends
   ground-truth labels back late, the concept shifts, the DriftMonitor stays clean, the AUC on
   labels drops, the performance trigger retrains on the new concept, the canary promotes, and
   the AUC on labels recovers. Each stage is timed.
Progress is printed live; everything is torn down at the end.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import yaml

from modelops.cli import status_view
from modelops.train.dataset import Drift, generate
from modelops_devcluster import concept, loop
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Fault, HTTPRoute, Service

NS = "demo"
MODEL = "fraud"
ROLLOUT = {
    "steps": [{"setWeight": 10}, {"analysis": {"intervals": 1}}, {"setWeight": 50}, {"analysis": {"intervals": 1}}],
    "interval": "10s",
    "minRequests": 40,
    "maxFailedChecks": 2,
    "bakeTime": "20s",
    "progressDeadline": "10m",
}


def _say(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def _line(status: dict[str, Any]) -> None:
    verdict = (status.get("lastAnalysis") or {}).get("verdict", "-")
    when = f"{datetime.now(UTC):%H:%M:%S}"
    phase, weight, step = status.get("phase", "?"), status.get("canaryWeight", 0), status.get("currentStep", "-")
    message = status.get("message", "")
    print(f"  {when}  {phase:<11} weight {weight:>3}%  step {step!s:<4} analysis {verdict:<7}  {message}", flush=True)


def _model_deployment(artifact: Artifact) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": MODEL, "namespace": NS},
        "spec": {
            "model": {
                "name": MODEL,
                "version": artifact.version,
                "uri": artifact.uri,
                "sha256": artifact.sha256,
                "baseline": {"name": f"{MODEL}-baseline"},
            },
            "replicas": 2,
            "traffic": {"router": "gatewayAPI", "parentRefs": [{"name": "public"}], "hosts": ["fraud.example"]},
            "rollout": ROLLOUT,
            "analysis": {
                "slo": {"availability": {"objective": 99.9}, "latency": {"objective": 99, "thresholdSeconds": 0.25}}
            },
        },
    }


def _checks(stack: Stack) -> None:
    for check in (stack.status(MODEL).get("lastAnalysis") or {}).get("checks", []):
        print(f"    {check['name']:<18} {check['verdict']:<8} {check.get('reason', '')}")


def _poll(kind: str, name: str, stack: Stack, check: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = dict(stack.get(kind, name).get("status") or {})
        if check(status):
            return status
        time.sleep(0.5)
    raise TimeoutError(f"{kind}/{name}: not reached in {timeout:.0f}s")


def _closed_loop(stack: Stack) -> None:
    model = "loop"
    _say("7. The closed loop: drift -> retraining Job -> validated -> canary -> promoted -> drift clears")
    v1 = stack.train(model, "v1", seed=1)
    stack.apply(*loop.objects(stack, model, v1))
    stack.wait(model, lambda s: s.get("phase") == "Available", timeout=90)
    traffic = stack.traffic(Service(model), dataset=generate(20_000, seed=11), rate=40, seed=11)
    t0 = time.monotonic()

    def stage(text: str) -> None:
        print(f"  +{time.monotonic() - t0:5.1f}s  {text}", flush=True)

    try:
        _poll("driftmonitor", f"{model}-drift", stack, lambda s: s.get("drifted") is False, 90)
        stage("v1 serves training-like traffic; DriftMonitor clean against v1's baseline")
        traffic.generator.set_dataset(generate(20_000, seed=12, drift=Drift(mean_shift=loop.SHIFT)))
        stage(f"traffic shifts: {', '.join(f'{k} {v:+g} sd' for k, v in loop.SHIFT.items())}")
        monitor = _poll("driftmonitor", f"{model}-drift", stack, lambda s: s.get("drifted") is True, 60)
        stage(f"Drifted: worst feature {monitor.get('worstFeature')}, share {monitor.get('driftShare')}")
        run = f"{model}-retrain-1"
        policy = _poll(
            "retrainpolicy",
            f"{model}-retrain",
            stack,
            lambda s: (s.get("latestValidated") or {}).get("version") == run,
            120,
        )
        auc = policy["latestValidated"]["metrics"].get("auc", float("nan"))
        stage(f"{run} trained by the Job on the drifted data and validated (AUC {auc:.3f})")
        stack.wait(model, lambda s: (s.get("stable") or {}).get("version") == run, timeout=180)
        stage(f"{run} canaried and promoted")
        _poll(
            "driftmonitor", f"{model}-drift", stack, lambda s: s.get("version") == run and s.get("drifted") is False, 90
        )
        stage(f"DriftMonitor clean again against {run}'s baseline")
    finally:
        traffic.stop()
    print(stack.kubectl("get", "-n", NS, "md,dm,rp"))
    md = stack.get("md", model)
    print(status_view.history(md, stack.get("retrainpolicy", f"{model}-retrain")))


def _performance(stack: Stack, model: str, check: Any, timeout: float) -> dict[str, Any]:
    """The policy's status once `check` holds, refusing to go on if the DriftMonitor drifts meanwhile."""

    def watched(status: dict[str, Any]) -> bool:
        monitor = dict(stack.get("driftmonitor", f"{model}-drift").get("status") or {})
        if monitor.get("drifted") is True:
            raise RuntimeError(f"the DriftMonitor drifted under concept drift: {monitor.get('worstFeature')}")
        return bool(check(status))

    return _poll("retrainpolicy", f"{model}-retrain", stack, watched, timeout)


def _dropped(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == "PerformanceDropped"), {})


def _concept_loop(stack: Stack) -> None:
    model = "churn"
    _say("8. Concept drift: labels drop -> performance trigger -> retraining Job -> canary -> quality recovers")
    v1 = stack.train(model, "v1", seed=1)
    stack.apply(*concept.objects(stack, model, v1))
    stack.wait(model, lambda s: s.get("phase") == "Available", timeout=90)
    traffic = stack.traffic(Service(model), dataset=concept.traffic_data(), rate=40, seed=21, labels=concept.LABELS)
    t0 = time.monotonic()

    def stage(text: str) -> None:
        print(f"  +{time.monotonic() - t0:5.1f}s  {text}", flush=True)

    run = f"{model}-retrain-1"
    try:
        status = _performance(stack, model, lambda s: _dropped(s).get("reason") == "AtOrAbove", 90)
        stage(f"v1 serves; labels come back {concept.LABELS.delay_s:g}s late; {_dropped(status).get('message')}")
        traffic.generator.set_dataset(concept.traffic_data(concept.CONCEPT))
        stage("the concept shifts: the same feature values, labels from another relation")
        status = _performance(stack, model, lambda s: _dropped(s).get("status") == "True", 90)
        stage(f"drop confirmed, DriftMonitor still clean: {_dropped(status).get('message')}")
        status = _performance(stack, model, lambda s: (s.get("latestValidated") or {}).get("version") == run, 120)
        auc = status["latestValidated"]["metrics"].get("auc", float("nan"))
        stage(f"{run} trained by the Job on fresh labels of the new concept and validated (AUC {auc:.3f})")
        stack.wait(model, lambda s: (s.get("stable") or {}).get("version") == run, timeout=180)
        stage(f"{run} canaried and promoted")
        status = _performance(
            stack,
            model,
            lambda s: (s.get("performance") or {}).get("version") == run and _dropped(s).get("reason") == "AtOrAbove",
            90,
        )
        stage(f"quality recovered on {run}'s labels: {_dropped(status).get('message')}")
    finally:
        traffic.stop()
    labels = traffic.generator.label_counts
    print(f"  {labels.posted} labels sent back, {labels.results['accepted']} accepted")
    print(stack.kubectl("get", "-n", NS, f"rp/{model}-retrain", f"dm/{model}-drift"))
    md = stack.get("md", model)
    print(status_view.history(md, stack.get("retrainpolicy", f"{model}-retrain")))


def run() -> int:
    started = time.monotonic()
    _say("1. Start everything on loopback: control plane, Prometheus, operator, data plane")
    with Stack(NS) as stack:
        _say("2. Train three versions with the reference trainer")
        v1 = stack.train(MODEL, "v1", seed=1)
        v2 = stack.train(MODEL, "v2", seed=2)
        v3 = stack.train(MODEL, "v3", seed=3)
        for a in (v1, v2, v3):
            print(f"  {a.version}: AUC {a.metrics.get('auc', float('nan')):.3f}  sha256 {a.sha256[:12]}…  {a.uri}")
        _say("3. Deploy v1 and send production traffic through the operator's HTTPRoute")
        stack.apply(stack.baseline_configmap(f"{MODEL}-baseline", v1), _model_deployment(v1))
        stack.wait(MODEL, lambda s: s.get("phase") == "Available", timeout=60, on_change=_line)
        traffic = stack.traffic(HTTPRoute(MODEL), rate=60)
        traffic.faults["v3"] = Fault(error_rate=0.10)  # v3 is broken: 10% of its requests fail
        print(stack.kubectl("get", "-n", NS, "md,deploy,httproute"))

        _say("4. Roll out v2 (healthy): judged at 10% and 50%, promoted, then bakes")
        t0 = time.monotonic()
        stack.apply(_model_deployment(v2))
        stack.wait(
            MODEL,
            lambda s: (s.get("stable") or {}).get("version") == "v2" and s.get("phase") == "Available",
            timeout=300,
            on_change=_line,
        )
        print(f"  v2 promoted and baked in {time.monotonic() - t0:.0f}s; last analysis:")
        _checks(stack)

        _say("5. Roll out v3 (10% of its requests fail): caught and rolled back automatically")
        t0 = time.monotonic()
        stack.apply(_model_deployment(v3))
        status = stack.wait(MODEL, lambda s: s.get("phase") == "RolledBack", timeout=300, on_change=_line)
        print(
            f"  v3 rolled back {time.monotonic() - t0:.0f}s after the rollout began: {status['history'][0]['reason']}"
        )
        _checks(stack)
        traffic.stop()
        print(stack.kubectl("get", "-n", NS, "md,deploy"))
        print(
            stack.kubectl(
                "get",
                "events",
                "-n",
                NS,
                "--field-selector",
                "involvedObject.kind=ModelDeployment",
                "--sort-by=.lastTimestamp",
            )
        )

        _say("6. Bad input is refused by the API server, naming the field")
        bad = _model_deployment(v1)
        bad["metadata"]["name"] = "bad"
        bad["spec"]["rollout"] = {"steps": [{"setWeight": 50}, {"setWeight": 10}]}
        bad["spec"]["analysis"] = {"slo": {"availability": {"objective": 100}}}
        print(stack.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False))
        print(f"  {traffic.sent} requests served by local model servers; Prometheus at {stack.prometheus.url}")
        _closed_loop(stack)
        _concept_loop(stack)
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s; everything was torn down.")
    return 0


if __name__ == "__main__":
    sys.exit(run())
