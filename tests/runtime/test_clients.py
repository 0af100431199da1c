"""Third-party v2 clients against a real `modelops serve` on loopback: tritonclient (binary by default, and JSON)
and the kserve SDK's InferenceRESTClient (binary and JSON)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from modelops.train.dataset import Dataset
from tests.runtime.serve_process import start_server

ROWS = 5


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Dataset, list[float]]]:
    proc, base, data = start_server(tmp_path_factory.mktemp("model"))
    url = base.removeprefix("http://")
    try:
        reference = httpx.post(
            f"http://{url}/v2/models/fraud/infer", json={"inputs": data.inference_inputs(0, ROWS)}, timeout=5
        )
        assert reference.status_code == 200, reference.text
        yield url, data, reference.json()["outputs"][0]["data"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _arrays(data: Dataset) -> list[tuple[str, str, np.ndarray[Any, Any]]]:
    return [
        (t["name"], t["datatype"], np.asarray(t["data"], dtype=object if t["datatype"] == "BYTES" else np.float64))
        for t in data.inference_inputs(0, ROWS)
    ]


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient(served: tuple[str, Dataset, list[float]], binary: bool) -> None:
    import tritonclient.http as triton

    url, data, expected = served
    inputs = []
    for name, datatype, values in _arrays(data):
        infer_input = triton.InferInput(name, list(values.shape), datatype)
        infer_input.set_data_from_numpy(values, binary_data=binary)
        inputs.append(infer_input)
    client = triton.InferenceServerClient(url, network_timeout=10.0, connection_timeout=5.0)
    try:
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        if binary:  # the default path: binary inputs, and binary_data_output for every output
            result = client.infer("fraud", inputs, request_id="tc-1")
        else:
            result = client.infer("fraud", inputs, outputs=[triton.InferRequestedOutput("predict", binary_data=False)])
        assert result.as_numpy("predict").tolist() == expected
        # the request's id, else one the server assigns (label feedback names predictions by it)
        response_id = result.get_response().get("id")
        assert response_id == "tc-1" if binary else re.fullmatch(r"[0-9a-f]{12}-\d+", response_id)
        assert ("parameters" in result.get_output("predict")) is binary  # binary_data_size only on binary answers
        with pytest.raises(triton.InferenceServerException, match="appears 2 times"):
            client.infer("fraud", [*inputs, inputs[0]])
    finally:
        client.close()


@pytest.mark.parametrize("binary", [True, False])
def test_kserve_rest_client(served: tuple[str, Dataset, list[float]], binary: bool) -> None:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    url, data, expected = served
    inputs = []
    for name, datatype, values in _arrays(data):
        infer_input = InferInput(name, list(values.shape), datatype)
        infer_input.set_data_from_numpy(values, binary_data=binary)
        inputs.append(infer_input)
    parameters = {"binary_data_output": True} if binary else None
    request = InferRequest("fraud", inputs, request_id="ks-1", parameters=parameters)

    async def infer() -> Any:
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=10))
        try:
            return await client.infer(f"http://{url}", request, model_name="fraud")
        finally:
            await client._client.aclose()

    response = asyncio.run(infer())
    assert response.id == "ks-1"
    assert response.outputs[0].as_numpy().tolist() == expected
