"""Prometheus clients shared by every controller: one per (URL, TLS verification), kept in kopf's memo."""

from __future__ import annotations

import kopf

from modelops.prom.client import PrometheusClient


def client_for(memo: kopf.Memo, url: str, *, verify: bool = True) -> PrometheusClient:
    """A client with short timeouts and few retries: a reconcile pass must not hang on Prometheus."""
    clients: dict[str, PrometheusClient] = memo["prometheus"]  # shared: made at start-up (lifecycle)
    cache_key = f"{url}|{verify}"
    if cache_key not in clients:
        clients[cache_key] = PrometheusClient(url, verify=verify, timeout=5.0, retries=2)
    return clients[cache_key]


def client_for_deployment(memo: kopf.Memo, url: str | None, *, insecure: bool = False) -> PrometheusClient | None:
    """The Prometheus a ModelDeployment is judged by: its spec.analysis.prometheus.url, else the
    operator's --prometheus-url; None when neither is set."""
    url = url or memo["config"].prometheus_url
    return client_for(memo, url, verify=not insecure) if url else None
