#!/usr/bin/env python3
"""Rollback latency under fleet load: does a failing canary get its weight 0 as fast among 1,000 objects?

    PYTHONPATH=operator .venv/bin/python bench/fleet_rollback.py --count 1000 --rolling 100 --trials 3

One stack (control plane, operator, Prometheus, data plane, traffic: `modelops_devcluster.stack`)
whose operator also watches --namespaces fleet namespaces. The measured canary is
rollback_latency.py's trial (a healthy v2 at 20%, then 10% of its requests fail; seconds until
phase RolledBack, maxFailedChecks=1, --interval), run in three phases on the same stack:

  single    no fleet: the single-object figure, on this machine, in this run
  ramping   (--during-ramp) while the fleet below is being created: the queue of passes is full
            (every new object needs several), the case a plain FIFO work queue starves; the
            measured object waits its turn to become Available (up to 900 s), then its canary
            pass competes with the fleet's
  idle      after --count idle ModelDeployments (scale.py's manifests: replicas 1, pods that kwok
            makes Ready, no data plane) are all Available
  rolling   after --rolling of them start a rollout at once (v2 canary at 20%, the same interval,
            analysis against the same Prometheus; their pods serve nothing, so every analysis reads
            no data, is Unknown and holds the step: the queries and passes are real, the verdicts
            are not. maxUnknownChecks 1000 keeps them rolling for the whole run)

Per phase: each trial's seconds (median, max) against the goal single median + one interval, and
over the phase's window the operator's CPU, peak RSS, API writes per minute (its own counter and the
apiserver's for every client), Prometheus queries per analysis interval (counted by Prometheus),
reconciles per second, the mean wait for a reconcile slot (modelops_reconcile_wait_seconds) and
the apiserver's mean request latency by verb, with the CPU seconds of every component.
With --profile, py-spy samples the operator during the ramping and rolling phases (collapsed
stacks next to the operator's log; the top frames, by own and total time and by modelops
function, in the JSON).
Results: a table and bench/results/fleet-rollback-<date>.json. Bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rollback_latency
import scale

from modelops.api.durations import parse_duration
from modelops_devcluster.stack import Artifact, Stack

RESULTS = scale.RESULTS
PHASES = ("single", "ramping", "idle", "rolling")
PREFIXES = {"single": "s", "ramping": "c", "idle": "i", "rolling": "r"}  # the measured objects' names
LINE = re.compile(r":\d+\)$")
LATENCY_PREFIXES = ("apiserver_request_duration_seconds_sum{", "apiserver_request_duration_seconds_count{")
WAIT_PREFIXES = ("modelops_reconcile_wait_seconds_sum", "modelops_reconcile_wait_seconds_count")


def apiserver_latency(stack: Stack) -> dict[str, tuple[float, float]]:
    """verb -> (seconds, requests) the apiserver has served (WATCH excluded: a watch lasts minutes)."""
    status, text = stack.cluster.api("GET", "/metrics")
    if status != 200 or not isinstance(text, str):
        raise scale.BenchError(f"apiserver /metrics answered {status}")
    out: dict[str, tuple[float, float]] = {}
    for name, labels, value in scale.parse_metrics(text, LATENCY_PREFIXES):
        verb = labels.get("verb", "")
        if verb in ("WATCH", "CONNECT"):
            continue
        s, n = out.get(verb, (0.0, 0.0))
        out[verb] = (s + value, n) if name.endswith("_sum") else (s, n + value)
    return out


def reconcile_wait(stack: Stack) -> tuple[float, float]:
    """(seconds, passes) waited for a reconcile slot, when the operator exports it (else zeros)."""
    samples = scale.scrape(stack.operator.metrics_url, WAIT_PREFIXES)
    return (
        scale.total(samples, "modelops_reconcile_wait_seconds_sum"),
        scale.total(samples, "modelops_reconcile_wait_seconds_count"),
    )


@dataclass(frozen=True)
class Snapshot:
    """Every counter a phase's figures are differences of."""

    at: float
    operator: scale.OperatorCounters
    operator_cpu: float
    components: dict[str, float]
    api_writes: dict[str, float]
    api_latency: dict[str, tuple[float, float]]
    queries: float | None
    wait: tuple[float, float]

    @classmethod
    def take(cls, stack: Stack) -> Snapshot:
        pid = scale.operator_pid(stack.operator)
        return cls(
            at=time.monotonic(),
            operator=scale.OperatorCounters.read(stack.operator),
            operator_cpu=scale.cpu_seconds(pid) or 0.0,
            components=scale.component_cpu(stack.cluster, stack.prometheus),
            api_writes=scale.apiserver_writes(stack.cluster),
            api_latency=apiserver_latency(stack),
            queries=scale.prometheus_queries(stack.prometheus),
            wait=reconcile_wait(stack),
        )


