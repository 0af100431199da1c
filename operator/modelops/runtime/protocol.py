"""Open Inference Protocol (KServe v2) requests -> validated batches, and responses.

Two request shapes are accepted for tabular models:

- one input per feature, named after it, shape ``[N]`` or ``[N, 1]``: numeric features
  as FP16/FP32/FP64/INT*/UINT*/BOOL, categorical ones as BYTES;
- a single input of shape ``[N, F]`` holding every feature in signature order (numeric
  models only).

Tensors come as JSON ``data`` or, with the binary tensor data extension (`binary`), as raw
bytes after the JSON header; answers are JSON unless the request asks for binary outputs.
Every refusal is an `InvalidRequest` with a reason from a fixed set (it becomes the
`reason` label of ``modelops_invalid_requests_total``) and a message naming the input:
anything the server would otherwise ignore or guess at (a second tensor of the same name,
a value its datatype cannot hold, an output it does not have) is refused, not guessed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from modelops.models.base import Batch, Signature
from modelops.runtime import binary, datatypes
from modelops.runtime.refusal import InvalidRequest

__all__ = [
    "DEFAULT_MAX_ROWS",
    "InferRequest",
    "InvalidRequest",
    "check_content_encoding",
    "error_body",
    "infer_response",
    "infer_response_binary",
    "parse_infer",
]

DEFAULT_MAX_ROWS = 10_000
_NAN_LITERAL = re.compile(rb"[\[,:]\s*-?(NaN|Infinity)\s*[\],}]")
_SHARED_MEMORY = "shared_memory_region"
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


@dataclass
class InferRequest:
    id: str | None
    batch: Batch
    binary_output: bool = False  # answer with the binary tensor data extension


@dataclass
class _Tensor:
    """One request input: its JSON object and, when sent binary, its bytes."""

    doc: dict[str, Any]
    raw: memoryview | None

    @property
    def name(self) -> str:
        name: str = self.doc["name"]
        return name


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidRequest("wrong_shape", f"input {name!r}: shape must be a list of non-negative integers")
    return shape


def _flat(tensor: dict[str, Any], name: str, shape: list[int]) -> list[Any]:
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidRequest("wrong_type", f"input {name!r}: data must be a list")
    if data and isinstance(data[0], list):  # nested (row-major) form
        nested = np.asarray(data, dtype=object)
        if list(nested.shape) != shape:
            raise InvalidRequest(
                "wrong_shape", f"input {name!r}: nested data must be a regular array of shape {shape}, got {data!r:.80}"
            )
        data = nested.reshape(-1).tolist()
    if len(data) != math.prod(shape):
        raise InvalidRequest(
            "wrong_shape", f"input {name!r}: shape {shape} needs {math.prod(shape)} values, got {len(data)}"
        )
    return data


def _numeric(tensor: _Tensor, shape: list[int]) -> npt.NDArray[np.float64]:
    name = tensor.name
    datatype = datatypes.check(tensor.doc.get("datatype"), name)
    if datatype not in datatypes.NUMERIC:
        raise InvalidRequest(
            "wrong_type", f"input {name!r}: numeric feature needs a numeric datatype, got {datatype!r}"
        )
    if tensor.raw is not None:
        return datatypes.from_bytes(tensor.raw, name, datatype, shape)
    return datatypes.from_json(_flat(tensor.doc, name, shape), name, datatype)


def _categorical(tensor: _Tensor, shape: list[int]) -> list[str]:
    name = tensor.name
    if datatypes.check(tensor.doc.get("datatype"), name) != "BYTES":
        raise InvalidRequest("wrong_type", f"input {name!r}: categorical feature needs BYTES strings")
    if tensor.raw is not None:
        return binary.strings(tensor.raw, name, shape, math.prod(shape))
    data = _flat(tensor.doc, name, shape)
    if not all(isinstance(v, str) for v in data):
        raise InvalidRequest("wrong_type", f"input {name!r}: categorical feature needs BYTES strings")
    return data


def _parameters(doc: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = doc.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidRequest("bad_request", f'{where}: "parameters" must be an object, got {parameters!r:.40}')
    if _SHARED_MEMORY in parameters:
        raise InvalidRequest("bad_request", f"{where}: shared memory is not supported; send the data in the body")
    return parameters


def _flag(parameters: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise InvalidRequest("bad_request", f"{where}: {key} must be true or false, got {value!r:.40}")
    return value


def _overflowing_number(body: bytes, position: int) -> str | None:
    """The JSON number where decoding stopped (1e999) if it overflows a double, else None."""
    found = _NUMBER.match(body.decode("utf-8", "replace"), position)
    return found.group() if found is not None and math.isinf(float(found.group())) else None


def _document(header: bytes, framed: bool) -> dict[str, Any]:
    try:
        doc = orjson.loads(header)
    except orjson.JSONDecodeError as error:
        if _NAN_LITERAL.search(header):  # Python's json.dumps writes these; JSON has no such numbers
            raise InvalidRequest("nan", "NaN and Infinity are not allowed: send finite numbers") from error
        overflow = _overflowing_number(header, error.pos)
        if overflow is not None:  # valid JSON, but no finite double: the same refusal as Infinity
            raise InvalidRequest(
                "nan", f"{overflow} is infinite as a double; not allowed: send finite numbers"
            ) from error
        what = "the JSON header (Inference-Header-Content-Length bytes)" if framed else "request body"
        hint = "" if framed else "; binary tensor data needs the Inference-Header-Content-Length header"
        raise InvalidRequest("bad_json", f"{what} is not JSON: {error}{hint}") from error
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise InvalidRequest("bad_request", 'request must be a JSON object with a non-empty "inputs" list')
    if not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in doc["inputs"]):
        raise InvalidRequest("bad_request", 'every input must be an object with a "name"')
    return doc


def _request_id(doc: dict[str, Any]) -> str | None:
    """The protocol's id is a $string; like Triton, anything else is refused rather than dropped or rewritten."""
    if "id" not in doc:
        return None
    request_id = doc["id"]
    if not isinstance(request_id, str):
        raise InvalidRequest(
            "bad_request", f'"id" must be a string (the protocol\'s $string), got {type(request_id).__name__}'
        )
    return request_id


