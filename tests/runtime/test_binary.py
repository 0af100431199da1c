"""The binary tensor data extension: JSON header + raw little-endian tensors, sizes checked."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest

from modelops.models.base import FeatureSpec, Signature
from modelops.runtime.protocol import InvalidRequest, infer_response_binary, parse_infer
from modelops.train.dataset import generate
from tests.runtime.models_fixture import signature

SIG = signature()
DATA = generate(16, seed=5)
NUMPY = {"FP64": "<f8", "FP32": "<f4", "FP16": "<f2", "INT64": "<i8", "INT32": "<i4", "UINT8": "u1", "BOOL": "?"}


def pack_bytes(values: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def binary_inputs(rows: int = 3, numeric: str = "FP64") -> tuple[list[dict[str, Any]], list[bytes]]:
    """The fixture's inputs as tritonclient sends them by default: every tensor binary."""
    inputs, raws = [], []
    for tensor in DATA.inference_inputs(0, rows):
        datatype = "BYTES" if tensor["datatype"] == "BYTES" else numeric
        if datatype == "BYTES":
            raw = pack_bytes(tensor["data"])
        else:
            raw = np.asarray(tensor["data"]).astype(NUMPY[numeric]).tobytes()
        meta = {"name": tensor["name"], "shape": tensor["shape"], "datatype": datatype}
        inputs.append(meta | {"parameters": {"binary_data_size": len(raw)}})
        raws.append(raw)
    return inputs, raws


def frame(doc: dict[str, Any], raws: list[bytes]) -> tuple[bytes, bytes]:
    header = orjson.dumps(doc)
    return header + b"".join(raws), str(len(header)).encode()


def parse(doc: dict[str, Any], raws: list[bytes], sig: Signature = SIG, **kw: Any) -> Any:
    body, length = frame(doc, raws)
    return parse_infer(body, sig, header_length=length, **kw)


def refused(doc: dict[str, Any], raws: list[bytes], reason: str, fragment: str, status: int = 400, **kw: Any) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse(doc, raws, **kw)
    assert (error.value.status, error.value.reason) == (status, reason)
    assert fragment in str(error.value)


def test_binary_inputs_decode_like_json_ones() -> None:
    inputs, raws = binary_inputs()
    request = parse({"id": "b-1", "inputs": inputs}, raws)
    json_request = parse_infer(orjson.dumps({"inputs": DATA.inference_inputs(0, 3)}), SIG)
    assert request.id == "b-1"
    np.testing.assert_array_equal(request.batch.numeric, json_request.batch.numeric)
    assert request.batch.categorical["country"].tolist() == json_request.batch.categorical["country"].tolist()


@pytest.mark.parametrize("numeric", ["FP32", "FP16", "INT64", "INT32", "UINT8", "BOOL"])
def test_every_numeric_datatype_decodes(numeric: str) -> None:
    inputs, raws = binary_inputs(2, numeric)
    request = parse({"inputs": inputs}, raws)
    expected = np.asarray([t["data"] for t in DATA.inference_inputs(0, 2)[:-1]]).astype(NUMPY[numeric]).T
    np.testing.assert_array_equal(request.batch.numeric, expected.astype(np.float64))


def test_binary_and_json_inputs_mix() -> None:
    inputs, raws = binary_inputs()
    json_country = DATA.inference_inputs(0, 3)[-1]
    request = parse({"inputs": [*inputs[:-1], json_country]}, raws[:-1])
    assert request.batch.categorical["country"].tolist() == json_country["data"]


def test_sizes_must_add_up_to_the_body() -> None:
    inputs, raws = binary_inputs()
    refused({"inputs": inputs}, [*raws, b"\x00"], "bad_request", "binary_data_size values add up to")
    refused({"inputs": inputs}, [*raws[:-1], raws[-1][:-1]], "bad_request", "binary_data_size values add up to")


def test_a_tensor_size_must_match_its_shape() -> None:
    inputs, raws = binary_inputs()
    inputs[0] = {**inputs[0], "parameters": {"binary_data_size": 8 * 3 - 8}}
    raws[0] = raws[0][:-8]
    refused({"inputs": inputs}, raws, "wrong_shape", "input 'amount': shape [3] of FP64 needs 24 bytes, got 16")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (pack_bytes(["US", "GB"]), "BYTES data holds 2 elements, shape [3] needs 3"),
        (pack_bytes(["US", "GB", "DE"]) + b"\x01", "1 byte(s) after the 3 elements"),
        (struct.pack("<I", 99) + b"US", "element 0 says 99 bytes, 2 are left"),
    ],
)
def test_bytes_elements_are_framed(raw: bytes, fragment: str) -> None:
    inputs, raws = binary_inputs()
    inputs[-1] = {**inputs[-1], "parameters": {"binary_data_size": len(raw)}}
    refused({"inputs": inputs}, [*raws[:-1], raw], "wrong_shape", fragment)


