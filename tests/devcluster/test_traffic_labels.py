"""The traffic generator's ground truth: bounded delay, loopback only, batches to the pod that answered."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelops_devcluster.dataplane import NonLoopbackError
from modelops_devcluster.traffic import MAX_LABEL_DELAY_S, Labels, _LabelSender, _Pending


class _Feedback(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any], float]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.received.append((self.path, body, time.monotonic()))
        answer = json.dumps({"accepted": len(body["labels"]), "duplicate": 0, "unmatched": 0, "wrong_version": 0})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, type[_Feedback]]]:
    handler = type("Handler", (_Feedback,), {"received": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, handler
    httpd.shutdown()
    thread.join(timeout=5)


@pytest.mark.parametrize("bad", [{"delay_s": -1}, {"delay_s": MAX_LABEL_DELAY_S + 1}, {"share": 0}, {"batch": 0}])
def test_labels_are_bounded(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"delay_s|share"):
        Labels(**bad)  # type: ignore[arg-type]


def test_labels_go_in_batches_after_their_delay(server: tuple[ThreadingHTTPServer, type[_Feedback]]) -> None:
    httpd, handler = server
    port = httpd.server_address[1]
    sender = _LabelSender(Labels(delay_s=0.5, batch=3), timeout_s=2.0)
    start = time.monotonic()
    try:
        for n in range(4):
            sender.add(_Pending(start + 0.5, "127.0.0.1", port, "fraud", ((f"r{n}:0", n % 2), (f"r{n}:1", 1))))
        deadline = time.monotonic() + 10
        while sender.counts.posted < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sender.close()
    assert sender.counts.posted == 8 and sender.counts.results["accepted"] == 8 and not sender.counts.failed_posts
    assert [len(body["labels"]) for _, body, _ in handler.received] == [3, 3, 2]
    assert all(path == "/v2/models/fraud/feedback" for path, _, _ in handler.received)
    assert min(at for _, _, at in handler.received) >= start + 0.5
    assert handler.received[0][1]["labels"][0] == {"id": "r0:0", "label": 0}


def test_the_oldest_labels_are_dropped_beyond_max_pending() -> None:
    sender = _LabelSender(Labels(delay_s=60, max_pending=3), timeout_s=1.0)
    try:
        for n in range(3):
            sender.add(_Pending(time.monotonic() + 60, "127.0.0.1", 1, "m", ((f"a{n}", 0), (f"b{n}", 1))))
    finally:
        sender.close()
    assert sender.counts.dropped == 4 and sender.counts.posted == 0


def test_feedback_only_to_loopback() -> None:
    sender = _LabelSender(Labels(delay_s=0), timeout_s=1.0)
    with pytest.raises(NonLoopbackError):
        sender._post(None, "10.0.0.1", 8080, "m", [("x", 1)])  # type: ignore[arg-type]
