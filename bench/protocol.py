"""Request parsing cost: the same rows as JSON and as binary tensor data (what tritonclient sends by default).

Prints microseconds per parse_infer() call for 1, 32 and 1,000 rows of the test model's nine
features (eight FP64, one BYTES) and writes bench/results/protocol-<date>.json. Pure CPU, no
server: the HTTP path is bench/serving.py's. No goal: the figures say what the extension costs
or saves against JSON, and show a regression in the validation (issue 17) per request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import struct
import timeit
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelops.models.base import FeatureSpec, Signature
from modelops.runtime.protocol import parse_infer
from modelops.train.dataset import generate, numeric_names

ROOT = Path(__file__).resolve().parents[1]
ROWS = (1, 32, 1000)


def signature() -> Signature:
    """The runtime tests' model: the generator's eight numeric features and its country."""
    numeric = tuple(FeatureSpec(n) for n in numeric_names(8))
    return Signature((*numeric, FeatureSpec("country", "categorical", ("US", "GB", "DE"))))


def binary_body(inputs: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    header_inputs, raws = [], []
    for tensor in inputs:
        if tensor["datatype"] == "BYTES":
            raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in tensor["data"])
        else:
            raw = np.asarray(tensor["data"], dtype="<f8").tobytes()
        meta = {k: tensor[k] for k in ("name", "shape", "datatype")}
        header_inputs.append(meta | {"parameters": {"binary_data_size": len(raw)}})
        raws.append(raw)
    header = orjson.dumps({"id": "b", "inputs": header_inputs})
    return header + b"".join(raws), str(len(header)).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/protocol-<date>.json)")
    args = parser.parse_args()
    sig, data = signature(), generate(max(ROWS), seed=1)
    results = []
    print(f"{'rows':>6} {'JSON us':>9} {'binary us':>10} {'JSON bytes':>11} {'binary bytes':>13}")
    for rows in ROWS:
        inputs = data.inference_inputs(0, rows)
        as_json = orjson.dumps({"id": "j", "inputs": inputs})
        as_binary, length = binary_body(inputs)
        number = max(20, 20_000 // rows)
        cost = {
            "json": min(timeit.repeat(lambda b=as_json: parse_infer(b, sig), number=number, repeat=5)) / number,
            "binary": min(
                timeit.repeat(
                    lambda b=as_binary, h=length: parse_infer(b, sig, header_length=h), number=number, repeat=5
                )
            )
            / number,
        }
        row = {"rows": rows, "json_us": cost["json"] * 1e6, "binary_us": cost["binary"] * 1e6}
        row |= {"json_bytes": len(as_json), "binary_bytes": len(as_binary)}
        results.append(row)
        print(f"{rows:>6} {row['json_us']:>9.1f} {row['binary_us']:>10.1f} {len(as_json):>11} {len(as_binary):>13}")
    out = args.output or ROOT / "bench" / "results" / f"protocol-{dt.date.today().isoformat()}.json"
    out.write_text(json.dumps({"date": dt.date.today().isoformat(), "results": results}, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
