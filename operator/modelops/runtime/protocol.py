"""Open Inference Protocol (KServe v2) requests -> validated batches, and responses.

Two request shapes are accepted for tabular models:

- one input per feature, named after it, shape ``[N]`` or ``[N, 1]``: numeric features
  as FP16/FP32/FP64/INT*/UINT*, categorical ones as BYTES;
- a single input of shape ``[N, F]`` holding every feature in signature order (numeric
  models only).

Every refusal is an `InvalidRequest` with a reason from a fixed set (it becomes the
`reason` label of ``modelops_invalid_requests_total``) and a message naming the input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from modelops.errors import ModelopsError
from modelops.models.base import Batch, Signature

NUMERIC_TYPES = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
DEFAULT_MAX_ROWS = 10_000
_JSON_NUMBERS = frozenset({int, float})
_NAN_LITERAL = re.compile(rb"[\[,:]\s*-?(NaN|Infinity)\s*[\],}]")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


class InvalidRequest(ModelopsError, ValueError):
    """A request the server refuses; `status` is the HTTP code, `reason` a fixed label value."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass
class InferRequest:
    id: str | None
    batch: Batch


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidRequest("wrong_shape", f"input {name!r}: shape must be a list of non-negative integers")
    return shape


def _flat(tensor: dict[str, Any], name: str, shape: list[int]) -> list[Any]:
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidRequest("wrong_type", f"input {name!r}: data must be a list")
    if data and isinstance(data[0], list):  # nested (row-major) form
        data = np.asarray(data, dtype=object).reshape(-1).tolist()
    if len(data) != math.prod(shape):
        raise InvalidRequest(
            "wrong_shape", f"input {name!r}: shape {shape} needs {math.prod(shape)} values, got {len(data)}"
        )
    return data


def _numeric(data: list[Any], name: str, datatype: str) -> npt.NDArray[np.float64]:
    if datatype not in NUMERIC_TYPES:
        raise InvalidRequest(
            "wrong_type", f"input {name!r}: numeric feature needs a numeric datatype, got {datatype!r}"
        )
    if not set(map(type, data)) <= _JSON_NUMBERS:  # bool, str, None, lists; 10x faster than isinstance per value
        raise InvalidRequest("wrong_type", f"input {name!r}: every value must be a number")
    try:
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidRequest("wrong_type", f"input {name!r}: every value must be a number") from error
    if not np.all(np.isfinite(values)):
        raise InvalidRequest("nan", f"input {name!r}: NaN or infinite values are not allowed")
    return values


def _overflowing_number(body: bytes, position: int) -> str | None:
    """The JSON number where decoding stopped (1e999) if it overflows a double, else None."""
    found = _NUMBER.match(body.decode("utf-8", "replace"), position)
    return found.group() if found is not None and math.isinf(float(found.group())) else None


def parse_infer(body: bytes, signature: Signature, *, max_rows: int = DEFAULT_MAX_ROWS) -> InferRequest:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if _NAN_LITERAL.search(body):  # Python's json.dumps writes these; JSON has no such numbers
            raise InvalidRequest("nan", "NaN and Infinity are not allowed: send finite numbers") from error
        overflow = _overflowing_number(body, error.pos)
        if overflow is not None:  # valid JSON, but no finite double: the same refusal as Infinity
            raise InvalidRequest(
                "nan", f"{overflow} is infinite as a double; not allowed: send finite numbers"
            ) from error
        raise InvalidRequest("bad_json", f"request body is not JSON: {error}") from error
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise InvalidRequest("bad_request", 'request must be a JSON object with a non-empty "inputs" list')
    inputs = doc["inputs"]
    if not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in inputs):
        raise InvalidRequest("bad_request", 'every input must be an object with a "name"')
    request_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    features = signature.features
    if len(inputs) == 1 and len(features) > 1 and inputs[0]["name"] not in signature.names():
        return InferRequest(request_id, _matrix_input(inputs[0], signature, max_rows))
    by_name = {t["name"]: t for t in inputs}
    unknown = sorted(set(by_name) - {f.name for f in features})
    if unknown:
        raise InvalidRequest("unknown_input", f"unknown input(s) {unknown}; the model takes {signature.names()}")
    missing = [f.name for f in features if f.name not in by_name]
    if missing:
        raise InvalidRequest("missing_feature", f"missing feature(s) {missing}; the model takes {signature.names()}")
    rows: int | None = None
    numeric: list[npt.NDArray[np.float64]] = []
    categorical: dict[str, npt.NDArray[np.str_]] = {}
    for feature in features:
        tensor = by_name[feature.name]
        shape = _shape(tensor, feature.name)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidRequest("wrong_shape", f"input {feature.name!r}: shape must be [N] or [N, 1], got {shape}")
        if rows is None:
            rows = shape[0]
            if rows > max_rows:
                raise InvalidRequest("too_many_rows", f"{rows} rows in one request; the limit is {max_rows}", 413)
        elif shape[0] != rows:
            raise InvalidRequest("wrong_shape", f"input {feature.name!r} has {shape[0]} rows, other inputs have {rows}")
        data = _flat(tensor, feature.name, shape)
        datatype = str(tensor.get("datatype", ""))
        if feature.type == "numeric":
            numeric.append(_numeric(data, feature.name, datatype))
        else:
            if datatype != "BYTES" or not all(isinstance(v, str) for v in data):
                raise InvalidRequest("wrong_type", f"input {feature.name!r}: categorical feature needs BYTES strings")
            categorical[feature.name] = np.asarray(data, dtype=np.str_)
    count = rows or 0
    matrix = np.column_stack(numeric) if numeric else np.zeros((count, 0))
    return InferRequest(request_id, Batch(matrix.reshape(count, len(numeric)), categorical))


def _matrix_input(tensor: dict[str, Any], signature: Signature, max_rows: int) -> Batch:
    name = tensor["name"]
    if signature.categorical:
        raise InvalidRequest(
            "wrong_shape",
            f"this model has categorical features {[f.name for f in signature.categorical]}: "
            f"send one input per feature ({signature.names()})",
        )
    shape = _shape(tensor, name)
    width = len(signature.features)
    if len(shape) != 2 or shape[1] != width:
        raise InvalidRequest(
            "wrong_shape", f"input {name!r}: expected shape [N, {width}] (features {signature.names()}), got {shape}"
        )
    if shape[0] > max_rows:
        raise InvalidRequest("too_many_rows", f"{shape[0]} rows in one request; the limit is {max_rows}", 413)
    values = _numeric(_flat(tensor, name, shape), name, str(tensor.get("datatype", "")))
    return Batch(values.reshape(shape[0], width))


def infer_response(
    model: str, version: str, request_id: str | None, scores: npt.NDArray[np.float64], output: str
) -> bytes:
    doc: dict[str, Any] = {
        "model_name": model,
        "model_version": version,
        # a column of predict_proba() is a strided view; orjson serialises only C-contiguous arrays
        "outputs": [
            {
                "name": output,
                "shape": [int(scores.shape[0])],
                "datatype": "FP64",
                "data": np.ascontiguousarray(scores, dtype=np.float64),
            }
        ],
    }
    if request_id is not None:
        doc["id"] = request_id
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def error_body(message: str, reason: str | None = None) -> bytes:
    """OIP error shape ({"error": ...}) plus a machine-readable reason."""
    return orjson.dumps({"error": message, **({"reason": reason} if reason else {})})
