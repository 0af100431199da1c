"""Property: whatever the body (JSON or binary framing), the server answers 4xx with a JSON reason, never 5xx."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelops.runtime.server import InferenceApp, ServeOptions
from modelops.train.dataset import generate
from tests.runtime.models_fixture import write_model_dir

NAMES = ["amount", "age_days", "country", "x", ""]
DATATYPES = ["FP64", "FP32", "FP16", "INT64", "INT8", "UINT8", "UINT64", "BOOL", "BYTES", "BF16", "??"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=4),
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


BASE = generate(2, seed=11).inference_inputs()
NUMPY = {"FP64": "<f8", "FP32": "<f4", "FP16": "<f2", "INT64": "<i8", "INT8": "i1", "UINT8": "u1", "BOOL": "u1"}


@st.composite
def tensors(draw: st.DrawFn, tensor: dict[str, Any], framing: str) -> tuple[dict[str, Any], bytes]:
    """A valid tensor, maybe sent binary, maybe with one field replaced by something else."""
    tensor, raw = dict(tensor), b""
    if framing == "binary" or (framing == "mixed" and draw(st.booleans())):  # as tritonclient sends it
        datatype = draw(st.sampled_from([*NUMPY, "BYTES"])) if tensor["datatype"] != "BYTES" else "BYTES"
        values = tensor.pop("data")
        raw = (
            _pack([str(v) for v in values])
            if datatype == "BYTES"
            else np.asarray(values).astype(NUMPY[datatype]).tobytes()
        )
        tensor |= {"datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
    if draw(st.integers(0, 5)) == 0:
        field = draw(st.sampled_from(["name", "shape", "datatype", "data", "parameters"]))
        tensor[field] = draw(
            st.sampled_from(NAMES)
            if field == "name"
            else st.sampled_from(DATATYPES)
            if field == "datatype"
            else st.lists(st.integers(-1, 4), max_size=3)
            if field == "shape"
            else st.fixed_dictionaries({"binary_data_size": st.integers(-2, 40) | JSONISH})
            if field == "parameters"
            else st.lists(SCALARS | st.lists(SCALARS, max_size=3), max_size=6) | JSONISH
        )
    if raw and draw(st.integers(0, 5)) == 0:
        raw = draw(st.sampled_from([raw[:-1], raw + b"\x00", raw[::-1], b""]) | st.binary(max_size=24))
    return tensor, raw


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    order = list(draw(st.permutations(range(len(BASE)))))
    change = draw(st.integers(0, 7))
    if change == 6:  # a feature missing
        order.pop()
    elif change == 7:  # a tensor twice
        order.append(order[0])
    framing = draw(st.sampled_from(["json", "binary", "mixed"]))
    pairs = [draw(tensors(BASE[i], framing)) for i in order]
    doc: dict[str, Any] = {"inputs": [t for t, _ in pairs]}
    valid = {
        "id": "r-1",
        "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
        "parameters": {"binary_data_output": True},
    }
    for key, value in valid.items():
        if draw(st.integers(0, 3)) == 3:
            doc[key] = draw(st.just(value) | JSONISH)
    header = orjson.dumps(doc)
    tail = b"".join(raw for _, raw in pairs)
    headers = [(b"content-type", b"application/octet-stream")]
    if tail or draw(st.booleans()):
        declared = str(len(header))
        if draw(st.integers(0, 5)) == 5:
            declared = draw(st.sampled_from([str(len(header) + 1), "0", "-3", "x", "99999"]))
        headers.append((b"inference-header-content-length", declared.encode()))
    body = header + tail if draw(st.integers(0, 9)) < 9 else draw(st.binary(max_size=64))
    return body, headers


def _pack(values: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


async def _call(app: InferenceApp, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "POST", "path": "/v2/models/fraud/infer", "headers": headers}
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent[0]["status"], sent[1]["body"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> InferenceApp:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    path, _ = write_model_dir(directory)
    options = ServeOptions(model_path=path, name="fraud", version="v1", baseline_path=directory / "baseline.json")
    app = InferenceApp(options)
    asyncio.run(app.load())
    return app


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests())
def test_malformed_bodies_never_answer_5xx(app: InferenceApp, request: tuple[bytes, list[tuple[bytes, bytes]]]) -> None:
    body, headers = request
    status, answer = asyncio.run(_call(app, body, headers))
    assert status < 500, answer
    if status != 200:
        doc = orjson.loads(answer)
        assert isinstance(doc["error"], str) and doc["error"] and isinstance(doc["reason"], str)
