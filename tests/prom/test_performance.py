"""Reading a version's label telemetry for the RetrainPolicy performance trigger, from a fake Prometheus."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from modelops.prom.client import PrometheusClient
from modelops.prom.performance import read
from modelops.retrain.performance import PerformanceReading

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LABELS = {"namespace": "ml", "model": "fraud", "version": "v1"}


def _vector(samples: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [AT.timestamp(), repr(value)]} for labels, value in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _read(metric: str, samples: list[tuple[dict[str, str], float]]) -> tuple[PerformanceReading, list[str]]:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(parse_qs(request.content.decode())["query"][0])
        return httpx.Response(200, json=_vector(samples))

    async def run() -> PerformanceReading:
        transport = httpx.MockTransport(handler)
        async with PrometheusClient("http://prom.test:9090", transport=transport, retries=0) as client:
            return await read(client, metric, LABELS, timedelta(minutes=10), version="v1", at=AT)  # type: ignore[arg-type]

    return asyncio.run(run()), asked


def test_accuracy_reads_the_outcomes_of_the_version_over_the_window() -> None:
    outcomes = [({"outcome": "tp"}, 40.0), ({"outcome": "tn"}, 500.2), ({"outcome": "fn"}, 60.0)]
    reading, asked = _read("accuracy", outcomes)
    assert reading.confusion is not None and reading.confusion.labelled == 600 and reading.confusion.fp == 0
    (query,) = asked
    assert (
        query == reading.query and 'version="v1"' in query and "[10m]" in query and "modelops_feedback_total" in query
    )


def test_no_series_is_no_confusion() -> None:
    reading, _ = _read("recall", [])
    assert reading.confusion is None and reading.scores is None and reading.problem is None


def test_auc_reads_label_split_buckets() -> None:
    buckets = [
        ({"label": "0", "le": "0.5"}, 80.0),
        ({"label": "0", "le": "+Inf"}, 100.0),
        ({"label": "1", "le": "0.5"}, 5.0),
        ({"label": "1", "le": "+Inf"}, 20.0),
    ]
    reading, asked = _read("auc", buckets)
    assert reading.scores is not None and reading.problem is None
    assert reading.scores.negatives == (80.0, 20.0) and reading.scores.positives == (5.0, 15.0)
    assert "modelops_labelled_score_bucket" in asked[0]


def test_auc_of_one_class_only_counts_the_other_as_zero() -> None:
    reading, _ = _read("auc", [({"label": "0", "le": "0.5"}, 3.0), ({"label": "0", "le": "+Inf"}, 4.0)])
    assert reading.scores is not None and reading.scores.n_positive == pytest.approx(0.0)


def test_auc_without_series_is_no_data_not_a_problem() -> None:
    reading, _ = _read("auc", [])
    assert reading.scores is None and reading.problem is None
