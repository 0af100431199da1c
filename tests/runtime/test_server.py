"""The ASGI app in-process: routes, readiness, errors, faults, telemetry."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelops.runtime.server import InferenceApp, ServeOptions, find_model
from modelops.train.dataset import Dataset
from tests.runtime.models_fixture import write_model_dir


def _options(tmp_path: Path, **overrides: Any) -> tuple[ServeOptions, Dataset]:
    path, data = write_model_dir(tmp_path)
    options = ServeOptions(
        model_path=path,
        name="fraud",
        version="v1",
        variant="canary",
        baseline_path=tmp_path / "baseline.json",
        **overrides,
    )
    return options, data


def _run(app: InferenceApp, test: Callable[[httpx.AsyncClient], Awaitable[None]], load: bool = True) -> None:
    async def main() -> None:
        if load:
            await app.load()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://model") as client:
            await test(client)

    asyncio.run(main())


def test_infer_metadata_health_and_metrics(tmp_path: Path) -> None:
    options, data = _options(tmp_path, uri="file:///m/model.npz")
    app = InferenceApp(options)

    async def check(client: httpx.AsyncClient) -> None:
        assert (await client.get("/v2/health/live")).json() == {"live": True}
        assert (await client.get("/v2/health/ready")).status_code == 200
        meta = (await client.get("/v2/models/fraud")).json()
        assert meta["versions"] == ["v1"] and meta["inputs"][-1]["datatype"] == "BYTES"
        response = await client.post("/v2/models/fraud/versions/v1/infer", json={"inputs": data.inference_inputs(0, 4)})
        assert response.status_code == 200
        out = response.json()["outputs"][0]
        assert out["shape"] == [4] and all(0 < p < 1 for p in out["data"])
        metrics = (await client.get("/metrics")).text
        assert 'modelops_requests_total{code="200",model="fraud",variant="canary",version="v1"} 1.0' in metrics
        assert (
            'modelops_feature_value_bucket{feature="amount",le="+Inf",model="fraud",variant="canary",version="v1"} 4.0'
            in metrics
        )
        assert 'modelops_prediction_bucket{le="+Inf",model="fraud",variant="canary",version="v1"} 4.0' in metrics
        assert 'uri="file:///m/model.npz"' in metrics

    _run(app, check)


def test_not_ready_until_loaded_and_load_failures_are_reported(tmp_path: Path) -> None:
    options, _data = _options(tmp_path, sha256="0" * 64)
    app = InferenceApp(options)

    async def before(client: httpx.AsyncClient) -> None:
        ready = await client.get("/v2/health/ready")
        assert ready.status_code == 400 and ready.json()["error"] == "loading"
        assert (await client.post("/v2/models/fraud/infer", json={"inputs": []})).status_code == 503
        await app.load()
        failed = await client.get("/v2/health/ready")
        assert (
            failed.status_code == 400 and "sha256 is" in failed.json()["error"] and "refusing" in failed.json()["error"]
        )
        assert (await client.get("/v2/health/live")).status_code == 200  # alive, so the reason stays visible

    _run(app, before, load=False)


def test_correct_checksum_loads(tmp_path: Path) -> None:
    options, _ = _options(tmp_path)
    options.sha256 = hashlib.sha256(options.model_path.read_bytes()).hexdigest()
    app = InferenceApp(options)

    async def check(client: httpx.AsyncClient) -> None:
        assert (await client.get("/v2/health/ready")).status_code == 200

    _run(app, check)


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/v2/models/other/infer", b"{}", 404, "unknown_model"),
        ("/v2/models/fraud/versions/v9/infer", b"{}", 404, "unknown_model"),
        ("/v2/models/fraud/infer", b"{not json", 400, "bad_json"),
        ("/v2/models/fraud/infer", b"x" * 2048, 413, "body_too_large"),
    ],
)
def test_errors_are_json_with_a_reason(tmp_path: Path, path: str, body: bytes, status: int, reason: str) -> None:
    options, _ = _options(tmp_path, max_body_bytes=1024)
    app = InferenceApp(options)

    async def check(client: httpx.AsyncClient) -> None:
        response = await client.post(path, content=body)
        assert response.status_code == status
        assert response.json()["reason"] == reason and response.json()["error"]
        metrics = (await client.get("/metrics")).text
        assert f'reason="{reason}"' in metrics

    _run(app, check)


@pytest.mark.parametrize(("allowed", "expected"), [(False, 200), (True, 500)])
def test_fault_injection_only_when_allowed(tmp_path: Path, allowed: bool, expected: int) -> None:
    options, data = _options(tmp_path, allow_fault_injection=allowed)
    app = InferenceApp(options)

    async def check(client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v2/models/fraud/infer",
            json={"inputs": data.inference_inputs(0, 1)},
            headers={"x-modelops-fault": "error,latency=0.01"},
        )
        assert response.status_code == expected
        assert f'code="{expected}"' in (await client.get("/metrics")).text

    _run(app, check)


def test_model_bug_answers_500_and_keeps_serving(tmp_path: Path) -> None:
    options, data = _options(tmp_path)
    app = InferenceApp(options)

    async def check(client: httpx.AsyncClient) -> None:
        assert app.loaded is not None
        real = app.loaded.model.predict
        app.loaded.model.predict = lambda batch: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
        bad = await client.post("/v2/models/fraud/infer", json={"inputs": data.inference_inputs(0, 1)})
        assert bad.status_code == 500 and "RuntimeError: boom" in bad.json()["error"]
        app.loaded.model.predict = real  # type: ignore[method-assign]
        good = await client.post("/v2/models/fraud/infer", json={"inputs": data.inference_inputs(0, 1)})
        assert good.status_code == 200

    _run(app, check)


def test_find_model_wants_exactly_one_artifact(tmp_path: Path) -> None:
    write_model_dir(tmp_path)
    assert find_model(tmp_path).name == "model.npz"
    (tmp_path / "other.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="exactly one model file"):
        find_model(tmp_path)


def test_telemetry_off(tmp_path: Path) -> None:
    options, data = _options(tmp_path, telemetry=False)
    app = InferenceApp(options)

    async def check(client: httpx.AsyncClient) -> None:
        ok = await client.post("/v2/models/fraud/infer", content=orjson.dumps({"inputs": data.inference_inputs(0, 2)}))
        assert ok.status_code == 200
        assert (await client.get("/metrics")).status_code == 404

    _run(app, check)


def test_server_metadata_advertises_binary_tensor_data(tmp_path: Path) -> None:
    options, _ = _options(tmp_path)

    async def check(client: httpx.AsyncClient) -> None:
        assert (await client.get("/v2")).json()["extensions"] == ["binary_tensor_data"]

    _run(InferenceApp(options), check)


def test_binary_request_and_answer_as_tritonclient_frames_them(tmp_path: Path) -> None:
    import numpy as np
    import tritonclient.http as triton

    options, data = _options(tmp_path)
    tensors = data.inference_inputs(0, 3)
    inputs = []
    for tensor in tensors:
        infer_input = triton.InferInput(tensor["name"], tensor["shape"], tensor["datatype"])
        infer_input.set_data_from_numpy(
            np.asarray(tensor["data"], dtype=object if tensor["datatype"] == "BYTES" else None)
        )
        inputs.append(infer_input)
    request_body, json_size = triton.InferenceServerClient.generate_request_body(inputs, request_id="t-1")

    async def check(client: httpx.AsyncClient) -> None:
        json_answer = await client.post("/v2/models/fraud/infer", json={"inputs": tensors})
        response = await client.post(
            "/v2/models/fraud/infer",
            content=request_body,
            headers={"Inference-Header-Content-Length": str(json_size), "content-type": "application/octet-stream"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        length = int(response.headers["inference-header-content-length"])
        result = triton.InferResult.from_response_body(response.content, header_length=length)
        assert result.get_response()["id"] == "t-1"
        assert result.as_numpy("predict").tolist() == json_answer.json()["outputs"][0]["data"]
        metrics = (await client.get("/metrics")).text
        assert 'modelops_requests_total{code="200",model="fraud",variant="canary",version="v1"} 2.0' in metrics

    _run(InferenceApp(options), check)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"id": 7}, '"id" must be a string'),
        ({"outputs": [{"name": "nope"}]}, "unknown output(s) ['nope']"),
        ({"content-encoding": "gzip"}, "Content-Encoding 'gzip' is not supported"),
    ],
)
def test_protocol_refusals_are_json_400s(tmp_path: Path, extra: dict[str, Any], fragment: str) -> None:
    options, data = _options(tmp_path)
    headers = {k: extra.pop(k) for k in list(extra) if k == "content-encoding"}

    async def check(client: httpx.AsyncClient) -> None:
        body = orjson.dumps({"inputs": data.inference_inputs(0, 1), **extra})
        response = await client.post("/v2/models/fraud/infer", content=body, headers=headers)
        assert response.status_code == 400 and response.json()["reason"] == "bad_request"
        assert fragment in response.json()["error"]

    _run(InferenceApp(options), check)
