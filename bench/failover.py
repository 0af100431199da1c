"""Leader failover on the local stack: how long until the standby leads and reconciles, and
whether any request or decision is lost on the way.

    .venv/bin/python bench/failover.py [--trials 10] [--durations 15/10/2,4/3/1]

For each lease setting (leaseDuration/renewDeadline/retryPeriod), one stack with two operator
replicas and one ModelDeployment under traffic. Each trial rolls out a new (healthy) version and
loses the leader in the middle of it: SIGKILL during the canary or during the bake (in turn),
then `--stops` trials that SIGSTOP it past its lease (resumed, it must exit 3 without writing),
and `--terms` trials that SIGTERM it (it releases the Lease). Every rollout must end Promoted,
exactly once. Takeover times run from the signal: `lease` until the standby says it leads,
`reconcile` until it has finished its first pass (modelops_devcluster.failover).

Prints one line per trial and a table; writes bench/results/failover-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops_devcluster.chaos import model_deployment, target
from modelops_devcluster.failover import AUDIT_WRITES, How, fail_leader, writes_by
from modelops_devcluster.operator import LeaderElection
from modelops_devcluster.stack import Stack

NS = "failover"
NAME = "fo"


def _settled(version: str) -> Any:
    def check(status: dict[str, Any]) -> bool:
        ended = any(h["version"] == version for h in status.get("history", []))
        return ended and not status.get("canary") and not status.get("bake") and not status.get("retiring")

    return check


def _baking(version: str) -> Any:
    def check(status: dict[str, Any]) -> bool:
        return status.get("phase") == "Baking" and (status.get("stable") or {}).get("version") == version

    return check


def _summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def run_setting(durations: tuple[float, float, float], args: argparse.Namespace) -> dict[str, Any]:
    lease, renew, retry = durations
    election = LeaderElection("operator", lease_duration=lease, renew_deadline=renew, retry_period=retry)
    bake = f"{int(lease * 2 + 10)}s"  # long enough to lose the leader in the middle of it
    plan: list[tuple[How, str]] = [("kill", "canary" if i % 2 == 0 else "bake") for i in range(args.trials)]
    stop: tuple[How, str] = ("stop", "canary")
    term: tuple[How, str] = ("term", "canary")
    plan += [stop] * args.stops + [term] * args.terms
    trials: list[dict[str, Any]] = []
    with Stack(NS, log=print, replicas=2, election=election, audit_policy=AUDIT_WRITES) as stack:
        artifacts = [stack.train("m", v, rows=4000, seed=i) for i, v in enumerate(("v1", "a", "b"), start=1)]
        stack.apply(model_deployment(NS, NAME, "replicas", "v1", artifacts[0], bakeTime=bake))
        stack.wait(NAME, lambda s: s.get("phase") == "Available", timeout=180)
        traffic = stack.traffic(target(NAME, "replicas"), rate=args.rate, seed=11)
        try:
            for i, (how, during) in enumerate(plan):
                version = f"v{i + 2}"
                stack.apply(model_deployment(NS, NAME, "replicas", version, artifacts[1 + i % 2], bakeTime=bake))
                if during == "canary":
                    stack.wait(NAME, lambda s: s.get("canaryWeight", 0) > 0, timeout=180)
                else:
                    stack.wait(NAME, _baking(version), timeout=240)
                takeover = fail_leader(stack, how)
                late_writes = None
                if takeover.resumed_at is not None:
                    late_writes = len(writes_by(stack, takeover.old, since=takeover.resumed_at))
                status = stack.wait(NAME, _settled(version), timeout=300)
                outcomes = [h["outcome"] for h in status["history"] if h["version"] == version]
                trial = {
                    "trial": i,
                    "how": how,
                    "during": during,
                    "lease_s": round(takeover.lease_s, 2),
                    "reconcile_s": None if takeover.reconcile_s is None else round(takeover.reconcile_s, 2),
                    "old": takeover.old,
                    "new": takeover.new,
                    "old_exit_code": takeover.exit_code,
                    "writes_after_resume": late_writes,
                    "outcomes": outcomes,
                }
                trials.append(trial)
                print(json.dumps(trial), flush=True)
                time.sleep(1.0)
        finally:
            traffic.stop()
        failed = len(traffic.unexpected_failures())
        requests = len(traffic.records)
    kills = [t for t in trials if t["how"] == "kill"]
    result: dict[str, Any] = {
        "lease_duration_s": lease,
        "renew_deadline_s": renew,
        "retry_period_s": retry,
        "bound_s": lease + 2 * retry,
        "kill_lease_s": _summary([t["lease_s"] for t in kills]),
        "kill_reconcile_s": _summary([t["reconcile_s"] for t in kills if t["reconcile_s"] is not None]),
        "requests": requests,
        "requests_failed": failed,
        "rollouts_not_promoted_once": sum(t["outcomes"] != ["Promoted"] for t in trials),
        "trials": trials,
    }
    for how in ("stop", "term"):
        chosen = [t for t in trials if t["how"] == how]
        if chosen:
            result[f"{how}_lease_s"] = _summary([t["lease_s"] for t in chosen])
            result[f"{how}_exit_codes"] = sorted({t["old_exit_code"] for t in chosen})
    stops = [t for t in trials if t["how"] == "stop"]
    result["writes_after_resume"] = sum(t["writes_after_resume"] or 0 for t in stops)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="SIGKILL trials per setting (canary, bake in turn)")
    parser.add_argument("--stops", type=int, default=3, help="SIGSTOP-past-the-lease trials per setting")
    parser.add_argument("--terms", type=int, default=3, help="SIGTERM trials per setting")
    parser.add_argument("--durations", default="15/10/2,4/3/1", help="leaseDuration/renewDeadline/retryPeriod, ...")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    settings = [tuple(float(x) for x in d.split("/")) for d in args.durations.split(",")]
    results = [run_setting((s[0], s[1], s[2]), args) for s in settings]
    print()
    columns = ["lease/renew/retry", "bound", "kill: lease med/max", "reconcile med/max", "stop", "term", "failed"]
    widths = [18, 6, 20, 18, 10, 10, 16]
    print(" ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for r in results:
        kill, rec = r["kill_lease_s"], r["kill_reconcile_s"]
        stop, term = r.get("stop_lease_s", {}), r.get("term_lease_s", {})
        print(
            f"{r['lease_duration_s']:g}/{r['renew_deadline_s']:g}/{r['retry_period_s']:g}".rjust(18),
            f"{r['bound_s']:6.1f}",
            f"{kill['median']:9.2f} / {kill['max']:6.2f}",
            f"{rec['median']:8.2f} / {rec['max']:6.2f}",
            f"{stop.get('median', float('nan')):10.2f}",
            f"{term.get('median', float('nan')):10.2f}",
            f"{r['requests_failed']:>7} / {r['requests']:<7}",
        )
    out = args.out or Path(__file__).parent / "results" / f"failover-{datetime.now(UTC):%Y-%m-%d}.json"
    document = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "settings": results}
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")
    bad = any(r["requests_failed"] or r["rollouts_not_promoted_once"] or r["writes_after_resume"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
