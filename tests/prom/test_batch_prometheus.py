"""Batched and one-by-one analyses agree on a real Prometheus, with far fewer requests.

Thirty minutes of a stable and a canary version (requests by code, latency, prediction scores,
refusals) are backfilled into Debian's Prometheus; the canary analysis with every check and the
stable SLOs are read through a QueryBatch and through a client that is asked one query at a time.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelops.analysis.checks import Analysis
from modelops.api.v1alpha1.modeldeployment import AnalysisSpec
from modelops.prom.canary import Variant, analyze
from modelops.prom.client import PrometheusClient, Sample
from modelops.prom.sli import forget_edges, stable_slos
from modelops_devcluster.prometheus import PrometheusServer

pytestmark = pytest.mark.integration
MINUTES = 30
LATENCY = ("0.05", "0.1", "0.25", "0.5", "+Inf")
SCORES = ("0.2", "0.4", "0.6", "0.8", "+Inf")
SPEC = AnalysisSpec.model_validate(
    {
        "metrics": [
            {
                "name": "p-errors",
                "query": 'sum(rate(modelops_requests_total{version="{{version}}",code="500"}[{{interval}}]))',
                "thresholdRange": {"max": 1},
            }
        ]
    }
)


def _series(version: str, errors: float) -> dict[str, list[float]]:
    """Cumulative per-minute values, keyed by metric name and extra labels."""
    rate, out = 600.0, {}
    shares = {"0.05": 0.5, "0.1": 0.8, "0.25": 0.995, "0.5": 0.999, "+Inf": 1.0}
    score_shares = {"0.2": 0.2, "0.4": 0.45, "0.6": 0.7, "0.8": 0.9, "+Inf": 1.0}
    per_minute: dict[str, float] = {
        'modelops_requests_total{code="200"': rate * (1 - errors),
        'modelops_requests_total{code="500"': rate * errors,
        'modelops_invalid_requests_total{reason="bad_shape"': rate * 0.001,
        "modelops_request_duration_seconds_sum{": rate * 0.04,
        "modelops_request_duration_seconds_count{": rate,
        **{f'modelops_request_duration_seconds_bucket{{le="{le}"': rate * s for le, s in shares.items()},
        **{f'modelops_prediction_bucket{{le="{le}"': rate * s for le, s in score_shares.items()},
    }
    for name, per in per_minute.items():
        sep = "" if name.endswith("{") else ","
        key = f'{name}{sep}namespace="ml",model="fraud",variant="x",version="{version}"}}'
        out[key] = [per * i for i in range(MINUTES + 1)]
    return out


def _backfill(start: int, workdir: Path) -> Path:
    lines = [
        "# TYPE modelops_requests counter",
        "# TYPE modelops_invalid_requests counter",
        "# TYPE modelops_request_duration_seconds histogram",
        "# TYPE modelops_prediction histogram",
    ]
    for version, errors in (("v1", 0.001), ("v2", 0.05)):
        for key, values in _series(version, errors).items():
            lines += [f"{key} {v} {start + i * 60}" for i, v in enumerate(values)]
    source = workdir / "series.om"
    source.write_text("\n".join(lines[:4] + sorted(lines[4:], key=_metric_order) + ["# EOF"]) + "\n")
    blocks = workdir / "blocks"
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(blocks)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return blocks


def _metric_order(line: str) -> str:
    """OpenMetrics wants a metric family's samples together (a stable sort keeps each series' times in order)."""
    name = line.split("{", maxsplit=1)[0]
    return name.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")


class OneByOne:
    """A client a QueryBatch does not recognise: asked one query at a time, as before batching."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client, self.url = client, client.url

    async def query(self, expr: str, *, time: datetime | float) -> list[Sample]:
        return await self.client.query(expr, time=time)

    async def series(self, *matchers: str, start: datetime | float, end: datetime | float) -> list[dict[str, str]]:
        return await self.client.series(*matchers, start=start, end=end)


def _verdicts(a: Analysis) -> list[tuple[Any, ...]]:
    return [(c.name, c.verdict, c.value, c.threshold, c.samples, c.query, c.reason) for c in a.checks]


async def _compare(url: str, at: datetime, started: datetime) -> dict[str, Any]:
    labels = {"namespace": "ml", "model": "fraud", "version": "v1"}
    args: dict[str, Any] = {
        "canary": Variant("ml", "fraud", "v2"),
        "stable": Variant("ml", "fraud", "v1"),
        "interval": timedelta(minutes=5),
        "min_requests": 100,
        "at": at,
        "started": started,
    }
    async with PrometheusClient(url, retries=1) as client:
        slow = await analyze(OneByOne(client), SPEC, **args)  # type: ignore[arg-type]
        one_by_one = client.queries
        slow_slos = await stable_slos(OneByOne(client), SPEC.slo, labels, at=at)  # type: ignore[arg-type]
        forget_edges()
        client.queries = 0
        fast = await analyze(client, SPEC, **args)
        first = client.queries
        client.queries = 0
        again = await analyze(client, SPEC, **args)
        second = client.queries
        client.queries = 0
        fast_slos = await stable_slos(client, SPEC.slo, labels, at=at)
        slo_requests = client.queries
    return {
        "slow": slow,
        "fast": fast,
        "again": again,
        "requests": (one_by_one, first, second, slo_requests),
        "slos": (slow_slos, fast_slos),
    }


def test_batched_analysis_equals_one_by_one_with_a_few_requests(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.fail("promtool missing: apt-get install prometheus")
    start = (int(time.time()) // 3600 - 3) * 3600
    blocks = _backfill(start, tmp_path)
    at = datetime.fromtimestamp(start + (MINUTES - 1) * 60, UTC)
    with PrometheusServer(
        {"global": {"scrape_interval": "1m"}}, blocks=blocks, extra_args=["--storage.tsdb.retention.time=30d"]
    ) as prom:
        found = asyncio.run(_compare(prom.url, at, at - timedelta(minutes=20)))

    slow, fast, again = found["slow"], found["fast"], found["again"]
    assert _verdicts(fast) == _verdicts(slow) == _verdicts(again)
    assert fast.verdict == slow.verdict
    by_name = {c.name: c for c in fast.checks}
    assert by_name["availability"].verdict.value == "Fail"  # 5% errors: the data reached every check
    assert by_name["errors-vs-stable"].verdict.value == "Fail"
    assert all(c.samples for c in fast.checks if c.name != "p-errors"), _verdicts(fast)
    one_by_one, first, second, slo_requests = found["requests"]
    print(f"requests: one by one {one_by_one}, batched {first} then {second}, stable SLOs {slo_requests}")
    assert one_by_one >= 20
    assert first <= 5 and second <= 3, found["requests"]  # the bucket edges are remembered after the first
    slow_slos, fast_slos = found["slos"]
    assert fast_slos == slow_slos and fast_slos.blind is None
    assert slo_requests <= 3, found["requests"]  # the bucket lookup, then availability, then latency
