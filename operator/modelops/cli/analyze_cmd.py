"""`modelops analyze`: run a ModelDeployment's canary checks against Prometheus and print the table.

On call this answers "why did (or would) the operator roll this back?" with the same code
and the same numbers the operator uses. Exit code: 0 Pass, 1 Fail, 3 Unknown, 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from modelops.api.durations import parse_duration
from modelops.api.v1alpha1 import MODEL_DEPLOYMENT, ModelDeploymentSpec
from modelops.cli.status_view import table

EXIT = {"Pass": 0, "Fail": 1, "Unknown": 3}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("analyze", help="run a ModelDeployment's canary checks against Prometheus, print the table")
    p.add_argument("name", nargs="?", help="ModelDeployment name (read live from the cluster)")
    p.add_argument("-f", "--file", type=Path, help="read the ModelDeployment from a YAML file instead")
    p.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's, or the file's)")
    p.add_argument(
        "--prometheus", help="Prometheus URL (default: spec.analysis.prometheus.url, $MODELOPS_PROMETHEUS_URL)"
    )
    p.add_argument("--canary-version", help="default: status.canary.version")
    p.add_argument("--stable-version", help="default: status.stable.version")
    p.add_argument("--interval", help="analysis window (default: spec.rollout.interval)")
    p.add_argument("--at", help="evaluation time, RFC 3339 (default: now); replays a past decision")
    p.add_argument(
        "--since",
        help="when the rollout began, RFC 3339, for the since-start checks and the labels the quality checks judge "
        "(default: status.rolloutStartedAt of the rollout in progress)",
    )
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> dict[str, Any]:
    if args.file:
        docs = [d for d in yaml.safe_load_all(args.file.read_text()) if d and d.get("kind") == MODEL_DEPLOYMENT.kind]
        if args.name:
            docs = [d for d in docs if d["metadata"]["name"] == args.name]
        if len(docs) != 1:
            raise SystemExit(
                f"error: {args.file} must hold exactly one ModelDeployment{' named ' + args.name if args.name else ''}"
            )
        return dict(docs[0])
    if not args.name:
        raise SystemExit("error: give a ModelDeployment NAME or --file")
    from modelops.kube import client as kube

    api = kube.load()
    namespace = args.namespace or kube.current_namespace()
    try:
        return kube.CustomResources(api, MODEL_DEPLOYMENT).get(namespace, args.name)
    except kube.NotFoundError as error:
        raise SystemExit(f"error: {error}") from error


def _utc(text: str) -> datetime:
    """RFC 3339; a time without an offset is UTC (as kubectl prints them)."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from modelops.prom.canary import Variant, analyze
    from modelops.prom.client import PrometheusClient

    obj = _load(args)
    spec = ModelDeploymentSpec.model_validate(obj["spec"])
    status = obj.get("status") or {}
    namespace = args.namespace or obj["metadata"].get("namespace") or "default"
    canary = args.canary_version or (status.get("canary") or {}).get("version")
    stable = args.stable_version or (status.get("stable") or {}).get("version")
    if not canary or not stable:
        print("error: no rollout in progress; pass --canary-version and --stable-version", file=sys.stderr)
        return 2
    url = args.prometheus or spec.analysis.prometheus.url or os.environ.get("MODELOPS_PROMETHEUS_URL")
    if not url:
        print(
            "error: no Prometheus URL (--prometheus, spec.analysis.prometheus.url or $MODELOPS_PROMETHEUS_URL)",
            file=sys.stderr,
        )
        return 2
    interval = parse_duration(args.interval) if args.interval else spec.rollout.interval.delta
    at = _utc(args.at) if args.at else datetime.now(UTC)
    in_progress = canary == (status.get("canary") or {}).get("version")
    since = args.since or (status.get("rolloutStartedAt") if in_progress else None)
    started = _utc(since) if since else None

    async def judge() -> Any:
        async with PrometheusClient(url, verify=not spec.analysis.prometheus.insecure_skip_verify) as client:
            return await analyze(
                client,
                spec.analysis,
                interval=interval,
                min_requests=spec.rollout.min_requests,
                at=at,
                started=started,
                shadowing=in_progress and bool(status.get("shadowing")),
                canary=Variant(namespace, spec.model.name, canary),
                stable=Variant(namespace, spec.model.name, stable),
            )

    result = asyncio.run(judge())
    if args.output == "json":
        checks = [{**c.__dict__, "verdict": str(c.verdict)} for c in result.checks]
        print(json.dumps({"time": result.time.isoformat(), "verdict": str(result.verdict), "checks": checks}, indent=2))
    else:
        window = args.interval or spec.rollout.interval
        print(
            f"{spec.model.name}: canary {canary} vs stable {stable} over {window} at {result.time.isoformat()}: "
            f"{result.verdict}"
        )
        rows = [
            (c.name, c.verdict, "-" if c.value is None else f"{c.value:.4g}", c.threshold, c.samples, c.reason)
            for c in result.checks
        ]
        print(table(("CHECK", "VERDICT", "VALUE", "THRESHOLD", "SAMPLES", "REASON"), rows))
    return EXIT[str(result.verdict)]
