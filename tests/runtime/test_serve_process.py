"""`modelops serve` as a real process on loopback: it never crashes or stalls on bad input."""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from modelops.train.dataset import Dataset
from tests.runtime.serve_process import start_server


def _start(tmp_path: Path, *extra: str, until: str = "ready") -> tuple[subprocess.Popen[bytes], str, Dataset]:
    return start_server(tmp_path, "--max-body-bytes", "65536", *extra, until=until)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    proc, url, data = _start(tmp_path)
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


def _requests_by_code(url: str) -> dict[str, float]:
    out = {}
    for line in httpx.get(f"{url}/metrics", timeout=2).text.splitlines():
        if line.startswith("modelops_requests_total{"):
            code = line.split('code="', 1)[1].split('"', 1)[0]
            out[code] = float(line.rsplit(" ", 1)[1])
    return out


def test_every_answer_is_counted_and_an_aborted_upload_is_499(server: tuple[str, object]) -> None:
    url, _data = server
    port = int(url.rsplit(":", 1)[1])
    assert httpx.post(f"{url}/v2/models/other/infer", content=b"{}", timeout=2).status_code == 404
    assert httpx.post(f"{url}/v2/models/fraud/versions/v9/infer", content=b"{}", timeout=2).status_code == 404
    with socket.create_connection(("127.0.0.1", port), timeout=2) as upload:  # promises 1,000 bytes, sends 10
        upload.sendall(b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"{" * 10)
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while _requests_by_code(url)["499"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    counted = {code: n for code, n in _requests_by_code(url).items() if n}
    assert counted == {"404": 2, "499": 1}  # the aborted upload is no 400: no client saw one
    invalid = httpx.get(f"{url}/metrics", timeout=2).text
    assert (
        'modelops_invalid_requests_total{model="fraud",reason="bad_request",variant="stable",version="v1"} 0.0'
        in invalid
    )


def test_readiness_not_ready_is_4xx_and_probes_are_not_requests(server: tuple[str, object]) -> None:
    url, _data = server
    assert httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
    assert httpx.get(f"{url}/v2/models/fraud/ready", timeout=2).status_code == 200
    assert not any(_requests_by_code(url).values())


def test_a_model_that_failed_to_load_is_not_ready_with_a_4xx(tmp_path: Path) -> None:
    """The Open Inference Protocol: 200 means ready, 4xx not ready (a Kubernetes probe fails on >= 400)."""
    proc, url, _data = _start(tmp_path, "--sha256", "0" * 64, until="live")
    try:
        deadline = time.monotonic() + 10
        while "failed" not in (answer := httpx.get(f"{url}/v2/health/ready", timeout=2)).text:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)
        assert answer.status_code == 400 and answer.json()["ready"] is False
        assert httpx.get(f"{url}/v2/models/fraud/ready", timeout=2).status_code == 400
        refused = httpx.post(f"{url}/v2/models/fraud/infer", content=b"{}", timeout=2)
        assert refused.status_code == 503  # inference is the server's failure, not the client's
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _read_response(conn: socket.socket) -> bytes:
    """Everything until the server closes; a reset raises ConnectionResetError."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def _read_one_chunked(conn: socket.socket) -> bytes:
    """One chunked response on a kept-alive connection: its head and body may come in separate reads."""
    received = b""
    while not received.endswith(b"\r\n0\r\n\r\n"):
        chunk = conn.recv(4096)
        assert chunk, f"closed after {received!r}"
        received += chunk
    return received


def test_sigterm_finishes_in_flight_requests_closes_keep_alive_politely_and_exits_0(
    tmp_path: Path,
) -> None:
    proc, url, data = _start(tmp_path, "--allow-fault-injection")
    port = int(url.rsplit(":", 1)[1])
    try:
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        first = _read_one_chunked(idle)  # all of it: a loaded machine once left the body for the next read
        assert first.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in first.lower()
        busy = socket.create_connection(("127.0.0.1", port), timeout=10)
        body = orjson.dumps({"inputs": data.inference_inputs(0, 2)})
        head = f"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        busy.sendall(head.encode() + b"x-modelops-fault: latency=1\r\n\r\n" + body)
        time.sleep(0.3)  # the request is in flight
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        # a keep-alive client that sends during the drain is answered, told to close, then closed (no reset)
        idle.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        late = _read_response(idle)
        assert late.startswith(b"HTTP/1.1 200") and b"connection: close" in late.lower()
        answer = _read_response(busy)
        assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower()
        assert b'"outputs"' in answer
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_labels_reach_a_real_server_and_forgotten_predictions_are_counted(tmp_path: Path) -> None:
    proc, url, data = _start(tmp_path, "--feedback-capacity", "10", "--decision-threshold", "0.0")
    try:
        infer = f"{url}/v2/models/fraud/infer"
        first = httpx.post(infer, json={"inputs": data.inference_inputs(0, 4)}, timeout=5).json()["id"]
        labels = [{"id": f"{first}:{i}", "label": i % 2} for i in range(4)]
        answer = httpx.post(f"{url}/v2/models/fraud/feedback", json={"labels": labels}, timeout=5)
        assert answer.status_code == 200 and answer.json()["accepted"] == 4
        for i in range(12):  # 12 more rows through a record of 10: the 4 labelled and 2 more go
            httpx.post(infer, json={"id": f"r-{i}", "inputs": data.inference_inputs(i, i + 1)}, timeout=5)
        late = httpx.post(f"{url}/v2/models/fraud/feedback", json={"labels": labels[:1]}, timeout=5)
        assert late.json()["results"] == ["unmatched"]
        metrics = httpx.get(f"{url}/metrics", timeout=2).text
        assert 'modelops_feedback_total{model="fraud",outcome="tp",variant="stable",version="v1"} 2.0' in metrics
        assert 'modelops_feedback_total{model="fraud",outcome="fp",variant="stable",version="v1"} 2.0' in metrics
        assert 'modelops_predictions_unlabelled_total{model="fraud",variant="stable",version="v1"} 2.0' in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=10)
