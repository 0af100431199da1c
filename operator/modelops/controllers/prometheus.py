"""Prometheus clients shared by every controller: one per (URL, TLS verification), kept in kopf's memo."""

from __future__ import annotations

import kopf

from modelops.prom.client import PrometheusClient


def client_for(memo: kopf.Memo, url: str, *, verify: bool = True) -> PrometheusClient:
    """A client with short timeouts and few retries: a reconcile pass must not hang on Prometheus."""
    clients: dict[str, PrometheusClient] = memo.setdefault("prometheus", {})
    cache_key = f"{url}|{verify}"
    if cache_key not in clients:
        clients[cache_key] = PrometheusClient(url, verify=verify, timeout=5.0, retries=2)
    return clients[cache_key]
