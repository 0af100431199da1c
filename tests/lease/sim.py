"""A discrete-event simulation of candidates electing a leader through one Lease.

True time drives an event queue. Each candidate has its own monotonic clock (an offset and a
rate within +-`skew`), its requests take up to `max_delay` to reach the server and as long
again to come back, and it can be killed (restarting later with the same identity, like a pod)
or paused (SIGSTOP: a partition from its own point of view). The server applies writes
atomically with optimistic concurrency on the record's version.

`beliefs` records, per candidate, the true-time intervals during which `leading()` (the fence
checked before every write) said yes: the property tests check that no two overlap.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from modelops.lease import Durations, Elector, Record, leading, step, unreachable, valid_until, written

WALL0 = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class Candidate:
    name: str
    offset: float
    rate: float
    state: Elector = field(default_factory=Elector)
    alive: bool = True
    paused_until: float = 0.0
    unreachable_until: float = 0.0
    since: float = 0.0  # true time the current state took effect
    beliefs: list[tuple[float, float]] = field(default_factory=list)
    exits: int = 0
    incarnation: int = 0  # a restart ignores what the killed process had in flight

    def local(self, t: float) -> float:
        return self.offset + self.rate * t

    def true(self, local: float) -> float:
        return (local - self.offset) / self.rate

    def close(self, t: float, durations: Durations) -> None:
        """The current state ends at true time t: record the part of it that believed it led."""
        until = valid_until(self.state, durations)  # what leading() checks
        if until is not None:
            end = min(t, self.true(until))
            if end > self.since:
                self.beliefs.append((self.since, end))

    def become(self, state: Elector, t: float, durations: Durations) -> None:
        self.close(t, durations)
        self.state, self.since = state, t


@dataclass
class Sim:
    durations: Durations
    candidates: list[Candidate]
    rng: random.Random
    max_delay: float = 0.0
    record: Record | None = None
    versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    queue: list[tuple[float, int, str, int, Record | None, float, int]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    restart_after: float = 1.0
    acquisitions: list[tuple[float, str]] = field(default_factory=list)  # (true time, who) of each takeover

    @classmethod
    def of(cls, n: int, durations: Durations, *, seed: int = 0, skew: float = 0.0, max_delay: float = 0.0) -> Sim:
        rng = random.Random(seed)
        candidates = [
            Candidate(f"c{i}", offset=rng.uniform(0, 1000), rate=1 + rng.uniform(-skew, skew)) for i in range(n)
        ]
        sim = cls(durations, candidates, rng, max_delay)
        for i in range(n):
            sim.push(rng.uniform(0, durations.retry_period), "step", i)
        return sim

    def push(self, t: float, what: str, i: int, write: Record | None = None, sent: float = 0.0) -> None:
        incarnation = self.candidates[i].incarnation
        heapq.heappush(self.queue, (t, next(self.seq), what, i, write, sent, incarnation))

    def push_as(self, incarnation: int, t: float, what: str, i: int, write: Record | None, *, sent: float) -> None:
        heapq.heappush(self.queue, (t, next(self.seq), what, i, write, sent, incarnation))

    def delay(self) -> float:
        return self.rng.uniform(0, self.max_delay)

    def kill(self, i: int, t: float) -> None:
        self.push(t, "kill", i)

    def pause(self, i: int, t: float, seconds: float) -> None:
        self.push(t, "pause", i, sent=seconds)

    def cut(self, i: int, t: float, seconds: float) -> None:
        """Requests from candidate i fail (API server unreachable) from t for `seconds`."""
        self.push(t, "cut", i, sent=seconds)

    def run(self, until: float) -> None:
        while self.queue and self.queue[0][0] <= until:
            t, _, what, i, write, sent, incarnation = heapq.heappop(self.queue)
            c = self.candidates[i]
            if what == "commit":  # the server applies a request already sent, whatever the sender does now
                assert write is not None
                if write.version == "":
                    ok = self.record is None
                else:
                    ok = self.record is not None and self.record.version == write.version
                if ok and t >= c.unreachable_until:
                    self.record = replace(write, version=str(next(self.versions)))
                    self.push_as(incarnation, t + self.delay(), "answer", i, self.record, sent=sent)
                else:
                    self.push_as(incarnation, t + self.delay(), "answer", i, None, sent=sent)
                continue
            if what == "kill":
                if c.alive:
                    c.become(Elector(), t, self.durations)
                    c.alive = False
                    self.push(t + self.restart_after, "restart", i)
                continue
            if what == "pause":
                c.paused_until = max(c.paused_until, t + sent)
                continue
            if what == "cut":
                c.unreachable_until = max(c.unreachable_until, t + sent)
                continue
            if what == "restart":
                c.incarnation += 1
                c.alive, c.state, c.since = True, Elector(), t
                self.push(t, "step", i)
                continue
            if not c.alive or incarnation != c.incarnation:
                continue  # events of a killed process
            if c.paused_until > t:
                self.push(c.paused_until, what, i, write, sent)  # a stopped process does nothing
                continue
            if what == "answer":
                if write is not None:
                    if c.state.renewed_at is None:
                        self.acquisitions.append((t, c.name))
                    c.become(written(c.state, write, sent), t, self.durations)
                self.push(t + c.true(c.local(t) + self.durations.retry_period) - t, "step", i)
                continue
            # a step: read (atomic at t), decide, maybe send a write
            now = c.local(t)
            if t < c.unreachable_until:
                decision = unreachable(c.state, now, self.durations)
            else:
                decision = step(c.state, self.record, c.name, now, wall=WALL0, durations=self.durations)
            if decision.lost:
                c.become(Elector(), t, self.durations)
                c.alive = False  # exit 3; the pod restarts it as a standby
                c.exits += 1
                self.push(t + self.restart_after, "restart", i)
                continue
            c.state = decision.state  # an observation only: leadership unchanged
            if decision.write is not None:
                self.push(t + self.delay(), "commit", i, decision.write, now)
            else:
                self.push(c.true(now + decision.wait), "step", i)

    def finish(self, t: float) -> None:
        for c in self.candidates:
            c.close(t, self.durations)
            c.since = t

    def leader_at(self, t: float) -> list[str]:
        return [c.name for c in self.candidates if any(a <= t < b for a, b in c.beliefs)]

    def leading_now(self, t: float) -> list[str]:
        return [c.name for c in self.candidates if c.alive and leading(c.state, c.local(t), self.durations)]


def overlaps(sim: Sim) -> list[tuple[str, tuple[float, float], str, tuple[float, float]]]:
    """Pairs of belief intervals of different candidates that intersect."""
    out = []
    for a, b in itertools.combinations(sim.candidates, 2):
        for x in a.beliefs:
            for y in b.beliefs:
                if x[0] < y[1] and y[0] < x[1]:
                    out.append((a.name, x, b.name, y))
    return out
