"""`modelops operator`: run the kopf operator with the project's settings."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelops.controllers.config import OperatorConfig


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
    ha = p.add_argument_group("leader election (several replicas, one active: docs/operator.md)")
    ha.add_argument(
        "--leader-elect",
        action="store_true",
        help="reconcile only while holding a coordination.k8s.io Lease; stand by otherwise (the chart sets it)",
    )
    ha.add_argument("--lease-name", help="name of the Lease (default modelops-operator)")
    ha.add_argument("--lease-namespace", help="namespace of the Lease (default: env POD_NAMESPACE, else default)")
    ha.add_argument("--identity", help="this replica's name in the Lease (default: env POD_NAME, else host-pid)")
    ha.add_argument("--lease-duration", type=float, help="seconds a standby waits on an unrenewed Lease (15)")
    ha.add_argument("--renew-deadline", type=float, help="seconds the leader acts without renewing, then exits 3 (10)")
    ha.add_argument("--retry-period", type=float, help="seconds between two tries to acquire or renew (2)")
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
        leader_elect=args.leader_elect or None,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        identity=args.identity,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
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
    if config.leader_elect:
        return _run_elected(config)
    liveness = f"http://{config.bind_address}:{config.health_port}/healthz" if config.health_port else None
    kopf.run(
        standalone=True,  # one replica; no peering CRDs to install
        clusterwide=config.clusterwide,
        namespaces=list(config.namespaces),
        liveness_endpoint=liveness,
        memo=kopf.Memo(config=config),
    )
    return 0


def _run_elected(config: OperatorConfig) -> int:
    """Stand by until this replica holds the Lease, then run kopf; release the Lease on the way out."""
    import kopf
    from prometheus_client import start_http_server

    from modelops import lease
    from modelops.controllers import leader
    from modelops.kube import load
    from modelops.kube.leases import LeaseClient

    durations = lease.Durations(config.lease_duration, config.renew_deadline, config.retry_period)
    election = leader.ElectionConfig(config.identity, config.lease_namespace, config.lease_name, durations)
    leadership = leader.Leadership(election)
    api = load(user_agent=f"modelops-operator/{election.identity}")
    client = LeaseClient(api, election.namespace, election.name, timeout=leader._timeout(durations))
    elector = leader.Elector(client, leadership)
    if config.metrics_port:  # a standby exposes modelops_leader 0 too
        start_http_server(config.metrics_port, addr=config.bind_address)
    if config.health_port:
        leader.serve_endpoints(leadership, config.bind_address, config.health_port)
    leadership.update(leadership.state)
    leader.stop_on_sigterm(elector)
    if not elector.wait_until_leader():
        return 0  # stopped while standing by: nothing to hand over
    elector.renew_in_background()
    try:
        kopf.run(
            standalone=True,  # leadership is ours (the Lease), not kopf's peering
            clusterwide=config.clusterwide,
            namespaces=list(config.namespaces),
            liveness_endpoint=None,  # the health port is served by leader.serve_endpoints
            memo=kopf.Memo(config=config, leadership=leadership, release_leadership=elector.release),
        )
    finally:
        elector.release()  # done already on a graceful stop (lifecycle.hand_over); a no-op then
    return 0
