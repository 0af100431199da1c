from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from modelops.prom.client import PrometheusClient, PrometheusQueryError, PrometheusUnreachable

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> PrometheusClient:
    return PrometheusClient("http://prom.test:9090/", transport=httpx.MockTransport(handler), backoff=0.001, retries=2)


def _vector(*values: str) -> dict[str, object]:
    result = [{"metric": {"i": str(i)}, "value": [AT.timestamp(), v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def test_query_sends_the_time_and_parses_special_values() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_vector("1.5", "NaN", "+Inf"))

    async def run() -> None:
        async with _client(handler) as client:
            samples = await client.query("up", time=AT)
        values = [s.value for s in samples]
        assert values[0] == 1.5 and str(values[1]) == "nan" and values[2] == float("inf")

    asyncio.run(run())
    body = seen[0].content.decode()
    assert "query=up" in body and f"time={AT.timestamp()!r}" in body and seen[0].url.path == "/api/v1/query"


def test_transient_failures_are_retried_then_reported_with_url_and_query() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            return httpx.Response(503, text="overloaded")
        return httpx.Response(200, json=_vector("2"))

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async def run() -> None:
        async with _client(flaky) as client:
            assert (await client.query("x", time=AT))[0].value == 2 and client.queries == 3
        async with _client(down) as client:
            with pytest.raises(PrometheusUnreachable) as error:
                await client.query("sum(x)", time=AT)
        message = str(error.value)
        assert "http://prom.test:9090" in message and "'sum(x)'" in message and "connection refused" in message
        assert "after 3 attempts" in message

    asyncio.run(run())


def test_bad_queries_are_not_retried() -> None:
    calls = {"n": 0}

    def refuse(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error at char 4"})

    async def run() -> None:
        async with _client(refuse) as client:
            with pytest.raises(PrometheusQueryError, match="bad_data: parse error at char 4"):
                await client.query("sum(", time=AT)

    asyncio.run(run())
    assert calls["n"] == 1


def test_range_and_series() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("query_range"):
            return httpx.Response(
                200,
                json={
                    "status": "success",
                    "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "3"]]}]},
                },
            )
        assert request.content.decode().count("match%5B%5D=") == 2
        return httpx.Response(200, json={"status": "success", "data": [{"__name__": "x", "le": "0.25"}]})

    async def run() -> None:
        async with _client(handler) as client:
            series = await client.query_range("x", start=0, end=2, step=1)
            assert series[0].points == ((1.0, 1.0), (2.0, 3.0))
            assert await client.series("x", "y", start=0, end=1) == [{"__name__": "x", "le": "0.25"}]

    asyncio.run(run())


def test_httpcore_finds_sniffio() -> None:
    """httpcore imports sniffio on every request to tell asyncio from trio: without the package each
    request is a failed import that searches sys.path (39 us a call; docs/operator.md, at scale)."""
    assert importlib.util.find_spec("sniffio") is not None
