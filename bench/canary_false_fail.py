#!/usr/bin/env python3
"""Canary false-fail benchmark: `analyze` on real model servers scraped by a real Prometheus.

    PYTHONPATH=operator .venv/bin/python bench/canary_false_fail.py [--trials 100] [--window 15] [--rate 60]

One seeded run on the local dev cluster (its own control plane, data plane and Prometheus,
scraping every second through HTTP service discovery), with the Deployments, Service and
traffic of tests/integration/test_canary_analysis.py (imported from there, so both measure
the same setup):

  v1  stable, 2 replicas
  v2  canary, 1 replica, identical to v1 (same model file, same code, no faults)
  v3  canary, 1 replica, the same server with 10% of its requests answered 500 (injected)

One Service over all four pods, so each takes a quarter of the traffic (at 60 requests/s,
15 per pod, as in the integration test). A trial is one analysis window of `--window`
seconds of traffic from its own seeded generator, carrying its own rows of the synthetic
fraud dataset (no row is sent in two windows); windows follow each other without a gap and
never share a sample. Each window is judged at its end, queried 2 s later (two
scrapes), twice with the default AnalysisSpec and `--min-requests`: v2 against v1 (any Fail
is a false fail) and v3 against v1 (a Fail is a catch within one interval).

Prints the false-fail rate and the catch rate with exact 95% intervals, per-check counts and
how closely Prometheus' increase() counts matched what the servers answered; writes
bench/results/canary-<date>.json. 100 trials of 15 s take about 26 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from scipy.stats import binomtest

from modelops.analysis.checks import Analysis, Verdict
from modelops.train.dataset import generate
from modelops_devcluster import build
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.dataplane import DataPlane
from modelops_devcluster.prometheus import PrometheusServer
from modelops_devcluster.scrape import PodDiscovery
from modelops_devcluster.traffic import Fault, TrafficReport

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
NAMESPACE = "canary-bench"
ERROR_RATE = 0.1
VARIANTS = (("v1", "stable", 2), ("v2", "canary", 1), ("v3", "canary", 1))
READY_S = 60.0


def shared() -> ModuleType:
    """The integration test module: its builders, traffic windows and `judge`."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.integration.test_canary_analysis")


def summary(analysis: Analysis) -> dict[str, Any]:
    return {
        "verdict": str(analysis.verdict),
        "checks": {
            c.name: {"verdict": str(c.verdict), "value": c.value, "samples": c.samples, "reason": c.reason}
            for c in analysis.checks
        },
    }


def sent(report: TrafficReport, version: str) -> dict[str, int]:
    codes = Counter[int]()
    for (v, _), by_code in report.counts.items():
        if v == version:
            codes.update(by_code)
    return {"requests": sum(codes.values()), "errors": sum(n for code, n in codes.items() if code >= 500)}


def rate(k: int, n: int) -> dict[str, Any]:
    interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact") if n else None
    return {
        "count": k,
        "of": n,
        "rate": k / n if n else None,
        "ci95": [interval.low, interval.high] if interval else None,
    }


def pct(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return "n/a"
    low, high = r["ci95"]
    return f"{100 * r['rate']:.1f}% ({r['count']}/{r['of']}; 95% CI {100 * low:.1f}-{100 * high:.1f}%)"


def per_check(trials: Sequence[dict[str, Any]], canary: str) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {}
    for trial in trials:
        for name, check in trial[canary]["checks"].items():
            out.setdefault(name, Counter())[check["verdict"]] += 1
    return {name: dict(counts) for name, counts in out.items()}


def run_trials(args: argparse.Namespace, t: ModuleType, cluster: DevCluster, url: str) -> list[dict[str, Any]]:
    window = timedelta(seconds=args.window)
    faults = {"v3": Fault(error_rate=ERROR_RATE)}
    per_window = int(args.rate * args.window) + 1
    rows = generate(args.trials * per_window, seed=args.seed)  # fresh rows for every window

    def traffic(k: int) -> tuple[datetime, TrafficReport]:
        dataset = rows.slice(k * per_window, (k + 1) * per_window)
        result: tuple[datetime, TrafficReport] = t.traffic_window(
            cluster, NAMESPACE, dataset, seed=args.seed + k, window=window, rate=args.rate, faults=faults
        )
        return result

    trials: list[dict[str, Any]] = []
    previous: datetime | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="bench-traffic") as pool:
        pending = pool.submit(traffic, 0)
        for k in range(args.trials):
            end, report = pending.result(timeout=3 * args.window + 30)
            if k + 1 < args.trials:
                pending = pool.submit(traffic, k + 1)  # the next window starts now; this one is judged meanwhile
            at = end if previous is None else max(end, previous + window)
            previous = at
            t.settle(at)
            judged = {
                canary: t.judge(url, NAMESPACE, canary, at, window=window, min_requests=args.min_requests)
                for canary in ("v2", "v3")
            }
            trial = {
                "trial": k,
                "seed": args.seed + k,
                "at": at.isoformat(),
                "sent": {v: sent(report, v) for v, _, _ in VARIANTS},
                "unroutable": sum(report.errors.values()),
                **{canary: summary(a) for canary, a in judged.items()},
            }
            trials.append(trial)
            v2, v3 = judged["v2"], judged["v3"]
            print(
                f"{k + 1:>4}/{args.trials} {at:%H:%M:%S}  sent v1 {trial['sent']['v1']['requests']:>4} "
                f"v2 {trial['sent']['v2']['requests']:>4} v3 {trial['sent']['v3']['requests']:>4} "
                f"({trial['sent']['v3']['errors']:>2} errors)  identical: {v2.verdict:<7}  10% errors: "
                f"{v3.verdict:<7}  {v2.failing() if v2.verdict is not Verdict.PASS else ''}",
                flush=True,
            )
    return trials


