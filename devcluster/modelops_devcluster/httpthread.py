"""A small HTTP service of the dev stack (service discovery, a token service) on loopback, in a thread.

One place for the lifecycle every such fake had its own copy of: bind 127.0.0.1, serve from a
daemon thread, stop cleanly, and restart on the same port (a URL already handed to a registry or
Prometheus stays right).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from modelops_devcluster.ports import LOOPBACK


class LoopbackHTTP:
    """`start(Handler)` serves on a free loopback port (the same one after `stop()`); `port` names it."""

    def __init__(self, name: str, *, poll_interval: float = 0.5) -> None:
        self.name, self.poll_interval = name, poll_interval
        self.port: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, handler: type[BaseHTTPRequestHandler]) -> None:
        if self._server is not None:
            return
        self._server = ThreadingHTTPServer((LOOPBACK, self.port or 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            name=self.name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (connections are refused); `port` still names the port a restart takes."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
