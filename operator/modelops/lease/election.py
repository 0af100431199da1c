"""One candidate's view of the Lease, and what it does next: acquire, renew, wait or stop.

The rules are client-go's (k8s.io/client-go/tools/leaderelection), because every other
controller in a cluster already relies on them:

- A standby never trusts the holder's `renewTime` (another machine's wall clock). It notes on
  its own monotonic clock when it first saw the current version of the record, and takes the
  Lease only once that version has stood unchanged for `leaseDurationSeconds`.
- The leader believes itself leader until `renew_deadline` after it *sent* its last successful
  write (sent, not answered: the server committed it no earlier than that). Since
  renew_deadline < lease_duration, it stops believing before any standby can take over, with
  room for the two clocks running at slightly different rates.
- Every write is an update with the resourceVersion it was computed from (optimistic
  concurrency): of two candidates racing for an expired Lease, one gets 409 and waits.

`leading()` is the fence the operator checks before each write it sends to the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Durations:
    """client-go's defaults: a standby takes over 15-19 s after the leader's last renewal."""

    lease: float = 15.0  # how long a standby waits on an unchanged record before taking it
    renew_deadline: float = 10.0  # how long the leader keeps acting without a successful renewal
    retry_period: float = 2.0  # the pause between two attempts (acquire or renew)

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease:
            raise ValueError(
                "leader election needs 0 < retryPeriod < renewDeadline < leaseDuration, got "
                f"{self.retry_period:g} / {self.renew_deadline:g} / {self.lease:g}"
            )

    @property
    def lease_seconds(self) -> int:
        """What goes into the record (an integer field): never shorter than the duration we act on."""
        return math.ceil(self.lease)


@dataclass(frozen=True)
class Record:
    """The Lease's spec as the candidates read and write it; `version` is its resourceVersion."""

    holder: str  # "" when nobody holds it (released)
    lease_seconds: int
    acquired: datetime | None = None
    renewed: datetime | None = None
    transitions: int = 0
    version: str = ""  # "" for a record not yet created


@dataclass(frozen=True)
class Elector:
    """What one candidate knows, all on its own monotonic clock."""

    observed: Record | None = None
    observed_at: float = -math.inf  # when this version of the record was first seen
    renewed_at: float | None = None  # when our last successful write was sent; None: not leader


@dataclass(frozen=True)
class Step:
    """The next move: `write` the record (create it when `create`), then wait `wait` seconds;
    `lost`: leadership we had is gone (stop acting at once, then exit)."""

    state: Elector
    write: Record | None = None
    create: bool = False
    wait: float = 0.0
    lost: bool = False


def valid_until(state: Elector, durations: Durations) -> float | None:
    """Until when (monotonic, exclusive) this candidate may act as leader; None for a standby."""
    return None if state.renewed_at is None else state.renewed_at + durations.renew_deadline


def leading(state: Elector, now: float, durations: Durations) -> bool:
    """Whether this candidate may act (write to the API) at `now`: the fence."""
    until = valid_until(state, durations)
    return until is not None and now < until


def step(state: Elector, read: Record | None, me: str, now: float, *, wall: datetime, durations: Durations) -> Step:
    """One attempt from a fresh read of the Lease (None: it does not exist).

    `now` is the monotonic clock (decisions), `wall` the wall clock (only stamped into the record
    for people and tools to read)."""
    if state.renewed_at is not None and not leading(state, now, durations):
        return Step(state, lost=True)  # the renew deadline passed: whatever the read says, stop
    if read is None or state.observed is None or read.version != state.observed.version:
        state = replace(state, observed=read, observed_at=now)
    if read is not None and read.holder and read.holder != me:
        if state.renewed_at is not None:
            return Step(state, lost=True)  # someone holds it while we thought we did
        if now - state.observed_at < read.lease_seconds:
            return Step(state, wait=durations.retry_period)  # held, and not yet expired
    mine = read is not None and read.holder == me
    new = Record(
        holder=me,
        lease_seconds=durations.lease_seconds,
        acquired=read.acquired if mine and read is not None else wall,
        renewed=wall,
        transitions=(read.transitions + (0 if mine else 1)) if read is not None else 0,
        version=read.version if read is not None else "",
    )
    return Step(state, write=new, create=read is None, wait=durations.retry_period)


def written(state: Elector, record: Record, sent_at: float) -> Elector:
    """After a successful write of `record` (now with the server's new version), sent at `sent_at`."""
    del state  # a successful write replaces everything we knew
    return Elector(observed=record, observed_at=sent_at, renewed_at=sent_at)


def release(read: Record | None, me: str, wall: datetime) -> Record | None:
    """The record that hands the Lease over at once (client-go's ReleaseOnCancel): no holder, a
    1-second duration. None when it is not ours to release. Stop acting before sending it."""
    if read is None or read.holder != me:
        return None
    return replace(read, holder="", lease_seconds=1, acquired=None, renewed=wall)


def unreachable(state: Elector, now: float, durations: Durations) -> Step:
    """An attempt whose read or write failed (API server unreachable, timeout): retry, or stop
    once a leader's renew deadline has passed."""
    if state.renewed_at is not None and not leading(state, now, durations):
        return Step(state, lost=True)
    return Step(state, wait=durations.retry_period)