def report(args: argparse.Namespace, trials: list[dict[str, Any]], started: float) -> dict[str, Any]:
    n = len(trials)
    identical = rate(sum(tr["v2"]["verdict"] == "Fail" for tr in trials), n)
    identical_unknown = rate(sum(tr["v2"]["verdict"] == "Unknown" for tr in trials), n)
    caught = rate(sum(tr["v3"]["verdict"] == "Fail" for tr in trials), n)
    accuracy = [
        tr[c]["checks"]["availability"]["samples"] / tr["sent"][c]["requests"] - 1
        for tr in trials
        for c in ("v2", "v3")
        if tr["sent"][c]["requests"] and tr[c]["checks"]["availability"]["samples"] is not None
    ]
    psi = [
        tr["v2"]["checks"]["prediction-drift"]["value"]
        for tr in trials
        if tr["v2"]["checks"].get("prediction-drift", {}).get("value") is not None
    ]
    canary_requests = [tr["sent"]["v2"]["requests"] for tr in trials]
    result = {
        "benchmark": "canary_false_fail",
        "date": dt.date.today().isoformat(),
        "setup": {
            "trials": n,
            "window_s": args.window,
            "rate_per_s": args.rate,
            "pods": {v: replicas for v, _, replicas in VARIANTS},
            "split": "one Service over all pods (uniform per pod)",
            "min_requests": args.min_requests,
            "scrape_interval_s": 1,
            "query_delay_s": 2,
            "analysis_spec": "defaults (AnalysisSpec())",
            "injected_error_rate_v3": ERROR_RATE,
            "seed": args.seed,
        },
        "identical_canary": {
            "false_fail": identical,
            "unknown": identical_unknown,
            "per_check": per_check(trials, "v2"),
            "canary_requests_per_window": {"min": min(canary_requests), "median": statistics.median(canary_requests)},
            "prediction_psi": {
                "median": statistics.median(psi) if psi else None,
                "above_max_psi": sum(p > 0.1 for p in psi),
                "of": len(psi),
            },
        },
        "ten_percent_errors_canary": {"caught_within_one_interval": caught, "per_check": per_check(trials, "v3")},
        "prometheus_count_vs_served": {
            "median_relative_difference": statistics.median(accuracy) if accuracy else None,
            "max_abs_relative_difference": max(map(abs, accuracy)) if accuracy else None,
        },
        "environment": {
            "python": platform.python_version(),
            "prometheus": subprocess.run(
                ["prometheus", "--version"], capture_output=True, text=True, check=False
            ).stdout.splitlines()[0],
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "duration_s": round(time.monotonic() - started, 1),
        },
        "trials": trials,
    }
    print()
    print(
        f"{n} windows of {args.window:g} s, {args.rate:g} requests/s over 4 pods (canary "
        f"{statistics.median(canary_requests):.0f} requests per window, median), minRequests {args.min_requests}, "
        f"default AnalysisSpec, Prometheus scraping every 1 s"
    )
    print(f"identical canary: false-fail {pct(identical)}; unknown {pct(identical_unknown)}")
    for name, counts in result["identical_canary"]["per_check"].items():
        print(f"  {name:<18} {counts}")
    print(f"10% error canary: caught within one interval {pct(caught)}")
    for name, counts in result["ten_percent_errors_canary"]["per_check"].items():
        print(f"  {name:<18} {counts}")
    ps = result["identical_canary"]["prediction_psi"]
    print(
        f"prediction PSI between identical variants: median {ps['median']:.3f}, above 0.1 in {ps['above_max_psi']}"
        f"/{ps['of']} windows"
    )
    acc = result["prometheus_count_vs_served"]
    print(
        f"Prometheus request counts vs served: median {100 * acc['median_relative_difference']:+.1f}%, "
        f"worst {100 * acc['max_abs_relative_difference']:.1f}%"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--window", type=float, default=15.0, help="analysis interval, seconds")
    parser.add_argument("--rate", type=float, default=60.0, help="requests/s over all four pods")
    parser.add_argument("--min-requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/canary-<date>.json)")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.window < 5 or args.rate <= 0:
        parser.error("--trials >= 1, --window >= 5 (seconds), --rate > 0")
    started = time.monotonic()
    t = shared()
    if build.missing():
        print("building the dev cluster's binaries first (about 20 minutes, once)", file=sys.stderr)
        build.build()

    with tempfile.TemporaryDirectory(prefix="canary-bench-") as tmp, DevCluster() as cluster:
        artifacts = t.make_artifacts(Path(tmp))
        cluster.kubectl("create", "namespace", NAMESPACE)
        with (
            DataPlane(cluster, [NAMESPACE], allow_fault_injection=True) as dataplane,
            PodDiscovery(cluster, [NAMESPACE]) as discovery,
        ):
            t.apply(cluster, NAMESPACE, t.manifests(artifacts, VARIANTS))
            pods = [
                pod
                for version, _, replicas in VARIANTS
                for pod in dataplane.wait_ready({"modelops.dev/version": version}, timeout=READY_S, count=replicas)
            ]
            t.require_own_servers(dataplane, pods)
            with PrometheusServer(t.scrape_config(cluster, NAMESPACE, discovery)) as prom:
                t.wait_scraped(prom.url, NAMESPACE, pods)
                print(
                    f"{len(pods)} pods on {cluster.pod_cidr}, Prometheus {prom.url}; {args.trials} windows of "
                    f"{args.window:g} s (about {args.trials * args.window / 60:.0f} min)",
                    flush=True,
                )
                trials = run_trials(args, t, cluster, prom.url)
    result = report(args, trials, started)
    output = args.output or RESULTS / f"canary-{result['date']}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
