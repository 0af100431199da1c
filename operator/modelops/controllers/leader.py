"""Leader election beside kopf: one replica reconciles, the others stand by to take over.

kopf's peering pauses every operator of the same priority, so it gives no active/standby.
This is client-go's leader election on a coordination.k8s.io Lease (modelops.lease decides,
modelops.kube.leases talks to the API), run on a thread of its own:

- a standby serves /healthz (ready: it has nothing to reconcile), /leader and its metrics,
  and tries for the Lease every retryPeriod; kopf and every handler start only once it leads;
- the leader renews every retryPeriod. `Leadership.check` is the fence `ClusterKube` calls
  before every write it sends: it refuses once renewDeadline has passed since the last
  successful renewal, so a leader that cannot renew (API unreachable, process stopped) stops
  writing before any standby can take the Lease (leaseDuration > renewDeadline). The thread then
  exits the process with code 3; its pod restarts it as a standby;
- on SIGTERM the leader stops writing, then releases the Lease (no holder, 1-second duration) so
  a standby takes over at its next try instead of after leaseDuration.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import Gauge

from modelops import lease
from modelops.kube import Conflict, NotLeader
from modelops.kube.leases import LeaseClient

EXIT_LOST = 3  # the exit code of a leader that lost its Lease
log = logging.getLogger("modelops.leader")
LEADER = Gauge(
    "modelops_leader",
    "1 on the replica that holds the leader Lease and reconciles, 0 on a standby (with --leader-elect; 1 without it).",
    ["identity"],
)
LEADER_TRANSITIONS = Gauge(
    "modelops_leader_transitions", "leaseTransitions of the leader Lease as this replica last saw it.", ["identity"]
)
# The leader's event loop must tick at least this often, or /healthz fails (kopf's own liveness
# endpoint is off with leader election: the standby serves the health port before kopf starts).
LOOP_STALL_SECONDS = 60.0


@dataclass(frozen=True)
class ElectionConfig:
    identity: str
    namespace: str
    name: str
    durations: lease.Durations


class Leadership:
    """This replica's standing, shared by the elector thread, the fence and the endpoints."""

    def __init__(self, config: ElectionConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._state = lease.Elector()
        self._stopping = False
        self.holder = ""
        self.ticked = time.monotonic()  # the elector thread's last attempt
        self.beat: float | None = None  # the leader's event loop's last tick (None before kopf runs)
        self.refused = 0  # writes the fence refused

    @property
    def state(self) -> lease.Elector:
        with self._lock:
            return self._state

    def update(self, state: lease.Elector) -> None:
        with self._lock:
            if not self._stopping:
                self._state = state
        observed = state.observed
        self.holder = observed.holder if observed is not None else ""
        self.ticked = time.monotonic()
        LEADER.labels(self.config.identity).set(1 if self.leading() else 0)
        if observed is not None:
            LEADER_TRANSITIONS.labels(self.config.identity).set(observed.transitions)

    def leading(self) -> bool:
        with self._lock:
            return not self._stopping and lease.leading(self._state, time.monotonic(), self.config.durations)

    def check(self) -> None:
        """The fence: raise NotLeader unless this replica may write at this instant."""
        if not self.leading():
            self.refused += 1
            raise NotLeader(f"{self.config.identity} does not hold Lease {self.config.namespace}/{self.config.name}")

    def stop(self) -> None:
        """Never write again (before releasing the Lease or exiting)."""
        with self._lock:
            self._stopping = True
        LEADER.labels(self.config.identity).set(0)

    def healthy(self) -> bool:
        durations = self.config.durations
        attempt_budget = durations.retry_period + 2 * _timeout(durations) + 5
        if time.monotonic() - self.ticked > attempt_budget:
            return False  # the elector thread is wedged
        return not (self.leading() and self.beat is not None and time.monotonic() - self.beat > LOOP_STALL_SECONDS)

    def describe(self) -> dict[str, Any]:
        return {
            "identity": self.config.identity,
            "leader": self.leading(),
            "holder": self.holder,
            "lease": f"{self.config.namespace}/{self.config.name}",
        }


def _timeout(durations: lease.Durations) -> float:
    """Per-request timeout of the Lease calls: a hung call must not eat the renew deadline."""
    return max(1.0, min(5.0, durations.renew_deadline / 3))


class Elector:
    """Runs the attempts: until leading (in the caller's thread), then renewals (in a thread)."""

    def __init__(self, client: LeaseClient, leadership: Leadership) -> None:
        self.client = client
        self.leadership = leadership
        self.config = leadership.config
        self.stopped = threading.Event()
        self._io = threading.Lock()  # one attempt or release at a time: a release never races a renewal

    def attempt(self) -> lease.Step:
        with self._io:
            return self._attempt()

    def _attempt(self) -> lease.Step:
        durations, me = self.config.durations, self.config.identity
        state = self.leadership.state
        try:
            read = self.client.read()
        except Exception as error:  # unreachable, timeout, 5xx: the deadline still runs
            log.warning("cannot read the leader Lease: %s", error)
            result = lease.unreachable(state, time.monotonic(), durations)
            self.leadership.update(result.state)
            return result
        result = lease.step(state, read, me, time.monotonic(), wall=datetime.now(UTC), durations=durations)
        if result.lost or result.write is None:
            self.leadership.update(result.state)
            return result
        sent = time.monotonic()
        if result.state.renewed_at is not None and not lease.leading(result.state, sent, durations):
            return lease.Step(result.state, lost=True)
        try:
            stored = self.client.create(result.write) if result.create else self.client.update(result.write)
        except Conflict as error:
            log.info("leader Lease: %s", error)
            self.leadership.update(result.state)
            return result
        except Exception as error:
            log.warning("cannot write the leader Lease: %s", error)
            self.leadership.update(result.state)
            return result
        was_leader = result.state.renewed_at is not None
        self.leadership.update(lease.written(result.state, stored, sent))
        if not was_leader:
            log.info(
                "became the leader",
                extra={"identity": me, "lease": f"{self.config.namespace}/{self.config.name}"},
            )
        return result

    def wait_until_leader(self) -> bool:
        """Try every retryPeriod until leading (True) or stopped (False, e.g. SIGTERM)."""
        log.info(
            "standing by for the leader Lease",
            extra={"identity": self.config.identity, "lease": f"{self.config.namespace}/{self.config.name}"},
        )
        while not self.stopped.is_set():
            result = self.attempt()
            if self.leadership.leading():
                return True
            self.stopped.wait(result.wait or self.config.durations.retry_period)
        return False

    def renew_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self._renew, name="leader-elector", daemon=True)
        thread.start()
        return thread

    def _renew(self) -> None:
        while not self.stopped.is_set():
            result = self.attempt()
            if self.stopped.is_set():
                return  # a graceful stop: release() hands the Lease over
            if result.lost or not self.leadership.leading():
                self._lost()
                return
            self.stopped.wait(result.wait or self.config.durations.retry_period)

    def _lost(self) -> None:
        """Stop writing, say so, exit 3: nothing of this process may act once another may lead."""
        self.leadership.stop()
        log.error(
            "lost the leader Lease: stopped writing, exiting",
            extra={"identity": self.config.identity, "holder": self.leadership.holder, "exit_code": EXIT_LOST},
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_LOST)

    def release(self) -> None:
        """Stop writing, then hand the Lease over (when ours) so a standby takes it at once."""
        self.stopped.set()
        self.leadership.stop()
        with self._io:
            try:
                read = self.client.read()
                handed = lease.release(read, self.config.identity, datetime.now(UTC))
                if handed is not None:
                    self.client.update(handed)
                    log.info("released the leader Lease", extra={"identity": self.config.identity})
            except Exception as error:  # the standby takes over after leaseDuration instead
                log.warning("could not release the leader Lease: %s", error)


class _Endpoints(BaseHTTPRequestHandler):
    leadership: Leadership

    def do_GET(self) -> None:
        if self.path in ("/healthz", "/readyz"):
            ok = self.leadership.healthy()
            self._send(200 if ok else 500, {"status": "ok" if ok else "stalled", **self.leadership.describe()})
        elif self.path == "/leader":
            self._send(200, self.leadership.describe())
        else:
            self._send(404, {"error": "not found"})

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not worth a line
        del format, args


def serve_endpoints(leadership: Leadership, address: str, port: int) -> ThreadingHTTPServer:
    """/healthz, /readyz and /leader on the health port, on every replica, leader or not."""
    handler = type("Endpoints", (_Endpoints,), {"leadership": leadership})
    server = ThreadingHTTPServer((address, port), handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def stop_on_sigterm(elector: Elector) -> None:
    """While standing by (before kopf installs its own handlers): SIGTERM/SIGINT end the wait."""

    def handle(signum: int, frame: object) -> None:
        del signum, frame
        elector.stopped.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