def window(a: Snapshot, b: Snapshot, interval: float) -> dict[str, Any]:
    """What happened between two snapshots, per minute / per second / per analysis interval."""
    seconds = b.at - a.at
    reconciles = b.operator.reconciles_total - a.operator.reconciles_total
    waited, waits = b.wait[0] - a.wait[0], b.wait[1] - a.wait[1]
    latency = {}
    for verb, (s, n) in b.api_latency.items():
        s0, n0 = a.api_latency.get(verb, (0.0, 0.0))
        if n - n0 > 0:
            latency[verb] = {"requests": int(n - n0), "mean_ms": round(1000 * (s - s0) / (n - n0), 1)}
    api = scale.delta(b.api_writes, a.api_writes)
    queries = None if a.queries is None or b.queries is None else b.queries - a.queries
    return {
        "seconds": round(seconds, 1),
        "operator_cpu_percent_of_one_core": round(100 * (b.operator_cpu - a.operator_cpu) / seconds, 1),
        "component_cpu_percent_of_one_core": {
            k: round(100 * v / seconds, 1) for k, v in scale.delta(b.components, a.components).items()
        },
        "operator_writes": scale.delta(b.operator.writes, a.operator.writes),
        "operator_writes_per_minute": round(60 * (b.operator.writes_total - a.operator.writes_total) / seconds, 1),
        "apiserver_writes_per_minute": round(60 * sum(api.values()) / seconds, 1),
        "apiserver_writes": api,  # by verb and resource, every client (kube-controller-manager, kwok, ...)
        "apiserver_writes_to_operator_kinds_per_minute": round(60 * scale.operator_kinds(api) / seconds, 1),
        "apiserver_latency": latency,
        "prometheus_queries_per_interval": None if queries is None else round(queries * interval / seconds, 1),
        "reconciles_per_second": round(reconciles / seconds, 2),
        "reconcile_errors": b.operator.reconciles.get("error", 0.0) - a.operator.reconciles.get("error", 0.0),
        "mean_reconcile_ms": round(
            1000 * (b.operator.reconcile_seconds_sum - a.operator.reconcile_seconds_sum) / reconciles, 1
        )
        if reconciles
        else None,
        "mean_slot_wait_ms": round(1000 * waited / waits, 1) if waits else None,
    }


# -- profile -------------------------------------------------------------------------------


