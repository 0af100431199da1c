"""QueryBatch: one request for the queries asked together, each answer and each error its own."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.prom.batch import PART, QueryBatch, joined, split
from modelops.prom.client import PrometheusClient, PrometheusQueryError, PrometheusUnreachable, Sample

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PARTS = re.compile(r'label_replace\(\((.*?)\), "' + PART + r'", "(\d+)", "", ""\)')


class FakeServer:
    """Answers `metric_N` with N (one sample labelled x=N); `bad` is refused as PromQL; `down` answers 503."""

    def __init__(self, *, down: bool = False) -> None:
        self.down, self.requests = down, list[str]()

    def handle(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.content.decode())["query"][0]
        self.requests.append(query)
        if self.down:
            return httpx.Response(503, text="down")
        parts = PARTS.findall(query) or [(query, None)]
        result: list[dict[str, Any]] = []
        for expr, tag in parts:
            if "bad" in expr:
                body = {"status": "error", "errorType": "bad_data", "error": f"parse error in {expr}"}
                return httpx.Response(400, content=json.dumps(body))
            for n in re.findall(r"metric_(\d+)", expr):
                labels = {"x": n} | ({PART: tag} if tag is not None else {})
                result.append({"metric": labels, "value": [AT.timestamp(), n]})
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})


def _client(server: FakeServer) -> PrometheusClient:
    return PrometheusClient("http://prom.test", retries=0, transport=httpx.MockTransport(server.handle))


async def _ask(batch: QueryBatch, exprs: list[str], at: datetime = AT) -> list[Any]:
    return await asyncio.gather(*(batch.query(e, time=at) for e in exprs), return_exceptions=True)


def test_queries_asked_together_go_out_as_one_request_and_come_back_apart() -> None:
    server = FakeServer()

    async def run() -> list[Any]:
        async with _client(server) as client:
            return await _ask(QueryBatch(client), [f"sum(metric_{i})" for i in range(5)] + ["sum(nothing)"])

    answers = asyncio.run(run())
    assert len(server.requests) == 1
    assert answers[:5] == [[Sample({"x": str(i)}, float(i))] for i in range(5)]
    assert answers[5] == []


def test_a_refused_query_is_named_and_the_others_are_still_answered() -> None:
    server = FakeServer()

    async def run() -> list[Any]:
        async with _client(server) as client:
            return await _ask(QueryBatch(client), ["metric_1", "bad(", "metric_2"])

    one, bad, two = asyncio.run(run())
    assert one == [Sample({"x": "1"}, 1.0)] and two == [Sample({"x": "2"}, 2.0)]
    assert isinstance(bad, PrometheusQueryError) and bad.query == "bad("
    assert len(server.requests) == 4  # the joined one, then each part


def test_when_prometheus_cannot_be_reached_every_part_fails_with_its_own_query() -> None:
    server = FakeServer(down=True)

    async def run() -> list[Any]:
        async with _client(server) as client:
            return await _ask(QueryBatch(client), ["metric_1", "metric_2"])

    errors = asyncio.run(run())
    assert [type(e) for e in errors] == [PrometheusUnreachable, PrometheusUnreachable]
    assert [e.query for e in errors] == ["metric_1", "metric_2"]


def test_requests_hold_at_most_max_parts_and_times_are_never_mixed() -> None:
    server = FakeServer()
    later = datetime(2026, 12, 6, 12, 1, tzinfo=UTC)

    async def run() -> list[Any]:
        async with _client(server) as client:
            batch = QueryBatch(client, max_parts=4)
            first, second = await asyncio.gather(
                _ask(batch, [f"metric_{i}" for i in range(10)]), _ask(batch, ["metric_7"], at=later)
            )
            return [*first, *second]

    answers = asyncio.run(run())
    assert answers == [[Sample({"x": str(i)}, float(i))] for i in range(10)] + [[Sample({"x": "7"}, 7.0)]]
    assert sorted(len(PARTS.findall(q)) for q in server.requests) == [0, 2, 4, 4]


def test_a_client_that_is_not_prometheus_is_asked_one_query_at_a_time() -> None:
    class Fake:
        asked: list[str] = []

        async def query(self, expr: str, *, time: datetime) -> list[Sample]:
            self.asked.append(expr)
            return [Sample({}, 1.0)]

    fake = Fake()
    answers = asyncio.run(_ask(QueryBatch(fake), ["a", "b"]))
    assert fake.asked == ["a", "b"] and answers == [[Sample({}, 1.0)]] * 2


@given(st.lists(st.lists(st.integers(0, 5), max_size=3), min_size=1, max_size=40))
def test_split_returns_each_part_its_own_samples_untagged(parts: list[list[int]]) -> None:
    tagged = [Sample({"x": str(v), PART: str(i)}, float(v)) for i, values in enumerate(parts) for v in values]
    tagged.append(Sample({"x": "stray"}, 0.0))  # a sample without a tag belongs to no part
    assert split(tagged, len(parts)) == [[Sample({"x": str(v)}, float(v)) for v in values] for values in parts]


def test_joined_keeps_each_expression_whole() -> None:
    exprs = ['sum(a{x="1"}) - sum(b)', "sum(c) + (sum(d) or vector(0))"]
    assert [e for e, _ in PARTS.findall(joined(exprs))] == exprs


@pytest.mark.parametrize("n", [1, 2])
def test_a_lone_query_goes_out_as_written(n: int) -> None:
    server = FakeServer()

    async def run() -> None:
        async with _client(server) as client:
            batch = QueryBatch(client)
            for i in range(n):
                await batch.query(f"metric_{i}", time=AT)

    asyncio.run(run())
    assert server.requests == [f"metric_{i}" for i in range(n)]
