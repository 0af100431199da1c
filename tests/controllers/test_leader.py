"""The elector beside kopf, against an in-memory Lease with the API server's version checks."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field, replace

import pytest

from modelops import lease
from modelops.controllers import leader
from modelops.kube import Conflict, NotLeader


@dataclass
class FakeLeases:
    """One Lease with optimistic concurrency; `down` makes every call fail like an unreachable server."""

    record: lease.Record | None = None
    down: bool = False
    writes: list[lease.Record] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> lease.Record | None:
        if self.down:
            raise OSError("connection refused")
        return self.record

    def _store(self, record: lease.Record) -> lease.Record:
        version = str(int(self.record.version) + 1) if self.record else "1"
        self.record = replace(record, version=version)
        self.writes.append(self.record)
        return self.record

    def create(self, record: lease.Record) -> lease.Record:
        with self._lock:
            if self.down:
                raise OSError("connection refused")
            if self.record is not None:
                raise Conflict("exists")
            return self._store(record)

    def update(self, record: lease.Record) -> lease.Record:
        with self._lock:
            if self.down:
                raise OSError("connection refused")
            if self.record is None or self.record.version != record.version:
                raise Conflict("changed")
            return self._store(record)


FAST = lease.Durations(0.6, 0.4, 0.05)


def elector(leases: FakeLeases, name: str, durations: lease.Durations = FAST) -> leader.Elector:
    config = leader.ElectionConfig(name, "ops", "modelops-operator", durations)
    return leader.Elector(leases, leader.Leadership(config))  # type: ignore[arg-type]


def test_one_leads_the_other_stands_by_and_the_fence_says_so() -> None:
    leases = FakeLeases()
    a, b = elector(leases, "a"), elector(leases, "b")
    assert a.wait_until_leader()
    b.attempt()
    assert a.leadership.leading() and not b.leadership.leading()
    a.leadership.check()
    with pytest.raises(NotLeader):
        b.leadership.check()
    assert b.leadership.describe() == {
        "identity": "b",
        "leader": False,
        "holder": "a",
        "lease": "ops/modelops-operator",
    }
    assert leader.LEADER.labels("a")._value.get() == 1 and leader.LEADER.labels("b")._value.get() == 0


def test_a_released_lease_is_taken_at_the_standbys_next_try() -> None:
    leases = FakeLeases()
    a, b = elector(leases, "a", lease.Durations()), elector(leases, "b", lease.Durations())
    assert a.wait_until_leader()
    b.attempt()
    a.release()
    with pytest.raises(NotLeader):
        a.leadership.check()  # it stopped writing before it let go
    assert leases.record is not None and leases.record.holder == ""
    b.attempt()
    assert b.leadership.leading() and leases.record.holder == "b" and leases.record.transitions == 1


def test_a_leader_that_cannot_renew_stops_writing_then_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []
    monkeypatch.setattr(leader.os, "_exit", exits.append)
    leases = FakeLeases()
    a = elector(leases, "a")
    assert a.wait_until_leader()
    leases.down = True
    started = time.monotonic()
    thread = a.renew_in_background()
    thread.join(timeout=5)
    assert exits == [leader.EXIT_LOST]
    assert time.monotonic() - started < FAST.lease  # before any standby could take over
    with pytest.raises(NotLeader):
        a.leadership.check()


def test_endpoints_report_the_leader_on_every_replica() -> None:
    leases = FakeLeases()
    a, b = elector(leases, "a", lease.Durations()), elector(leases, "b", lease.Durations())
    a.wait_until_leader()
    b.attempt()
    servers = [leader.serve_endpoints(e.leadership, "127.0.0.1", 0) for e in (a, b)]
    try:
        for server, expected in zip(servers, (True, False), strict=True):
            base = f"http://127.0.0.1:{server.server_address[1]}"
            with urllib.request.urlopen(f"{base}/leader", timeout=5) as resp:
                assert json.load(resp)["leader"] is expected
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
                assert resp.status == 200  # a standby is healthy and ready
    finally:
        for server in servers:
            server.shutdown()
