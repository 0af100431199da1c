"""Reconcile slots: urgent first, FIFO within a class, routine waiters promoted after a wait."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from modelops.controllers.slots import PrioritySlots, SlotQueue

# (kind, urgent, seconds passing before it): "request" a slot, "release" one held, "cancel" a waiter
Op = tuple[str, bool, float]
ops = st.lists(
    st.tuples(st.sampled_from(["request", "request", "release", "cancel"]), st.booleans(), st.floats(0, 20)),
    max_size=80,
)


@given(slots=st.integers(1, 4), promote_after=st.floats(1, 60), steps=ops)
def test_slots_are_bounded_urgent_first_and_nobody_starves(slots: int, promote_after: float, steps: list[Op]) -> None:
    queue = SlotQueue(slots, promote_after)
    now = 0.0
    held: list[int] = []
    waiting: dict[int, tuple[bool, float]] = {}  # ticket -> (urgent, queued at), the model of the queue
    granted_order: list[int] = []

    def grant(ticket: int | None) -> None:
        if ticket is None:
            return
        urgent, queued = waiting.pop(ticket)
        urgent_waiting = [q for u, q in waiting.values() if u]
        overdue = not urgent and now - queued >= promote_after
        if urgent_waiting and not (overdue and queued < min(urgent_waiting)):
            assert urgent, "a routine waiter went before an urgent one without having waited promote_after"
        same_class = [q for u, q in waiting.values() if u == urgent]
        assert not same_class or queued <= min(same_class), "not FIFO within a class"
        held.append(ticket)
        granted_order.append(ticket)

    for ticket, (kind, urgent, dt) in enumerate(steps):
        now += dt
        if kind == "request":
            if queue.request(ticket, urgent=urgent, now=now):
                assert not waiting
                held.append(ticket)
            else:
                waiting[ticket] = (urgent, now)
        elif kind == "release" and held:
            held.pop(0)
            grant(queue.release(now))
        elif kind == "cancel" and waiting:
            gone = min(waiting)
            del waiting[gone]
            queue.cancel(gone)
        assert queue.busy == len(held) <= slots
        assert queue.waiting() == len(waiting)
    while held:  # everything queued is granted once the holders let go: nobody starves
        held.pop(0)
        now += 1.0
        grant(queue.release(now))
    assert not waiting and queue.busy == 0


def test_an_urgent_pass_overtakes_queued_routine_ones() -> None:
    order: list[str] = []

    async def scenario() -> None:
        slots = PrioritySlots(1, promote_after=60)
        started = asyncio.Event()

        async def run(name: str, urgent: bool) -> None:
            async with slots.slot(urgent=urgent):
                order.append(name)
                started.set()
                await asyncio.sleep(0.01)

        first = asyncio.create_task(run("holder", False))
        await started.wait()
        routine = [asyncio.create_task(run(f"routine{i}", False)) for i in range(3)]
        await asyncio.sleep(0)
        urgent = asyncio.create_task(run("canary", True))
        await asyncio.gather(first, *routine, urgent)

    asyncio.run(scenario())
    assert order == ["holder", "canary", "routine0", "routine1", "routine2"]


def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    order: list[str] = []

    async def scenario() -> None:
        slots = PrioritySlots(1)
        release = asyncio.Event()

        async def run(name: str) -> None:
            async with slots.slot(urgent=False):
                order.append(name)
                await release.wait()

        holder = asyncio.create_task(run("holder"))
        await asyncio.sleep(0)
        gone, after = asyncio.create_task(run("gone")), asyncio.create_task(run("after"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holder, after)
        assert slots.queue.busy == 0

    asyncio.run(scenario())
    assert order == ["holder", "after"]
