from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.models.base import FeatureSpec, Signature
from modelops.runtime.protocol import InvalidRequest, infer_response, parse_infer
from modelops.train.dataset import generate
from tests.runtime.models_fixture import signature

SIG = signature()
DATA = generate(64, seed=3)


def body(inputs: list[dict[str, Any]], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": inputs, **extra})


def test_one_input_per_feature() -> None:
    request = parse_infer(body(DATA.inference_inputs(0, 5), id="r1"), SIG)
    assert request.id == "r1" and request.batch.rows == 5
    np.testing.assert_array_equal(request.batch.numeric, DATA.numeric[:5])
    assert request.batch.categorical["country"].tolist() == DATA.categorical["country"][:5].tolist()


def test_matrix_input_for_numeric_models() -> None:
    sig = Signature(tuple(FeatureSpec(f"f{i}") for i in range(3)))
    request = parse_infer(body([{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]), sig)
    assert request.batch.numeric.tolist() == [[1, 2, 3], [4, 5, 6]]
    nested = parse_infer(
        body([{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}]), sig
    )
    assert nested.batch.numeric.tolist() == [[1, 2, 3], [4, 5, 6]]


def _with(name: str, **changes: Any) -> list[dict[str, Any]]:
    inputs = DATA.inference_inputs(0, 2)
    return [{**t, **changes} if t["name"] == name else t for t in inputs]


@pytest.mark.parametrize(
    ("inputs", "reason", "fragment"),
    [
        (DATA.inference_inputs(0, 2)[1:], "missing_feature", "missing feature(s) ['amount']"),
        (
            [*DATA.inference_inputs(0, 2), {"name": "zzz", "shape": [2], "datatype": "FP64", "data": [1, 2]}],
            "unknown_input",
            "unknown input(s) ['zzz']",
        ),
        (_with("amount", shape=[3]), "wrong_shape", "needs 3 values, got 2"),
        (_with("amount", shape=[2, 2]), "wrong_shape", "shape must be [N] or [N, 1]"),
        (_with("age_days", shape=[1], data=[1.0]), "wrong_shape", "'age_days' has 1 rows, other inputs have 2"),
        (_with("amount", data=["a", "b"]), "wrong_type", "every value must be a number"),
        (_with("amount", data=[True, 1.0]), "wrong_type", "every value must be a number"),
        (_with("amount", datatype="BYTES"), "wrong_type", "numeric datatype"),
        (_with("country", datatype="FP64"), "wrong_type", "categorical feature needs BYTES"),
        (_with("amount", shape="2"), "wrong_shape", "shape must be a list"),
    ],
)
def test_bad_input_names_the_problem(inputs: list[dict[str, Any]], reason: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_infer(body(inputs), SIG)
    assert error.value.reason == reason and error.value.status == 400
    assert fragment in str(error.value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "bad_json"),
        (b"[]", "bad_request"),
        (b'{"inputs": []}', "bad_request"),
        (b'{"inputs": [1]}', "bad_request"),
    ],
)
def test_malformed_documents(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_infer(raw, SIG)
    assert error.value.reason == reason


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1E400", b"2.5e+308"])
def test_nan_and_infinity_literals_are_named(literal: bytes) -> None:
    raw = body(DATA.inference_inputs(0, 1)).replace(b'"data":[', b'"data":[' + literal + b",", 1)
    with pytest.raises(InvalidRequest) as error:
        parse_infer(raw, SIG)
    assert error.value.reason == "nan" and "not allowed" in str(error.value)


def test_a_string_that_looks_like_an_overflow_is_not_a_number() -> None:
    raw = body(DATA.inference_inputs(0, 1)).replace(b'"data":[', b'"data":["1e999" x', 1)
    with pytest.raises(InvalidRequest) as error:
        parse_infer(raw, SIG)
    assert error.value.reason == "bad_json"


def test_row_limit_is_413() -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_infer(body(DATA.inference_inputs(0, 10)), SIG, max_rows=5)
    assert (error.value.status, error.value.reason) == (413, "too_many_rows")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    with contextlib.suppress(InvalidRequest):
        parse_infer(raw, SIG)


@given(st.lists(st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=3), st.none()), max_size=6))
def test_arbitrary_values_are_accepted_or_refused_cleanly(values: list[Any]) -> None:
    inputs = DATA.inference_inputs(0, len(values)) if values else DATA.inference_inputs(0, 1)
    inputs[0] = {**inputs[0], "data": values, "shape": [len(values)]}
    try:
        request = parse_infer(body(inputs), SIG)
    except (InvalidRequest, orjson.JSONEncodeError):
        return
    assert all(math.isfinite(v) for v in request.batch.numeric[:, 0])


def test_response_shape() -> None:
    doc = orjson.loads(infer_response("m", "v1", "id-1", np.array([0.25, 0.5]), "predict"))
    assert doc == {
        "model_name": "m",
        "model_version": "v1",
        "id": "id-1",
        "outputs": [{"name": "predict", "shape": [2], "datatype": "FP64", "data": [0.25, 0.5]}],
    }


def test_a_strided_column_of_probabilities_is_answered() -> None:
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])  # predict_proba(); [:, 1] is a strided view
    doc = orjson.loads(infer_response("m", "v1", None, proba[:, 1], "predict"))
    assert doc["outputs"][0]["data"] == [0.1, 0.7, 0.5]


