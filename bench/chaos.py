"""The chaos campaign (modelops_devcluster.chaos) at full length: N rollouts under operator kills,
Prometheus restarts and an API server restart; every outcome, request and retraining Job checked.

    PYTHONPATH=operator python bench/chaos.py [--seed 1] [--deployments 4] [--rollouts 52]

Prints one line per rollout, then the summary; writes bench/results/chaos-<date>.json.
Exits 1 if any rollout ended otherwise than planned, a request was lost, or a Job was duplicated.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from modelops_devcluster.chaos import plan, run
from modelops_devcluster.stack import Stack

NS = "chaos"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deployments", type=int, default=4, help="ModelDeployments, routers in turn")
    parser.add_argument("--rollouts", type=int, default=52, help="rollouts in all (spread over the deployments)")
    parser.add_argument("--rate", type=float, default=15.0, help="requests/s per deployment")
    parser.add_argument("--prometheus-restarts", type=int, default=3)
    parser.add_argument("--apiserver-restarts", type=int, default=1)
    parser.add_argument("--triggers", type=int, default=6, help="manual retraining triggers")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    the_plan = plan(args.seed, args.deployments, args.rollouts)
    with Stack(NS, log=print) as stack:
        artifacts = {
            "v1": stack.train("m", "v1", rows=4000, seed=1),
            "a": stack.train("m", "a", rows=4000, seed=2),
            "b": stack.train("m", "b", rows=4000, seed=3),
        }
        report = run(
            stack,
            artifacts,
            the_plan,
            rate=args.rate,
            prometheus_restarts=args.prometheus_restarts,
            apiserver_restarts=args.apiserver_restarts,
            triggers=args.triggers,
        )
    summary = report.summary()
    summary["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary["injected"] = [
        {"at_s": round(f.at, 1), "what": f.what, "down_s": round(f.down_s, 1)} for f in report.injected
    ]
    summary["failure_examples"] = report.failure_examples
    print(json.dumps(summary, indent=2))
    out = args.out or Path(__file__).parent / "results" / f"chaos-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
