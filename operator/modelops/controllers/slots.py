"""Reconcile slots handed out urgent-first, so a rollout in analysis never queues behind a fleet's chores.

The operator runs at most N passes at once (supervisor.MAX_CONCURRENT_PASSES). When more are due
(1,000 objects created at once, a restart's sweep, thousands of objects), a plain FIFO queue made
a failing canary's analysis pass wait behind every routine pass: bench/fleet_rollback.py measured
a mean wait of 89 s while 1,000 ModelDeployments were created. Here a waiter is urgent (an object
with a rollout or bake under way, whose pass may have to move traffic) or routine; FIFO within a
class, urgent ones first, except that after URGENT_RUN urgent grants in a row a waiting routine
one gets the next slot: routine work keeps at least 1/(URGENT_RUN+1) of the slots and never
starves, and an urgent waiter never queues behind the routine backlog (an age-based promotion
would let a backlog older than the limit go first again, exactly when it is longest).

`SlotQueue` is the pure bookkeeping (no clock: the order is by arrival and class only);
`PrioritySlots` puts it on asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

URGENT_RUN = 3  # urgent grants in a row before a waiting routine pass gets one


@dataclass
class SlotQueue:
    """N slots; waiters granted urgent-first, FIFO within a class, every (urgent_run+1)th to routine."""

    slots: int
    urgent_run: int = URGENT_RUN
    busy: int = 0
    streak: int = 0  # urgent grants since the last routine one
    _urgent: deque[int] = field(default_factory=deque)  # tickets, in arrival order
    _routine: deque[int] = field(default_factory=deque)
    _cancelled: set[int] = field(default_factory=set)

    def request(self, ticket: int, *, urgent: bool) -> bool:
        """True: the slot is the caller's now. False: queued until `release` hands it this ticket."""
        if self.busy < self.slots and not self.waiting():
            self.busy += 1
            return True
        (self._urgent if urgent else self._routine).append(ticket)
        return False

    def cancel(self, ticket: int) -> None:
        """A waiter gave up (its task was cancelled) before it was granted."""
        self._cancelled.add(ticket)

    def release(self) -> int | None:
        """A slot came free: the ticket it now belongs to, or None (the slot stays free)."""
        ticket = self._next()
        if ticket is None:
            self.busy -= 1
        return ticket

    def waiting(self) -> int:
        self._drop_cancelled()
        return len(self._urgent) + len(self._routine) - len(self._cancelled)

    def _drop_cancelled(self) -> None:
        for queue in (self._urgent, self._routine):
            while queue and queue[0] in self._cancelled:
                self._cancelled.discard(queue.popleft())

    def _next(self) -> int | None:
        self._drop_cancelled()
        urgent, routine = self._urgent, self._routine
        if routine and (not urgent or self.streak >= self.urgent_run):
            self.streak = 0
            return routine.popleft()
        if urgent:
            self.streak += 1
            return urgent.popleft()
        return None


class PrioritySlots:
    """`async with slots.slot(urgent=...)`: a SlotQueue on the running loop (one per process)."""

    def __init__(self, slots: int, urgent_run: int = URGENT_RUN) -> None:
        self.queue = SlotQueue(max(1, slots), urgent_run)
        self._tickets = itertools.count()
        self._granted: dict[int, asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, *, urgent: bool) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        ticket = next(self._tickets)
        if not self.queue.request(ticket, urgent=urgent):
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
        ticket = self.queue.release()
        if ticket is not None:
            self._granted[ticket].set_result(None)
