"""The binary tensor data extension (KServe v2 / Triton `binary_tensor_data`).

A request may carry tensors as raw bytes after its JSON header: the header's size is in
the ``Inference-Header-Content-Length`` HTTP header and each binary input says its size
in ``parameters.binary_data_size``, in input order. Numbers are little-endian; a BYTES
element is a 4-byte little-endian length and that many bytes. tritonclient sends inputs
this way by default, so a server without the extension fails its first ``client.infer()``.

Every size is checked against the body before a byte is read as a tensor, so a wrong size
is a 400 naming the input, never a misaligned read.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from modelops.runtime.refusal import InvalidRequest

EXTENSION = "binary_tensor_data"
HEADER = b"inference-header-content-length"
_LENGTH = struct.Struct("<I")


def header_length(value: bytes | None, body_size: int) -> int | None:
    """The JSON header's size from the HTTP header, or None when the body is all JSON."""
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    if not text.isdigit():
        raise InvalidRequest("bad_request", f"Inference-Header-Content-Length {text!r} is not an integer")
    length = int(text)
    if not 1 <= length <= body_size:
        raise InvalidRequest(
            "bad_request",
            f"Inference-Header-Content-Length {length} must be within 1..{body_size} (the body's size in bytes)",
        )
    return length


def binary_size(tensor: dict[str, Any], parameters: dict[str, Any], name: str) -> int | None:
    """The input's ``binary_data_size``, or None when its values are in JSON ``data``."""
    if "binary_data_size" not in parameters:
        return None
    size = parameters["binary_data_size"]
    if type(size) is not int or size < 0:
        raise InvalidRequest(
            "bad_request", f"input {name!r}: binary_data_size must be a non-negative integer, got {size!r}"
        )
    if "data" in tensor:
        raise InvalidRequest("bad_request", f'input {name!r}: both "data" and binary_data_size are given; send one')
    return size


def split(sizes: list[int | None], tail: memoryview, framed: bool) -> list[memoryview | None]:
    """Each input's bytes, in input order; the sizes must add up to exactly what follows the header."""
    total = sum(size for size in sizes if size is not None)
    if total != len(tail):
        hint = "" if framed else " (binary data needs the Inference-Header-Content-Length header)"
        raise InvalidRequest(
            "bad_request",
            f"the inputs' binary_data_size values add up to {total} bytes, "
            f"but {len(tail)} byte(s) follow the JSON header{hint}",
        )
    parts: list[memoryview | None] = []
    offset = 0
    for size in sizes:
        if size is None:
            parts.append(None)
        else:
            parts.append(tail[offset : offset + size])
            offset += size
    return parts


def strings(raw: memoryview, name: str, shape: list[int], count: int) -> list[str]:
    """A BYTES tensor's elements (length-prefixed) as text; exactly `count` of them, nothing after."""
    data = raw.tobytes()
    values: list[str] = []
    offset, size = 0, len(data)
    while offset < size and len(values) < count:
        if offset + 4 > size:
            raise InvalidRequest("wrong_shape", f"input {name!r}: BYTES element {len(values)} has a cut length prefix")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += 4
        if offset + length > size:
            raise InvalidRequest(
                "wrong_shape",
                f"input {name!r}: BYTES element {len(values)} says {length} bytes, {size - offset} are left",
            )
        try:
            values.append(data[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidRequest("wrong_type", f"input {name!r}: element {len(values)} is not UTF-8") from error
        offset += length
    if len(values) < count:
        raise InvalidRequest(
            "wrong_shape", f"input {name!r}: BYTES data holds {len(values)} elements, shape {shape} needs {count}"
        )
    if offset < size:
        raise InvalidRequest("wrong_shape", f"input {name!r}: {size - offset} byte(s) after the {count} elements")
    return values


def fp64(values: npt.NDArray[np.float64]) -> bytes:
    """An FP64 output tensor's raw bytes (little-endian, whatever the machine)."""
    return np.ascontiguousarray(values, dtype="<f8").tobytes()
