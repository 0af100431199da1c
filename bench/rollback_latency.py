"""Seconds from a fault starting in a canary to the canary receiving no traffic.

A healthy v2 canary is held at 20% (paused at a step, analysis running). At T0 its servers
start failing 10% of requests; we measure until the operator has set the canary weight to 0
(phase RolledBack). The physical floor is about one scrape interval (the errors must reach
Prometheus) plus one analysis interval (the window must hold them); Flagger's default setup
needs threshold x interval = 5 x 1 min.

    PYTHONPATH=operator python bench/rollback_latency.py [--interval 10s] [--trials 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops.api.durations import parse_duration
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Fault, HTTPRoute

NS = "bench"


def _md(name: str, artifact: Artifact, interval: str, max_failed: int, paused: bool) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"name": name, "version": artifact.version, "uri": artifact.uri, "sha256": artifact.sha256},
            "replicas": 2,
            "traffic": {"router": "gatewayAPI", "parentRefs": [{"name": "public"}]},
            "rollout": {
                "interval": interval,
                "minRequests": 20,
                "maxFailedChecks": max_failed,
                "paused": paused,
                "maxUnknownChecks": 50,
                "progressDeadline": "30m",
                "steps": [{"setWeight": 20}, {"pause": {}}],
            },
        },
    }


class FalseFail(Exception):
    """The healthy canary was rolled back before the fault started (a statistical false fail)."""


def trial(
    stack: Stack, name: str, v1: Artifact, v2: Artifact, *, interval: str, max_failed: int, setup_timeout: float = 60.0
) -> float:
    """Seconds from the fault to RolledBack; `setup_timeout` bounds v1's Available (3x: v2 parked at 20%)."""
    stack.apply(_md(name, v1, interval, max_failed, paused=False))
    stack.wait(name, lambda s: s.get("phase") == "Available", timeout=setup_timeout)
    traffic = stack.traffic(HTTPRoute(name), rate=50, seed=len(name))
    try:
        stack.apply(_md(name, v2, interval, max_failed, paused=False))
        # healthy at 20%, parked on the pause step with at least one passing analysis behind it
        parked = stack.wait(
            name,
            lambda s: (s.get("canaryWeight") == 20 and s.get("currentStep") == 1) or s.get("phase") == "RolledBack",
            timeout=3 * setup_timeout,
        )
        time.sleep(parse_duration(interval).total_seconds())
        if parked.get("phase") == "RolledBack" or stack.status(name).get("phase") == "RolledBack":
            raise FalseFail((stack.status(name).get("history") or [{}])[0].get("reason", ""))
        started = time.monotonic()
        traffic.faults["v2"] = Fault(error_rate=0.10)
        stack.wait(name, lambda s: s.get("phase") == "RolledBack", timeout=600)
        return time.monotonic() - started
    finally:
        traffic.stop()


def trials(
    stack: Stack,
    key: str,
    count: int,
    v1: Artifact,
    v2: Artifact,
    *,
    interval: str,
    max_failed: int,
    false_fails: list[str],
    prefix: str = "t",
    setup_timeout: float = 60.0,
) -> list[float]:
    """`count` measured trials (ModelDeployments `<prefix><maxFailed>x<attempt>`); a healthy canary failed
    before the fault is recorded and replaced."""
    out: list[float] = []
    attempt = 0
    while len(out) < count and attempt < 3 * count:
        attempt += 1
        try:
            name = f"{prefix}{max_failed}x{attempt}"
            out.append(
                trial(stack, name, v1, v2, interval=interval, max_failed=max_failed, setup_timeout=setup_timeout)
            )
        except FalseFail as why:
            false_fails.append(f"{key}: {why}")
            print(f"  {key} attempt {attempt}: healthy canary rolled back before the fault ({why})", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", default="10s", help="rollout.interval")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--scrape-interval", default="1s")
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    false_fails: list[str] = []
    with Stack(NS, scrape_interval=args.scrape_interval, log=print) as stack:
        v1 = stack.train("m", "v1", rows=4000, seed=1)
        v2 = stack.train("m", "v2", rows=4000, seed=2)
        for max_failed in (1, 2):
            key = f"maxFailedChecks={max_failed}"
            results[key] = trials(
                stack, key, args.trials, v1, v2, interval=args.interval, max_failed=max_failed, false_fails=false_fails
            )
            print(f"{key}: {', '.join(f'{s:.1f}s' for s in results[key])}", flush=True)
    interval = parse_duration(args.interval).total_seconds()
    scrape = parse_duration(args.scrape_interval).total_seconds()
    floor = interval + scrape
    print(f"\nanalysis interval {interval:.0f}s, scrape interval {scrape:.0f}s, 10% errors at 20% weight, 50 req/s")
    print(f"physical floor ~ {floor:.0f}s; goal <= floor + interval + 2 scrapes = {floor + interval + 2 * scrape:.0f}s")
    print(f"{'setting':<20} {'median':>8} {'max':>8}")
    for key, values in results.items():
        print(f"{key:<20} {statistics.median(values):>7.1f}s {max(values):>7.1f}s")
    print("Flagger's defaults (threshold 5 x interval 1m): >= 300s")
    print(f"healthy canaries rolled back before the fault (replaced by another trial): {len(false_fails)}")
    out = Path(__file__).parent / "results" / f"rollback-latency-{datetime.now(UTC):%Y-%m-%d}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"interval_s": interval, "scrape_s": scrape, "results": results, "false_fails_before_fault": false_fails},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
