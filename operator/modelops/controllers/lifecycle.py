"""Operator start-up: kopf settings, metrics endpoint, configuration in memo."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

import kopf
from prometheus_client import start_http_server

from modelops.api.v1alpha1 import GROUP
from modelops.controllers.config import OperatorConfig
from modelops.controllers.leader import Leadership
from modelops.kube import ClusterKube, Kube, load

FINALIZER = f"{GROUP}/finalizer"
log = logging.getLogger("modelops.operator")


def apply_settings(settings: kopf.OperatorSettings) -> None:
    """Our own annotation prefix and finalizer name; quiet events (we post our own)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # kopf's "handler succeeded" events are noise on call
    settings.posting.reporting_component = "modelops-operator"
    settings.posting.event_name_prefix = "modelops-"
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    apply_settings(settings)
    config: OperatorConfig = memo.get("config") or OperatorConfig.from_env()
    memo["config"] = config
    leadership: Leadership | None = memo.get("leadership")  # with --leader-elect: the fence on every write
    fence = leadership.check if leadership is not None else None
    agent = f"modelops-operator/{leadership.config.identity}" if leadership is not None else None
    kube: Kube = ClusterKube(
        load(user_agent=agent), fence=fence
    )  # checked against the protocol controllers are written for
    memo["kube"] = kube
    # Handlers get a shallow copy of this memo per object: caches meant to be shared must exist
    # here, before the first object is seen, or each object would grow its own (one Prometheus
    # client with its TLS context per ModelDeployment held the operator above 1 GB at 1,000).
    memo["prometheus"] = {}
    memo["drift_references"] = OrderedDict()
    if leadership is not None:
        memo["heartbeat"] = asyncio.get_running_loop().create_task(_heartbeat(leadership), name="leader-heartbeat")
    elif config.metrics_port:  # with leader election the standby already serves them
        start_http_server(config.metrics_port, addr=config.bind_address)
    log.info(
        "modelops operator started",
        extra={
            "namespaces": list(config.namespaces) or "all",
            "metrics_port": config.metrics_port,
            "prometheus_url": config.prometheus_url,
        },
    )


async def _heartbeat(leadership: Leadership) -> None:
    """The leader's /healthz fails when its event loop stops turning (kopf's liveness probe is off)."""
    while True:
        leadership.beat = time.monotonic()
        await asyncio.sleep(1.0)


@kopf.on.cleanup()
async def hand_over(memo: kopf.Memo, **_: Any) -> None:
    """On SIGTERM: stop writing, then release the Lease at once (kopf itself takes seconds more to
    stop), so a standby takes over at its next try instead of after leaseDuration."""
    release = memo.get("release_leadership")
    if release is not None:
        await asyncio.to_thread(release)
    heartbeat = memo.get("heartbeat")
    if heartbeat is not None:
        heartbeat.cancel()