# ---- issue 17: what third-party clients found accepted that the protocol refuses ----------------------------


def _refused(raw: bytes, reason: str, fragment: str, sig: Signature = SIG) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_infer(raw, sig)
    assert (error.value.status, error.value.reason) == (400, reason)
    assert fragment in str(error.value)


def test_a_duplicate_input_name_is_refused() -> None:
    inputs = DATA.inference_inputs(0, 2)
    _refused(body([*inputs, {**inputs[0], "data": [9.0, 9.0]}]), "bad_request", "input 'amount' appears 2 times")


@pytest.mark.parametrize(
    ("datatype", "data", "fragment"),
    [
        ("UINT8", [-1, 3], "UINT8 takes integers in 0..255; got -1"),
        ("UINT8", [1, 300], "UINT8 takes integers in 0..255; got 300"),
        ("INT8", [-129, 0], "INT8 takes integers in -128..127; got -129"),
        ("INT16", [40_000, 0], "INT16 takes integers in -32768..32767; got 40000"),
        ("INT32", [2**31, 0], "INT32 takes integers in"),
        ("UINT64", [-5, 0], "UINT64 takes integers in 0..18446744073709551615; got -5"),
        ("INT64", [12.5, 1], "INT64 takes integers; got 12.5"),
        ("INT32", [1.0, 2], "INT32 takes integers; got 1.0"),
        ("FP16", [70_000.0, 1.0], "FP16 takes finite numbers within ±65504"),
        ("FP32", [1e39, 1.0], "FP32 takes finite numbers within ±3.4028235e+38"),
        ("BOOL", [1, 0], "BOOL takes true or false"),
        ("BF16", [1.0, 2.0], "datatype 'BF16' is not supported"),
        ("FP8", [1.0, 2.0], "unknown datatype 'FP8'"),
    ],
)
def test_values_must_fit_the_declared_datatype(datatype: str, data: list[Any], fragment: str) -> None:
    _refused(body(_with("amount", datatype=datatype, data=data)), "wrong_type", fragment)


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        ("UINT8", [0, 255], [0.0, 255.0]),
        ("INT8", [-128, 127], [-128.0, 127.0]),
        ("INT64", [-(2**63), 2**63 - 1], [-(2.0**63), 2.0**63]),
        ("UINT64", [0, 2**64 - 1], [0.0, 2.0**64]),
        ("FP16", [65504, -1.5], [65504.0, -1.5]),
        ("FP32", [0.25, 3], [0.25, 3.0]),
        ("BOOL", [True, False], [1.0, 0.0]),
    ],
)
def test_values_at_the_edges_of_each_datatype_are_accepted(
    datatype: str, data: list[Any], expected: list[float]
) -> None:
    request = parse_infer(body(_with("amount", datatype=datatype, data=data)), SIG)
    assert request.batch.numeric[:, 0].tolist() == expected


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"outputs": "predict"}, '"outputs" must be a list of objects with a string "name"'),
        ({"outputs": [{"name": "proba"}]}, "unknown output(s) ['proba']; the model answers ['predict']"),
        ({"outputs": [{"name": "predict"}, {"name": "predict"}]}, "output 'predict' is requested 2 times"),
        ({"outputs": [{"name": "predict", "parameters": [1]}]}, "output 'predict': \"parameters\" must be an object"),
        ({"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]}, "binary_data must be true or false"),
        ({"outputs": [{"name": "predict", "parameters": {"classification": 2}}]}, "classification is not supported"),
        ({"parameters": [1]}, 'request: "parameters" must be an object'),
        ({"parameters": {"binary_data_output": "yes"}}, "binary_data_output must be true or false"),
        ({"id": 7}, '"id" must be a string (the protocol\'s $string), got int'),
        ({"id": None}, '"id" must be a string'),
    ],
)
def test_outputs_parameters_and_id_are_checked(extra: dict[str, Any], fragment: str) -> None:
    _refused(body(DATA.inference_inputs(0, 2), **extra), "bad_request", fragment)


def test_input_parameters_must_be_an_object() -> None:
    _refused(body(_with("amount", parameters=[1])), "bad_request", "input 'amount': \"parameters\" must be an object")


def test_shared_memory_is_refused_not_ignored() -> None:
    inputs = _with("amount", parameters={"shared_memory_region": "r0", "shared_memory_byte_size": 16})
    _refused(body(inputs), "bad_request", "shared memory is not supported")


def test_a_string_id_is_echoed_and_outputs_may_be_named() -> None:
    raw = body(DATA.inference_inputs(0, 2), id="42", outputs=[{"name": "predict"}], parameters={"priority": 1})
    request = parse_infer(raw, SIG)
    assert request.id == "42" and not request.binary_output


def test_ragged_nested_data_is_a_400_not_a_crash() -> None:
    sig = Signature(tuple(FeatureSpec(f"f{i}") for i in range(3)))
    raw = body([{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5]]}])
    _refused(raw, "wrong_shape", "nested data must be a regular array", sig)


def test_a_boolean_in_the_shape_is_refused() -> None:
    _refused(body(_with("amount", shape=[True])), "wrong_shape", "shape must be a list of non-negative integers")


def test_not_json_says_how_to_send_binary() -> None:
    _refused(b'{"inputs": []}\xff\x00\x01', "bad_json", "Inference-Header-Content-Length")
