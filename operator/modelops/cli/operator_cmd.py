"""`modelops operator`: run the kopf operator with the project's settings."""

from __future__ import annotations

import argparse
import logging
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("operator", help="run the operator (reconciles ModelDeployment, DriftMonitor, RetrainPolicy)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace (default)")
    scope.add_argument("--namespace", "-n", action="append", dest="namespaces", help="watch NS (repeatable)")
    p.add_argument("--prometheus-url", help="default Prometheus for analysis (env MODELOPS_PROMETHEUS_URL)")
    p.add_argument("--metrics-port", type=int, default=8080, help="operator metrics on :PORT/metrics (0 disables)")
    p.add_argument("--health-port", type=int, default=8081, help="liveness on :PORT/healthz (0 disables)")
    p.add_argument("--bind-address", default="0.0.0.0", help="address for the metrics and health endpoints")
    p.add_argument("--log-format", choices=["text", "json"], help="log format (env MODELOPS_LOG_FORMAT)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level")
    p.add_argument("--serving-image", help="default model server image (env MODELOPS_SERVING_IMAGE)")
    p.add_argument(
        "--runbook-url",
        help="base URL of the alert runbooks: runbook_url = <base>/<AlertName>.md (env MODELOPS_RUNBOOK_URL)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelops import malloc

    tuned = malloc.tune()  # before the imports below allocate anything lasting
    import kopf

    import modelops.controllers  # registers the handlers
    from modelops.controllers.config import OperatorConfig

    config = OperatorConfig.from_env(
        namespaces=tuple(args.namespaces) if args.namespaces else None,
        prometheus_url=args.prometheus_url,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        bind_address=args.bind_address,
        log_format=args.log_format,
        log_level=args.log_level,
        serving_image=args.serving_image,
        runbook_url=args.runbook_url,
    )
    level = config.log_level.upper()
    kopf.configure(
        verbose=level == "DEBUG",
        quiet=level in {"WARNING", "ERROR"},
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL,
        log_refkey="object" if config.log_format == "json" else None,
    )
    logging.getLogger().setLevel(level)
    if tuned:
        logging.getLogger("modelops").info("malloc settings: %s", ", ".join(f"{k}={v}" for k, v in tuned.items()))
    del modelops.controllers
    liveness = f"http://{config.bind_address}:{config.health_port}/healthz" if config.health_port else None
    kopf.run(
        standalone=True,  # one replica; no peering CRDs to install
        clusterwide=config.clusterwide,
        namespaces=list(config.namespaces),
        liveness_endpoint=liveness,
        memo=kopf.Memo(config=config),
    )
    return 0
