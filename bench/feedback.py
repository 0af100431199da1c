"""Label feedback's cost on the serving path, and the cost of joining labels.

    .venv/bin/python bench/feedback.py [--requests 500] [--repeat 25]

In-process and single-threaded, no HTTP: the ASGI app (`InferenceApp`) is called directly with a
request of 1 and 32 rows of the runtime tests' model, with telemetry on, once with the prediction
record (the default, `--feedback-capacity 100000`) and once without (`--feedback-capacity 0`),
alternating, best of `--repeat`, in CPU time of the thread (the machine may be busy). So the
overhead is relative to the server's own work per
request (parsing, prediction, telemetry, answer) without uvicorn's share: a real server's relative
overhead is smaller. Then `Telemetry.record_predictions` alone, and labels joined per second
(10,000-label batches). Writes bench/results/feedback-<date>.json. The goal: the record adds
less than 10% to the telemetry-on request cost.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelops.runtime.feedback import LabelItem
from modelops.runtime.server import InferenceApp, ServeOptions
from modelops.runtime.telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[1]
ROWS = (1, 32)
sys.path.insert(0, str(ROOT))  # the runtime tests' model, written as the tests write it
from tests.runtime.models_fixture import write_model_dir  # noqa: E402


async def _requests(app: InferenceApp, body: bytes, count: int) -> float:
    """CPU seconds of this thread for `count` inference requests through the ASGI app."""
    scope = {"type": "http", "method": "POST", "path": "/v2/models/fraud/infer", "headers": []}
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(_: Any) -> None:
        return None

    started = time.thread_time()  # CPU time: other processes on a busy machine do not count
    for _ in range(count):
        await app(scope, receive, send)  # type: ignore[arg-type]
    return time.thread_time() - started


def _app(directory: Path, capacity: int) -> InferenceApp:
    path, _ = write_model_dir(directory)
    options = ServeOptions(
        model_path=path,
        name="fraud",
        version="v1",
        baseline_path=directory / "baseline.json",
        feedback_capacity=capacity,
    )
    app = InferenceApp(options)
    asyncio.run(app.load())
    return app


def serving(requests: int, repeat: int) -> list[dict[str, float]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        apps = {"record": _app(Path(tmp) / "on", 100_000), "none": _app(Path(tmp) / "off", 0)}
        _, data = write_model_dir(Path(tmp) / "data")
        for rows in ROWS:
            body = orjson.dumps({"inputs": data.inference_inputs(0, rows)})
            best = {name: float("inf") for name in apps}
            for _ in range(repeat):
                for name, app in apps.items():
                    best[name] = min(best[name], asyncio.run(_requests(app, body, requests)) / requests)
            overhead = best["record"] / best["none"] - 1
            results.append({"rows": rows, "with_record_us": best["record"] * 1e6, "without_us": best["none"] * 1e6})
            results[-1]["overhead"] = overhead
            print(
                f"{rows:>4} rows: {best['none'] * 1e6:7.1f} us without the record, {best['record'] * 1e6:7.1f} us with "
                f"({overhead:+.1%})"
            )
    return results


def record_alone() -> dict[str, float]:
    telemetry = Telemetry(model="fraud", version="v1")
    one, batch = np.array([0.3]), np.linspace(0, 1, 32)
    number = 200_000
    costs = {
        "assigned_1_row_us": min(
            timeit.repeat(lambda: telemetry.record_predictions(None, one), number=number, repeat=5)
        ),
        "client_id_1_row_us": min(
            timeit.repeat(lambda: telemetry.record_predictions("request-id-0001", one), number=number, repeat=5)
        ),
        "assigned_32_rows_us": min(
            timeit.repeat(lambda: telemetry.record_predictions(None, batch), number=number, repeat=5)
        ),
    }
    costs = {k: v / number * 1e6 for k, v in costs.items()}
    for name, us in costs.items():
        print(f"record_predictions, {name.removesuffix('_us').replace('_', ' ')}: {us:.2f} us")
    return costs


def joining() -> dict[str, float]:
    telemetry = Telemetry(model="fraud", version="v1")
    ids = [telemetry.record_predictions(None, np.array([0.3])) for _ in range(100_000)]
    items = [LabelItem(str(i), n % 2) for n, i in enumerate(ids)]
    started = time.perf_counter()
    for start in range(0, len(items), 10_000):
        telemetry.feedback(items[start : start + 10_000])
    per_label = (time.perf_counter() - started) / len(items)
    print(f"joined: {per_label * 1e6:.2f} us a label ({1 / per_label:,.0f} labels/s)")
    return {"join_us_per_label": per_label * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/feedback-<date>.json)")
    args = parser.parse_args()
    report = {
        "date": dt.date.today().isoformat(),
        "serving": serving(args.requests, args.repeat),
        "record": record_alone(),
        "join": joining(),
    }
    out = args.output or ROOT / "bench" / "results" / f"feedback-{report['date']}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
