"""`modelops_prometheus_requests_total`: each query counted once by its final result, per Prometheus
(user info never in the label), every result exported at 0 from the first client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import REGISTRY

from modelops.prom.client import PrometheusAuthError, PrometheusClient, PrometheusQueryError, PrometheusUnreachable

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
URL = "http://metrics.test:9090"
OK = {"status": "success", "data": {"resultType": "vector", "result": []}}


def value(result: str, url: str = URL) -> float | None:
    return REGISTRY.get_sample_value("modelops_prometheus_requests_total", {"prometheus": url, "result": result})


def test_each_query_is_counted_by_its_final_result() -> None:
    answers = iter(
        [httpx.Response(200, json=OK)]
        + [httpx.Response(503)] * 3  # one query, retried twice: one `unreachable`
        + [httpx.Response(401)]
        + [httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"})]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async def run() -> None:
        client = PrometheusClient(URL, transport=httpx.MockTransport(handler), backoff=0.001, retries=2)
        assert all(value(r) == 0 for r in ("ok", "unreachable", "refused", "error"))
        async with client:
            await client.query("up", time=AT)
            with pytest.raises(PrometheusUnreachable):
                await client.query("up", time=AT)
            with pytest.raises(PrometheusAuthError):
                await client.query("up", time=AT)
            with pytest.raises(PrometheusQueryError):
                await client.query("up(", time=AT)

    asyncio.run(run())
    assert [value(r) for r in ("ok", "unreachable", "refused", "error")] == [1, 1, 1, 1]


def test_user_info_is_not_a_label() -> None:
    PrometheusClient("http://user:secret@creds.test:9090", refusal="no Secret")
    assert value("refused", "http://creds.test:9090") == 0
    assert not any("secret" in str(s.labels) for m in REGISTRY.collect() for s in m.samples)