@contextlib.contextmanager
def profiled(pid: int, out: Path | None, seconds: float) -> Iterator[dict[str, Any]]:
    """py-spy samples `pid` (25 Hz: at 100 Hz py-spy itself took a quarter of a core) while the block runs;
    fills in the top frames."""
    summary: dict[str, Any] = {}
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if out is None or not Path(spy).exists():
        if out is not None:
            print("py-spy not found: no profile (it is a dev dependency: make venv)", flush=True)
        yield summary
        return
    raw = out.with_suffix(".txt")
    argv = [spy, "record", "--nonblocking", "-p", str(pid), "-r", "25", "-d", str(int(seconds)), "-f", "raw"]
    argv += ["-o", str(raw)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield summary
    finally:
        proc.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            err = "py-spy did not stop"
        if raw.exists():
            summary.update(top_frames(raw.read_text()))
            summary["collapsed_stacks"] = str(raw)
        else:
            summary["error"] = err[-500:]


def top_frames(collapsed: str, keep: int = 15) -> dict[str, Any]:
    """Own and total samples per function from py-spy's collapsed stacks ("f1;f2;...;fn count" lines)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    ours: Counter[str] = Counter()  # modelops' own functions: where the operator's time goes, by its code
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [LINE.sub(")", f) for f in stack.split(";")]  # by function, not by line
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
            if "modelops/" in frame and "cli/" not in frame and "supervisor.py" not in frame:
                ours[frame] += n
    pct = {"samples": samples}

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / samples, 1)) for f, n in c.most_common(keep)] if samples else []

    return {**pct, "own_percent": share(own), "total_percent": share(inclusive), "modelops_total_percent": share(ours)}


# -- phases --------------------------------------------------------------------------------


def rolling_state(run: scale.Run, names: set[str]) -> Counter[str]:
    """How many of the rolling ModelDeployments have a canary, and have been analysed."""
    seen: Counter[str] = Counter()
    for obj in run.poll():
        if obj["metadata"]["name"] not in names:
            continue
        status = obj.get("status") or {}
        seen["phase:" + str(status.get("phase"))] += 1
        if status.get("canary"):
            seen["canary"] += 1
        if status.get("lastAnalysis"):
            seen["analysed"] += 1
    return seen


def start_rolling(run: scale.Run, count: int, interval: str, timeout: float) -> dict[str, Any]:
    """v2 for the first `count` of the fleet at once; wait until every one has a canary and one analysis."""
    rollout = {
        "interval": interval,
        "maxUnknownChecks": 1000,
        "progressDeadline": "24h",
        "steps": [{"setWeight": 20}, {"pause": {}}],
    }
    bodies = scale.manifests(count, run.namespaces, version="v2", rollout=rollout)
    t0 = time.monotonic()
    scale.create(run, bodies)
    names = {b["metadata"]["name"] for b in bodies}
    end = min(run.deadline, t0 + timeout)
    seen: Counter[str] = Counter()
    while time.monotonic() < end:
        run.check_operator()
        seen = rolling_state(run, names)
        if seen["analysed"] >= count:
            break
        time.sleep(2.0)
    return {"seconds_to_all_analysed": round(time.monotonic() - t0, 1), "state": dict(seen)}


def measured_phase(
    stack: Stack,
    run: scale.Run | None,
    key: str,
    args: argparse.Namespace,
    *,
    versions: tuple[Artifact, Artifact],
    sampler: scale.Sampler,
    profile: Path | None = None,
    setup_timeout: float = 60.0,
) -> dict[str, Any]:
    interval = parse_duration(args.interval).total_seconds()
    v1, v2 = versions
    false_fails: list[str] = []
    t0 = time.monotonic() - sampler.started
    before = Snapshot.take(stack)
    budget = max(60.0, (run.remaining() if run else args.max_seconds) - 60)
    with profiled(scale.operator_pid(stack.operator), profile, budget) as prof:
        values = rollback_latency.trials(
            stack,
            key,
            args.trials,
            v1,
            v2,
            interval=args.interval,
            max_failed=1,
            false_fails=false_fails,
            prefix=PREFIXES[key],
            setup_timeout=setup_timeout,
        )
    after = Snapshot.take(stack)
    t1 = time.monotonic() - sampler.started
    stack.kubectl("delete", "md", "--all", "-n", rollback_latency.NS, "--wait=false", check=False)
    out: dict[str, Any] = {
        "rollback_seconds": [round(v, 2) for v in values],
        "median": round(statistics.median(values), 2) if values else None,
        "max": round(max(values), 2) if values else None,
        "false_fails_before_fault": false_fails,
        "window": window(before, after, interval),
        "operator_peak_rss_mb": round(sampler.peak(None, t0, t1) / scale.MB, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    if prof:
        out["profile"] = prof
    print(f"{key}: {', '.join(f'{v:.1f}s' for v in values)}  {json.dumps(out['window'])[:600]}", flush=True)
    return out


def build_fleet(run: scale.Run, out: dict[str, Any]) -> None:
    """Create the fleet and wait until it is Available; a ramp cut short by its bound is recorded, not fatal."""
    created_at = time.monotonic()
    try:
        out["create_seconds"] = round(scale.create(run), 1)
        out.update(scale.ramp(run, created_at))
    except scale.BenchError as error:
        out["incomplete"] = str(error)[:500]
        out["seconds"] = round(time.monotonic() - created_at, 1)
        print(f"fleet incomplete: {error}", flush=True)


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + args.max_seconds
    namespaces = [f"scale-{i}" for i in range(args.namespaces)]
    sampler = scale.Sampler(started)
    sampler.start()
    result: dict[str, Any] = {}
    stack = Stack(rollback_latency.NS, scrape_interval="1s", fleet_namespaces=namespaces, log=print)
    try:
        with stack:
            sampler.follow("operator", scale.operator_pid(stack.operator))
            v1 = stack.train("m", "v1", rows=4000, seed=1)
            v2 = stack.train("m", "v2", rows=4000, seed=2)
            if args.single:
                result["single"] = measured_phase(stack, None, "single", args, versions=(v1, v2), sampler=sampler)
            fleet_args = argparse.Namespace(
                count=args.count, batch=args.batch, available_timeout=args.available_timeout, scrape_every=5.0
            )
            run = scale.Run(
                fleet_args, stack.cluster, stack.prometheus, stack.operator, sampler, started, deadline, namespaces, []
            )
            print(f"creating {args.count} idle ModelDeployments", flush=True)
            fleet: dict[str, Any] = {}
            if args.during_ramp:
                builder = threading.Thread(target=build_fleet, args=(run, fleet), name="fleet", daemon=True)
                builder.start()
                time.sleep(args.ramp_lead)  # the queue fills before the first trial
                profile = stack.workdir / f"operator-profile-ramp-{args.count}" if args.profile else None
                result["ramping"] = measured_phase(
                    stack, run, "ramping", args, versions=(v1, v2), sampler=sampler, profile=profile, setup_timeout=900
                )
                builder.join(timeout=max(1.0, run.remaining()))
            else:
                build_fleet(run, fleet)
            result["fleet"] = fleet
            settle = Snapshot.take(stack)
            time.sleep(args.settle_seconds)
            result["fleet"]["settled"] = window(settle, Snapshot.take(stack), 60.0)
            if args.idle:
                result["idle"] = measured_phase(stack, run, "idle", args, versions=(v1, v2), sampler=sampler)
            if args.rolling:
                print(f"starting {args.rolling} rollouts at once", flush=True)
                result["rollouts"] = start_rolling(run, args.rolling, args.interval, args.rolling_timeout)
                print(f"  {result['rollouts']}", flush=True)
                profile = stack.workdir / f"operator-profile-{args.count}" if args.profile else None
                result["rolling"] = measured_phase(
                    stack, run, "rolling", args, versions=(v1, v2), sampler=sampler, profile=profile, setup_timeout=300
                )
            result["operator_peak_rss_mb"] = round(sampler.peak() / scale.MB, 1)
            result["operator_vm_hwm_mb"] = round(sampler.hwm.get("operator", 0) / scale.MB, 1)
            result["operator_log"] = scale.log_summary(stack.operator)
    finally:
        sampler.follow("", None)
        sampler.stop()
    return result


def table(result: dict[str, Any], interval: float) -> str:
    single = (result.get("single") or {}).get("median")
    goal = None if single is None else single + interval
    lines = [
        f"goal: rollback within single-object median + one interval = {goal if goal is None else round(goal, 1)} s",
        f"{'phase':<8} {'median':>7} {'max':>7} {'op CPU%':>8} {'RSS MB':>7} {'op w/min':>9} {'api w/min':>10} "
        f"{'q/intvl':>8} {'rec/s':>6} {'slot ms':>8} {'apiserver CPU%':>15}",
    ]
    for key in PHASES:
        phase = result.get(key)
        if not phase:
            continue
        w = phase["window"]
        api_cpu = w["component_cpu_percent_of_one_core"].get("kube-apiserver", 0.0)
        lines.append(
            f"{key:<8} {phase['median'] or 0:>6.1f}s {phase['max'] or 0:>6.1f}s "
            f"{w['operator_cpu_percent_of_one_core']:>8.1f} {phase['operator_peak_rss_mb']:>7.0f} "
            f"{w['operator_writes_per_minute']:>9.1f} {w['apiserver_writes_per_minute']:>10.1f} "
            f"{w['prometheus_queries_per_interval'] or 0:>8.1f} {w['reconciles_per_second']:>6.2f} "
            f"{w['mean_slot_wait_ms'] if w['mean_slot_wait_ms'] is not None else '-':>8} {api_cpu:>15.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000, help="idle ModelDeployments (default 1000)")
    p.add_argument("--rolling", type=int, default=100, help="of them rolling out at once (default 100; 0: none)")
    p.add_argument("--trials", type=int, default=3, help="measured rollbacks per phase (default 3)")
    p.add_argument("--interval", default="10s", help="rollout.interval of the measured and rolling ones (10s)")
    p.add_argument("--single", action=argparse.BooleanOptionalAction, default=True, help="measure without fleet")
    p.add_argument("--idle", action=argparse.BooleanOptionalAction, default=True, help="measure the idle fleet")
    p.add_argument("--namespaces", type=int, default=1, help="fleet namespaces (default 1)")
    p.add_argument("--batch", type=int, default=100, help="objects per kubectl apply (default 100)")
    p.add_argument("--settle-seconds", type=float, default=30.0, help="after the fleet is Available (30)")
    p.add_argument("--available-timeout", type=float, default=1500.0, help="bound on the fleet's ramp (1500 s)")
    p.add_argument("--rolling-timeout", type=float, default=300.0, help="bound on starting the rollouts (300 s)")
    p.add_argument("--profile", action="store_true", help="py-spy the operator during the ramping/rolling phase")
    p.add_argument(
        "--during-ramp", action="store_true", help="a 'ramping' phase: the trials run while the fleet is created"
    )
    p.add_argument("--ramp-lead", type=float, default=20.0, help="seconds of fleet creation before them (20)")
    p.add_argument("--max-seconds", type=float, default=3600.0, help="bound on the whole run (default 3600)")
    p.add_argument("--output", type=Path, help="JSON path (default bench/results/fleet-rollback-<date>.json)")
    args = p.parse_args(argv)
    date = dt.datetime.now(dt.UTC).replace(microsecond=0)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    config["max_concurrent_reconciles"] = os.environ.get("MODELOPS_MAX_CONCURRENT_RECONCILES", "16")
    print(f"fleet rollback benchmark: {json.dumps(config)}", flush=True)
    result: dict[str, Any] = {"date": date.isoformat(), "machine": scale.machine(), "config": config}
    result.update(run_all(args))
    interval = parse_duration(args.interval).total_seconds()
    single = (result.get("single") or {}).get("median")
    if single is not None:
        goal = single + interval
        result["goal_seconds"] = round(goal, 2)
        result["goal_met"] = {
            k: result[k]["max"] is not None and result[k]["max"] <= goal for k in PHASES[1:] if k in result
        }
    output = args.output or RESULTS / f"fleet-rollback-{args.count}-{date.date().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result, interval))
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
