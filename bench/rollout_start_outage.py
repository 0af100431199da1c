"""Reproduce issue 14's "every v1 request fails for 3-4 s right after the rollout begins".

A ModelDeployment with 2 replicas on the gatewayAPI router serves v1 under 40 requests/s;
then v2 is applied. Every request's outcome is kept and printed per second and version,
with error types and pod names/IPs, next to a timeline of the pods (uid, IP, Ready,
deletionTimestamp) and of the HTTPRoute's backends, so the cause can be read off.

    PYTHONPATH=operator python bench/rollout_start_outage.py [--router gatewayAPI] [--after 25]

Everything runs on loopback; the run is bounded (traffic stops after --after seconds).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from modelops.train.dataset import generate
from modelops_devcluster.stack import Stack
from modelops_devcluster.traffic import HTTPRoute, RequestRecord, Service, TrafficGenerator, VirtualService

NS = "repro"
ROUTERS: dict[str, dict[str, Any]] = {
    "gatewayAPI": {"router": "gatewayAPI", "parentRefs": [{"name": "public"}], "hosts": ["m.example"]},
    "istio": {"router": "istio", "hosts": ["m.example"]},
    "replicas": {"router": "replicas"},
}
FAST = {
    "interval": "5s",
    "minRequests": 20,
    "maxFailedChecks": 2,
    "maxUnknownChecks": 24,
    "bakeTime": "5s",
    "progressDeadline": "5m",
    "steps": [{"setWeight": 20}, {"analysis": {"intervals": 1}}, {"setWeight": 50}, {"analysis": {"intervals": 1}}],
}


def md(name: str, version: str, uri: str, sha: str, router: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"name": name, "version": version, "uri": uri, "sha256": sha},
            "replicas": 2,
            "traffic": ROUTERS[router],
            "rollout": FAST,
            "analysis": {"predictionDrift": {"enabled": False}},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--router", default="gatewayAPI", choices=sorted(ROUTERS))
    parser.add_argument("--before", type=float, default=8.0, help="seconds of v1-only traffic before v2 is applied")
    parser.add_argument("--after", type=float, default=25.0, help="seconds of traffic after v2 is applied")
    args = parser.parse_args()
    name = "m"
    with Stack(NS, log=print) as stack:
        v1, v2 = (stack.train(name, v, rows=4000, seed=i) for i, v in ((1, "v1"), (2, "v2")))
        stack.apply(md(name, "v1", v1.uri, v1.sha256, args.router))
        stack.wait(name, lambda s: s.get("phase") == "Available", timeout=90)
        target = {"gatewayAPI": HTTPRoute(name), "istio": VirtualService(name), "replicas": Service(name)}[args.router]
        gen = TrafficGenerator(stack.cluster, NS, target=target, rate_per_s=40, seed=7, dataset=generate(5000, seed=7))
        records: list[tuple[float, RequestRecord]] = []
        stop = threading.Event()
        timeline: list[str] = []
        t0 = time.monotonic()

        def traffic() -> None:
            while not stop.is_set() and time.monotonic() - t0 < args.before + args.after + 5:
                began = time.monotonic()
                try:
                    report = gen.run(40, max_seconds=1.0)
                except Exception as error:
                    timeline.append(f"{began - t0:6.2f} traffic chunk raised {type(error).__name__}: {error}")
                    time.sleep(0.2)
                    continue
                records.extend((began - t0, r) for r in report.records)

        def watch() -> None:
            last = ""
            while not stop.is_set():
                _, pods = stack.cluster.api("GET", f"/api/v1/namespaces/{NS}/pods")
                rows = []
                for p in pods.get("items", []):
                    conds = {c["type"]: c["status"] for c in p.get("status", {}).get("conditions", [])}
                    rows.append(
                        f"{p['metadata']['name']}[{p['metadata']['uid'][:6]}] {p['status'].get('podIP')} "
                        f"{p['status'].get('phase')} ready={conds.get('Ready')}"
                        f"{' deleting' if p['metadata'].get('deletionTimestamp') else ''}"
                    )
                try:
                    routes = gen.routes()
                    shown = "; ".join(
                        f"{b.service} w={b.weight:g} -> " + ",".join(f"{e.pod}@{e.ip}:{e.port}" for e in b.endpoints)
                        for b in routes.backends
                    )
                except Exception as error:
                    shown = f"routes raise {type(error).__name__}: {error}"
                dp = [f"{p.name}:{p.phase}/{'R' if p.ready else '-'}/pid={p.pid}" for p in stack.dataplane.pods()]
                now = " | ".join(sorted(rows)) + "\n        routes: " + shown + "\n        dataplane: " + " ".join(dp)
                if now != last:
                    timeline.append(f"{time.monotonic() - t0:6.2f} {now}")
                    last = now
                time.sleep(0.25)

        threads = [threading.Thread(target=traffic, daemon=True), threading.Thread(target=watch, daemon=True)]
        for t in threads:
            t.start()
        time.sleep(args.before)
        applied = time.monotonic() - t0
        stack.apply(md(name, "v2", v2.uri, v2.sha256, args.router))
        timeline.append(f"{applied:6.2f} ===== v2 applied =====")
        time.sleep(args.after)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        print("\n".join(timeline))
        print(f"\nper second (0 = when v2 was applied at {applied:.2f}s): version -> outcomes")
        per: dict[int, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        for began, r in records:
            second = int((began - applied) // 1)
            outcome = str(r.code) if r.code is not None else (r.error or "?")
            per[second][r.version or "-"][f"{outcome}@{r.pod or '-'}"] += 1
        for second in sorted(per):
            print(f"{second:+4d}s " + "  ".join(f"{v}: {dict(c)}" for v, c in sorted(per[second].items())))
        failed = [(b, r) for b, r in records if r.code is None or r.code >= 400]
        print(f"\n{len(records)} requests, {len(failed)} failed: {Counter(r.error or r.code for _, r in failed)}")
        print(json.dumps(stack.status(name).get("history", []), indent=1)[:1500])
        print("operator log:", stack.operator.log_path)


if __name__ == "__main__":
    main()
