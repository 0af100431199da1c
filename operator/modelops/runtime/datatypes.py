"""What each Open Inference Protocol datatype accepts, as JSON values and as raw little-endian bytes.

A value the declared datatype cannot hold is refused rather than coerced: a client sending
UINT8 300 or INT64 12.5 has a bug that a silent wrap, clip or truncation would hide from it.
JSON numbers are kept as written (an FP32 0.1 is not rounded to float32); raw bytes are
read as the datatype says. Every feature reaches the model as float64.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import numpy.typing as npt

from modelops.runtime.refusal import InvalidRequest

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
# the largest finite value of each float type, and how the refusal writes it
FLOAT_LIMITS: dict[str, tuple[float, str]] = {
    "FP16": (65504.0, "65504"),
    "FP32": (float(np.finfo(np.float32).max), "3.4028235e+38"),
    "FP64": (float(np.finfo(np.float64).max), "1.7976931348623157e+308"),
}
NUMERIC = frozenset({*INTEGER_RANGES, *FLOAT_LIMITS, "BOOL"})
SUPPORTED = NUMERIC | {"BYTES"}
UNSUPPORTED = frozenset({"BF16"})  # in the protocol, but numpy has no bfloat16
LITTLE_ENDIAN = {
    "BOOL": "u1",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_JSON_NUMBERS = frozenset({int, float})


def check(datatype: object, name: str) -> str:
    """The tensor's datatype if the protocol has it and this server reads it."""
    if datatype in UNSUPPORTED:
        raise InvalidRequest("wrong_type", f"input {name!r}: datatype {datatype!r} is not supported; send FP32")
    if not isinstance(datatype, str) or datatype not in SUPPORTED:
        raise InvalidRequest(
            "wrong_type", f"input {name!r}: unknown datatype {datatype!r}; one of {sorted(SUPPORTED)} is needed"
        )
    return datatype


def from_json(data: list[object], name: str, datatype: str) -> npt.NDArray[np.float64]:
    """JSON values of a numeric datatype as float64, each checked against the datatype."""
    kinds = set(map(type, data))  # 10x faster than isinstance per value
    if datatype == "BOOL":
        if not kinds <= {bool}:
            raise InvalidRequest("wrong_type", f"input {name!r}: BOOL takes true or false")
        return np.asarray(data, dtype=np.float64)
    if not kinds <= _JSON_NUMBERS:  # bool is its own type, so true/false are refused here
        raise InvalidRequest("wrong_type", f"input {name!r}: every value must be a number")
    if datatype in INTEGER_RANGES:
        if float in kinds:
            bad = next(v for v in data if type(v) is float)
            raise InvalidRequest("wrong_type", f"input {name!r}: {datatype} takes integers; got {bad!r}")
        low, high = INTEGER_RANGES[datatype]
        integers = cast(list[int], data)  # every value is an int: checked above
        if integers:
            least, most = min(integers), max(integers)
            if least < low or most > high:
                bad = least if least < low else most
                raise InvalidRequest(
                    "wrong_type", f"input {name!r}: {datatype} takes integers in {low}..{high}; got {bad}"
                )
        return np.asarray(data, dtype=np.float64)
    values = np.asarray(data, dtype=np.float64)
    # orjson refuses NaN, Infinity and numbers that overflow a double: FP64 needs no second look
    return values if datatype == "FP64" else _finite(values, name, datatype)


def from_bytes(raw: memoryview, name: str, datatype: str, shape: list[int]) -> npt.NDArray[np.float64]:
    """Raw little-endian values of a numeric datatype as float64; the size must be the shape's.

    Raw floats may be NaN or infinite: the caller checks the whole batch with `finite`.
    """
    dtype = np.dtype(LITTLE_ENDIAN[datatype])
    count = math.prod(shape)
    if len(raw) != count * dtype.itemsize:
        raise InvalidRequest(
            "wrong_shape",
            f"input {name!r}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes, got {len(raw)}",
        )
    values = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL" and values.size and int(values.max()) > 1:
        raise InvalidRequest("wrong_type", f"input {name!r}: BOOL takes bytes 0 or 1; got {int(values.max())}")
    return values.astype(np.float64)  # NaN and ±Inf are refused for the whole batch at once: see `finite`


def finite(values: npt.NDArray[np.float64], names: list[str]) -> None:
    """Refuse NaN or ±Inf anywhere in a batch (column i is input names[i]): one pass, not one per input."""
    if values.size and not np.isfinite(values).all():
        column = int(np.argmin(np.isfinite(values).all(axis=0))) if values.ndim == 2 else 0
        raise InvalidRequest("nan", f"input {names[column]!r}: NaN or infinite values are not allowed")


def _finite(values: npt.NDArray[np.float64], name: str, datatype: str) -> npt.NDArray[np.float64]:
    limit, written = FLOAT_LIMITS[datatype]
    if np.all(np.abs(values) <= limit):  # one pass: NaN compares false, ±inf is past every limit
        return values
    if not np.all(np.isfinite(values)):
        raise InvalidRequest("nan", f"input {name!r}: NaN or infinite values are not allowed")
    bad = float(values[np.argmax(np.abs(values))])
    raise InvalidRequest(
        "wrong_type", f"input {name!r}: {datatype} takes finite numbers within ±{written}; got {bad!r}"
    )
