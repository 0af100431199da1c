"""POST /v2/models/{name}/feedback on the ASGI app in-process: ids in answers, labels joined and counted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelops.cli.main import main
from modelops.runtime.server import InferenceApp, ServeOptions
from modelops.runtime.telemetry import Telemetry
from modelops.train.dataset import Dataset
from tests.runtime.models_fixture import write_model_dir

FEEDBACK = "/v2/models/fraud/feedback"


def _app(tmp_path: Path, **overrides: Any) -> tuple[InferenceApp, Dataset]:
    path, data = write_model_dir(tmp_path)
    options = ServeOptions(model_path=path, name="fraud", version="v1", variant="canary", **overrides)
    return InferenceApp(options), data


def _run(app: InferenceApp, test: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        await app.load()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://model") as client:
            await test(client)

    asyncio.run(main())


def _metric(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, (prefix, lines)
    return float(lines[0].rsplit(" ", 1)[1])


def test_answers_carry_ids_and_labels_for_them_are_counted_once(tmp_path: Path) -> None:
    app, data = _app(tmp_path)

    async def check(client: httpx.AsyncClient) -> None:
        assigned = (await client.post("/v2/models/fraud/infer", json={"inputs": data.inference_inputs(0, 3)})).json()
        own = await client.post(
            "/v2/models/fraud/versions/v1/infer", json={"id": "r-1", "inputs": data.inference_inputs(3, 4)}
        )
        assert own.json()["id"] == "r-1"
        scores = assigned["outputs"][0]["data"]
        labels = [{"id": f"{assigned['id']}:{i}", "label": 1} for i in range(3)]
        labels += [{"id": "r-1", "label": 0}, {"id": "r-1:0", "label": 1}, {"id": "who", "label": 1}]
        labels.append({"id": "old", "label": 1, "score": 0.9, "version": "v1", "predicted_at": "2026-12-01T00:00:00Z"})
        labels.append({"id": "v0", "label": 1, "score": 0.9, "version": "v0", "predicted_at": 1})
        answer = await client.post("/v2/models/fraud/versions/v1/feedback", json={"labels": labels})
        assert answer.status_code == 200
        assert answer.json() == {
            "accepted": 5,
            "duplicate": 1,
            "unmatched": 1,
            "wrong_version": 1,
            "results": [*["accepted"] * 4, "duplicate", "unmatched", "accepted", "wrong_version"],
        }
        again = await client.post(FEEDBACK, json={"labels": labels[:1]})
        assert again.json()["results"] == ["duplicate"]  # a retried batch does not count twice
        metrics = (await client.get("/metrics")).text
        labelled = sum(_metric(metrics, f'modelops_feedback_total{{model="fraud",outcome="{o}"') for o in ("tp", "fn"))
        assert labelled == 4  # three assigned rows and "old" are positives
        assert (
            _metric(metrics, 'modelops_feedback_total{model="fraud",outcome="tp"') == sum(p >= 0.5 for p in scores) + 1
        )
        assert _metric(metrics, 'modelops_feedback_ignored_total{model="fraud",reason="duplicate"') == 2
        assert _metric(metrics, 'modelops_feedback_requests_total{code="200"') == 2
        assert _metric(metrics, 'modelops_labelled_score_count{label="0"') == 1
        assert _metric(metrics, 'modelops_label_delay_seconds_bucket{le="86400.0"') == 4  # not the one of days ago
        assert _metric(metrics, 'modelops_requests_total{code="200"') == 2  # feedback is not inference

    _run(app, check)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{", 400, "bad_json"),
        (b'{"labels": [{"id": "a", "label": 3}]}', 400, "bad_label"),
        (b'{"labels": [{"id": "a", "label": 1, "score": 0.2}]}', 400, "bad_request"),
        (orjson.dumps({"labels": [{"id": str(i), "label": 1} for i in range(11)]}), 413, "too_many_labels"),
    ],
)
def test_malformed_feedback_is_refused_with_its_reason_and_counts_nothing(
    tmp_path: Path, body: bytes, status: int, reason: str
) -> None:
    app, data = _app(tmp_path, max_rows=10)

    async def check(client: httpx.AsyncClient) -> None:
        answer = await client.post("/v2/models/fraud/infer", json={"id": "a", "inputs": data.inference_inputs(0, 1)})
        assert answer.status_code == 200
        refused = await client.post(FEEDBACK, content=body)
        assert refused.status_code == status and refused.json()["reason"] == reason
        metrics = (await client.get("/metrics")).text
        assert _metric(metrics, f'modelops_feedback_requests_total{{code="{status}"') == 1
        assert _metric(metrics, 'modelops_labelled_score_count{label="1"') == 0
        assert _metric(metrics, 'modelops_invalid_requests_total{model="fraud",reason="bad_json"') == 0  # not inference
        ok = await client.post(FEEDBACK, json={"labels": [{"id": "a", "label": 1}]})
        assert ok.json()["accepted"] == 1  # the refused request labelled nothing

    _run(app, check)


def test_feedback_routes_and_when_it_is_off(tmp_path: Path) -> None:
    app, data = _app(tmp_path, feedback_capacity=0)

    async def check(client: httpx.AsyncClient) -> None:
        answer = await client.post("/v2/models/fraud/infer", json={"inputs": data.inference_inputs(0, 1)})
        assert "id" not in answer.json()  # no record, no assigned id
        off = await client.post(FEEDBACK, json={"labels": [{"id": "a", "label": 1}]})
        assert off.status_code == 404 and off.json()["reason"] == "feedback_off"
        assert "modelops_feedback" not in (await client.get("/metrics")).text
        other = await client.post("/v2/models/other/feedback", json={"labels": []})
        assert other.status_code == 404 and other.json()["reason"] == "unknown_model"
        version = await client.post("/v2/models/fraud/versions/v9/feedback", json={"labels": []})
        assert version.status_code == 404
        assert (await client.get(FEEDBACK)).status_code == 404

    _run(app, check)


def test_a_model_that_is_not_a_binary_classifier_refuses_labels_with_the_reason(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)

    async def check(client: httpx.AsyncClient) -> None:
        assert app.loaded is not None
        app.loaded.telemetry = Telemetry(model="fraud", version="v1", task="regression")
        refused = await client.post(FEEDBACK, json={"labels": [{"id": "a", "label": 1}]})
        assert refused.status_code == 400 and refused.json()["reason"] == "feedback_off"
        assert "binary classifiers" in refused.json()["error"] and "'regression'" in refused.json()["error"]

    _run(app, check)


@pytest.mark.parametrize(
    "flags", [["--decision-threshold", "1.5"], ["--feedback-capacity", "-1"], ["--feedback-max-bytes", "-5"]]
)
def test_serve_refuses_bad_feedback_flags(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model", "/nonexistent/model.npz", "--name", "m", "--version", "v", *flags]) == 2
    assert "--decision-threshold must be in [0, 1]" in capsys.readouterr().err
