"""`modelops serve` as a real process on loopback: it never crashes or stalls on bad input."""

from __future__ import annotations

import concurrent.futures
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.runtime.models_fixture import write_model_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    _, data = write_model_dir(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PYTHONPATH": str(ROOT / "operator"), "PATH": "/usr/bin:/bin"}
    serve = [sys.executable, "-m", "modelops.cli.main", "serve", "--model-dir", str(tmp_path), "--name", "fraud"]
    flags = ["--version", "v1", "--host", "127.0.0.1", "--port", str(port), "--max-body-bytes", "65536"]
    proc = subprocess.Popen([*serve, *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield url, data
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_garbage_in_parallel_never_crashes_or_stalls(server: tuple[str, object]) -> None:
    url, data = server
    good = orjson.dumps({"inputs": data.inference_inputs(0, 1)})  # type: ignore[attr-defined]
    bodies = [b"", b"{", b"[]", b"\xff\xfe", b'{"inputs":[{"name":"amount"}]}', b"x" * 100_000, good]

    def send(i: int) -> int:
        return httpx.post(f"{url}/v2/models/fraud/infer", content=bodies[i % len(bodies)], timeout=5).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(140)))
    assert set(codes) <= {200, 400, 413} and codes.count(200) == 20
    assert httpx.get(f"{url}/v2/health/live", timeout=2).status_code == 200
    metrics = httpx.get(f"{url}/metrics", timeout=2).text
    assert 'modelops_requests_total{code="200",model="fraud",variant="stable",version="v1"} 20.0' in metrics