def _binary_output(doc: dict[str, Any], signature: Signature) -> bool:
    """Whether to answer with binary tensor data: the output's binary_data, else the request's binary_data_output."""
    binary_output = _flag(_parameters(doc, "request"), "binary_data_output", "request", False)
    if "outputs" not in doc:
        return binary_output
    outputs = doc["outputs"]
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidRequest("bad_request", '"outputs" must be a list of objects with a string "name"')
    counts = Counter(o["name"] for o in outputs)
    unknown = sorted(set(counts) - {signature.output})
    if unknown:
        raise InvalidRequest("bad_request", f"unknown output(s) {unknown}; the model answers [{signature.output!r}]")
    for name, count in counts.items():
        if count > 1:
            raise InvalidRequest("bad_request", f"output {name!r} is requested {count} times")
    for output in outputs:
        where = f"output {output['name']!r}"
        parameters = _parameters(output, where)
        if "classification" in parameters:
            raise InvalidRequest("bad_request", f"{where}: classification is not supported; the answer is the score")
        binary_output = _flag(parameters, "binary_data", where, binary_output)
    return binary_output


def _tensors(doc: dict[str, Any], tail: memoryview, framed: bool) -> list[_Tensor]:
    inputs: list[dict[str, Any]] = doc["inputs"]
    for name, count in Counter(t["name"] for t in inputs).items():
        if count > 1:
            raise InvalidRequest("bad_request", f"input {name!r} appears {count} times; send each input once")
    sizes = [binary.binary_size(t, _parameters(t, f"input {t['name']!r}"), t["name"]) for t in inputs]
    return [_Tensor(t, raw) for t, raw in zip(inputs, binary.split(sizes, tail, framed), strict=True)]


