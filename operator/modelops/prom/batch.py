"""Send the instant queries of one analysis as one request.

A canary's analysis asks Prometheus about twenty instant queries at one evaluation time. With
100 canaries in analysis that was 540 requests per interval, and each pass held its reconcile
slot for the slowest of them (bench/fleet_rollback.py). Queries asked at the same time within a
few event-loop turns are joined into one expression,

    label_replace((q0), "modelops_part", "0", "", "") or label_replace((q1), "modelops_part", "1", "", "")

and the answer is split by that label. `or` keeps every element of both sides because the
parts' label sets differ in `modelops_part`. Errors stay each query's own: when Prometheus
refuses the joined expression, the parts are sent one by one so the bad query is named (and the
good ones still answered); when it cannot be reached, every part fails with its own query.
Only instant vectors built by us are batched: a part that answers a scalar or a string cannot be
joined, so callers send user-written PromQL through the client itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelops.prom.client import PrometheusClient, PrometheusError, PrometheusQueryError, Sample

PART = "modelops_part"
MAX_PARTS = 32  # one request's expression stays a few kilobytes; Prometheus evaluates the parts in turn
GATHER_TURNS = 4  # event-loop turns to wait for the rest of an analysis's queries before sending


def joined(exprs: list[str]) -> str:
    """One expression answering every part, each answer tagged with its index."""
    return " or ".join(f'label_replace(({e}), "{PART}", "{i}", "", "")' for i, e in enumerate(exprs))


def split(samples: list[Sample], parts: int) -> list[list[Sample]]:
    """Each part's samples, the tag removed; a sample without a known tag is dropped."""
    answers: list[list[Sample]] = [[] for _ in range(parts)]
    for s in samples:
        tag = s.labels.get(PART)
        if tag is None or not tag.isdigit() or int(tag) >= parts:
            continue
        answers[int(tag)].append(Sample({k: v for k, v in s.labels.items() if k != PART}, s.value))
    return answers


@dataclass
class _Pending:
    time: datetime | float
    exprs: list[str] = field(default_factory=list)
    futures: list[asyncio.Future[list[Sample]]] = field(default_factory=list)


class QueryBatch:
    """A client's instant queries, batched per evaluation time; everything else passes through.

    Made per analysis (it holds no state between analyses). A client that is not a
    PrometheusClient (a test's fake) is asked one query at a time, as before.
    """

    def __init__(self, client: Any, *, max_parts: int = MAX_PARTS) -> None:
        self.client = client
        self.url: str = getattr(client, "url", "")
        self.max_parts = max_parts
        self.batching = isinstance(client, PrometheusClient)
        self._pending: dict[str, _Pending] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    async def query(self, expr: str, *, time: datetime | float) -> list[Sample]:
        if not self.batching:
            result: list[Sample] = await self.client.query(expr, time=time)
            return result
        key = repr(time.timestamp() if isinstance(time, datetime) else float(time))
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(time)
            task = asyncio.ensure_future(self._flush_later(key))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        future: asyncio.Future[list[Sample]] = asyncio.get_running_loop().create_future()
        pending.exprs.append(expr)
        pending.futures.append(future)
        return await future

    async def series(self, *matchers: str, start: datetime | float, end: datetime | float) -> list[dict[str, str]]:
        result: list[dict[str, str]] = await self.client.series(*matchers, start=start, end=end)
        return result

    async def _flush_later(self, key: str) -> None:
        for _ in range(GATHER_TURNS):
            await asyncio.sleep(0)
        pending = self._pending.pop(key)
        chunks = [
            (pending.exprs[i : i + self.max_parts], pending.futures[i : i + self.max_parts])
            for i in range(0, len(pending.exprs), self.max_parts)
        ]
        await asyncio.gather(*(self._send(exprs, futures, pending.time) for exprs, futures in chunks))

    async def _send(
        self, exprs: list[str], futures: list[asyncio.Future[list[Sample]]], time: datetime | float
    ) -> None:
        if len(exprs) == 1:
            await self._one(exprs[0], futures[0], time)
            return
        try:
            answers = split(await self.client.query(joined(exprs), time=time), len(exprs))
        except PrometheusQueryError:
            await asyncio.gather(*(self._one(e, f, time) for e, f in zip(exprs, futures, strict=True)))
            return
        except PrometheusError as error:
            for e, f in zip(exprs, futures, strict=True):
                _settle(f, exception=type(error)(error.url, e, error.reason))
            return
        except Exception as error:
            for f in futures:
                _settle(f, exception=error)
            return
        except asyncio.CancelledError:
            for f in futures:
                f.cancel()
            raise
        for f, answer in zip(futures, answers, strict=True):
            _settle(f, result=answer)

    async def _one(self, expr: str, future: asyncio.Future[list[Sample]], time: datetime | float) -> None:
        try:
            _settle(future, result=await self.client.query(expr, time=time))
        except BaseException as error:
            _settle(future, exception=error)


def _settle(
    future: asyncio.Future[list[Sample]], *, result: list[Sample] | None = None, exception: BaseException | None = None
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result or [])