def test_bytes_must_be_utf8_for_a_categorical() -> None:
    inputs, raws = binary_inputs()
    raw = pack_bytes(["US", "GB"]) + struct.pack("<I", 2) + b"\xff\xfe"
    inputs[-1] = {**inputs[-1], "parameters": {"binary_data_size": len(raw)}}
    refused({"inputs": inputs}, [*raws[:-1], raw], "wrong_type", "input 'country': element 2 is not UTF-8")


def test_non_finite_and_non_boolean_binary_values() -> None:
    inputs, raws = binary_inputs()
    raws[0] = np.array([1.0, np.nan, 2.0]).tobytes()
    refused({"inputs": inputs}, raws, "nan", "input 'amount': NaN or infinite")
    inputs, raws = binary_inputs(3, "BOOL")
    raws[0] = bytes([0, 1, 2])
    refused({"inputs": inputs}, raws, "wrong_type", "BOOL takes bytes 0 or 1; got 2")


def test_data_and_binary_for_one_input_is_refused() -> None:
    inputs, raws = binary_inputs()
    inputs[0] = {**inputs[0], "data": [1.0, 2.0, 3.0]}
    refused({"inputs": inputs}, raws, "bad_request", "input 'amount': both \"data\" and binary_data_size")


@pytest.mark.parametrize("size", [-1, 1.5, "8", True])
def test_binary_data_size_is_a_non_negative_integer(size: Any) -> None:
    inputs, raws = binary_inputs()
    inputs[0] = {**inputs[0], "parameters": {"binary_data_size": size}}
    refused({"inputs": inputs}, raws, "bad_request", "binary_data_size must be a non-negative integer")


def test_binary_data_without_the_header_is_named() -> None:
    inputs, raws = binary_inputs()
    body, _ = frame({"inputs": inputs}, raws)
    with pytest.raises(InvalidRequest) as error:
        parse_infer(body, SIG)
    assert error.value.reason == "bad_json" and "Inference-Header-Content-Length" in str(error.value)
    header = orjson.dumps({"inputs": inputs})
    with pytest.raises(InvalidRequest) as error:
        parse_infer(header, SIG)  # sizes declared, no bytes after the header
    assert "0 byte(s) follow the JSON header" in str(error.value)


@pytest.mark.parametrize(("value", "fragment"), [(b"abc", "not an integer"), (b"0", "1.."), (b"99999", "1..")])
def test_the_header_length_is_checked(value: bytes, fragment: str) -> None:
    inputs, raws = binary_inputs()
    body, _ = frame({"inputs": inputs}, raws)
    with pytest.raises(InvalidRequest) as error:
        parse_infer(body, SIG, header_length=value)
    assert error.value.reason == "bad_request" and "Inference-Header-Content-Length" in str(error.value)
    assert fragment in str(error.value)


def test_the_row_limit_holds_before_any_byte_is_read() -> None:
    inputs, raws = binary_inputs(10)
    refused({"inputs": inputs}, raws, "too_many_rows", "10 rows", status=413, max_rows=5)


def test_matrix_input_in_binary() -> None:
    sig = Signature(tuple(FeatureSpec(f"f{i}") for i in range(3)))
    raw = np.arange(6, dtype="<f4").tobytes()
    tensor = {"name": "x", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}
    request = parse({"inputs": [tensor]}, [raw], sig)
    assert request.batch.numeric.tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    ("parameters", "outputs", "binary"),
    [
        ({"binary_data_output": True}, None, True),
        ({}, None, False),
        ({"binary_data_output": True}, [{"name": "predict", "parameters": {"binary_data": False}}], False),
        ({}, [{"name": "predict", "parameters": {"binary_data": True}}], True),
        ({"binary_data_output": True}, [{"name": "predict"}], True),
    ],
)
def test_which_answers_are_binary(parameters: dict[str, Any], outputs: Any, binary: bool) -> None:
    doc: dict[str, Any] = {"inputs": DATA.inference_inputs(0, 1), "parameters": parameters}
    if outputs is not None:
        doc["outputs"] = outputs
    assert parse_infer(orjson.dumps(doc), SIG).binary_output is binary


def test_binary_response_layout() -> None:
    scores = np.array([[0.9, 0.1], [0.3, 0.7]])[:, 1]  # strided, as predict_proba()[:, 1]
    body, length = infer_response_binary("m", "v1", "r", scores, "predict")
    header = orjson.loads(body[:length])
    assert header == {
        "model_name": "m",
        "model_version": "v1",
        "id": "r",
        "outputs": [{"name": "predict", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}}],
    }
    assert np.frombuffer(body[length:], "<f8").tolist() == [0.1, 0.7]