def parse_infer(
    body: bytes, signature: Signature, *, max_rows: int = DEFAULT_MAX_ROWS, header_length: bytes | None = None
) -> InferRequest:
    """A request body (and its Inference-Header-Content-Length header, if any) as a validated batch."""
    length = binary.header_length(header_length, len(body))
    framed = length is not None
    header, tail = (body, memoryview(b"")) if length is None else (body[:length], memoryview(body)[length:])
    doc = _document(header, framed)
    request_id = _request_id(doc)
    binary_output = _binary_output(doc, signature)
    tensors = _tensors(doc, tail, framed)
    features = signature.features
    if len(tensors) == 1 and len(features) > 1 and tensors[0].name not in signature.names():
        return InferRequest(request_id, _matrix_input(tensors[0], signature, max_rows), binary_output)
    by_name = {t.name: t for t in tensors}
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
        shape = _shape(tensor.doc, feature.name)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidRequest("wrong_shape", f"input {feature.name!r}: shape must be [N] or [N, 1], got {shape}")
        if rows is None:
            rows = shape[0]
            if rows > max_rows:
                raise InvalidRequest("too_many_rows", f"{rows} rows in one request; the limit is {max_rows}", 413)
        elif shape[0] != rows:
            raise InvalidRequest("wrong_shape", f"input {feature.name!r} has {shape[0]} rows, other inputs have {rows}")
        if feature.type == "numeric":
            numeric.append(_numeric(tensor, shape))
        else:
            categorical[feature.name] = np.asarray(_categorical(tensor, shape), dtype=np.str_)
    count = rows or 0
    matrix = np.column_stack(numeric) if numeric else np.zeros((count, 0))
    datatypes.finite(matrix, [f.name for f in signature.numeric])
    return InferRequest(request_id, Batch(matrix.reshape(count, len(numeric)), categorical), binary_output)


def _matrix_input(tensor: _Tensor, signature: Signature, max_rows: int) -> Batch:
    name = tensor.name
    if signature.categorical:
        raise InvalidRequest(
            "wrong_shape",
            f"this model has categorical features {[f.name for f in signature.categorical]}: "
            f"send one input per feature ({signature.names()})",
        )
    shape = _shape(tensor.doc, name)
    width = len(signature.features)
    if len(shape) != 2 or shape[1] != width:
        raise InvalidRequest(
            "wrong_shape", f"input {name!r}: expected shape [N, {width}] (features {signature.names()}), got {shape}"
        )
    if shape[0] > max_rows:
        raise InvalidRequest("too_many_rows", f"{shape[0]} rows in one request; the limit is {max_rows}", 413)
    values = _numeric(tensor, shape)
    datatypes.finite(values, [name])
    return Batch(values.reshape(shape[0], width))


def _response(model: str, version: str, request_id: str | None, output: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": [output]}
    if request_id is not None:
        doc["id"] = request_id
    return doc


def infer_response(
    model: str, version: str, request_id: str | None, scores: npt.NDArray[np.float64], output: str
) -> bytes:
    # a column of predict_proba() is a strided view; orjson serialises only C-contiguous arrays
    tensor = {
        "name": output,
        "shape": [int(scores.shape[0])],
        "datatype": "FP64",
        "data": np.ascontiguousarray(scores, dtype=np.float64),
    }
    return orjson.dumps(_response(model, version, request_id, tensor), option=orjson.OPT_SERIALIZE_NUMPY)


def infer_response_binary(
    model: str, version: str, request_id: str | None, scores: npt.NDArray[np.float64], output: str
) -> tuple[bytes, int]:
    """The answer with its output as binary tensor data: the body and its JSON header's length."""
    raw = binary.fp64(scores)
    tensor = {
        "name": output,
        "shape": [int(scores.shape[0])],
        "datatype": "FP64",
        "parameters": {"binary_data_size": len(raw)},
    }
    header = orjson.dumps(_response(model, version, request_id, tensor))
    return header + raw, len(header)


def check_content_encoding(value: bytes | None) -> None:
    """A compressed body would otherwise be refused as "not JSON", hiding what is wrong with it."""
    if value is not None and value.strip().lower() not in (b"", b"identity"):
        encoding = value.decode("latin-1")
        raise InvalidRequest(
            "bad_request", f"Content-Encoding {encoding!r} is not supported; send the body uncompressed"
        )


def error_body(message: str, reason: str | None = None) -> bytes:
    """OIP error shape ({"error": ...}) plus a machine-readable reason."""
    return orjson.dumps({"error": message, **({"reason": reason} if reason else {})})
