"""Reconcile slots handed out urgent-first, so a rollout in analysis never queues behind a fleet's chores.

The operator runs at most N passes at once (supervisor.MAX_CONCURRENT_PASSES). When more are due
(1,000 objects created at once, a restart's sweep, thousands of objects), a plain FIFO queue made
a failing canary's analysis pass wait behind every routine pass: bench/fleet_rollback.py measured
a mean wait of 89 s while 1,000 ModelDeployments were created. Here a waiter is urgent (an object
with a rollout or bake under way, whose pass may have to move traffic) or routine; urgent ones go
first, FIFO within a class, and a routine waiter that has waited `promote_after` seconds competes
as urgent (by arrival), so routine work is delayed, never starved.

`SlotQueue` is the pure bookkeeping (the clock is an argument); `PrioritySlots` puts it on asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

PROMOTE_AFTER = 30.0  # seconds: a routine pass waits at most about this long behind urgent ones


@dataclass
class SlotQueue:
    """N slots; waiters granted urgent-first, FIFO within a class, routine promoted after a wait."""

    slots: int
    promote_after: float = PROMOTE_AFTER
    busy: int = 0
    _urgent: deque[tuple[int, float]] = field(default_factory=deque)  # (ticket, queued at)
    _routine: deque[tuple[int, float]] = field(default_factory=deque)
    _cancelled: set[int] = field(default_factory=set)

    def request(self, ticket: int, *, urgent: bool, now: float) -> bool:
        """True: the slot is the caller's now. False: queued until `release` hands it this ticket."""
        if self.busy < self.slots and not self.waiting():
            self.busy += 1
            return True
        (self._urgent if urgent else self._routine).append((ticket, now))
        return False

    def cancel(self, ticket: int) -> None:
        """A waiter gave up (its task was cancelled) before it was granted."""
        self._cancelled.add(ticket)

    def release(self, now: float) -> int | None:
        """A slot came free: the ticket it now belongs to, or None (the slot stays free)."""
        ticket = self._next(now)
        if ticket is None:
            self.busy -= 1
        return ticket

    def waiting(self) -> int:
        self._drop_cancelled()
        return len(self._urgent) + len(self._routine) - len(self._cancelled)

    def _drop_cancelled(self) -> None:
        for queue in (self._urgent, self._routine):
            while queue and queue[0][0] in self._cancelled:
                self._cancelled.discard(queue.popleft()[0])

    def _next(self, now: float) -> int | None:
        self._drop_cancelled()
        urgent, routine = self._urgent, self._routine
        if routine and (not urgent or (now - routine[0][1] >= self.promote_after and routine[0][1] < urgent[0][1])):
            return routine.popleft()[0]
        if urgent:
            return urgent.popleft()[0]
        return None


class PrioritySlots:
    """`async with slots.slot(urgent=...)`: a SlotQueue on the running loop (one per process)."""

    def __init__(self, slots: int, promote_after: float = PROMOTE_AFTER) -> None:
        self.queue = SlotQueue(max(1, slots), promote_after)
        self._tickets = itertools.count()
        self._granted: dict[int, asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, *, urgent: bool) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        ticket = next(self._tickets)
        if not self.queue.request(ticket, urgent=urgent, now=loop.time()):
            granted = self._granted[ticket] = loop.create_future()
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():  # granted as it was cancelled: pass it on
                    self._release()
                else:
                    self.queue.cancel(ticket)
                raise
            finally:
                self._granted.pop(ticket, None)
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        ticket = self.queue.release(asyncio.get_running_loop().time())
        if ticket is not None:
            self._granted[ticket].set_result(None)
