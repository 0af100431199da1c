"""Reconcile slots: urgent first, FIFO within a class, routine ones served every (urgent_run+1)th grant."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from modelops.controllers.slots import PrioritySlots, SlotQueue

# (kind, urgent): "request" a slot, "release" one held, "cancel" the oldest waiter
Op = tuple[str, bool]
ops = st.lists(st.tuples(st.sampled_from(["request", "request", "release", "cancel"]), st.booleans()), max_size=80)


@given(slots=st.integers(1, 4), urgent_run=st.integers(1, 5), steps=ops)
def test_slots_are_bounded_urgent_first_and_nobody_starves(slots: int, urgent_run: int, steps: list[Op]) -> None:
    queue = SlotQueue(slots, urgent_run)
    held: list[int] = []
    waiting: dict[int, bool] = {}  # ticket -> urgent: the model of the queue, in arrival order
    streak = 0  # urgent grants since the last routine one

    def grant(ticket: int | None) -> None:
        nonlocal streak
        if ticket is None:
            assert not waiting
            return
        urgent = waiting.pop(ticket)
        assert all(t > ticket for t, u in waiting.items() if u == urgent), "not FIFO within a class"
        if urgent:
            assert streak < urgent_run or not any(not u for u in waiting.values()), "routine starved"
            streak += 1
        else:
            assert streak >= urgent_run or not any(waiting.values()), "routine went before urgent out of turn"
            streak = 0
        held.append(ticket)

    for ticket, (kind, urgent) in enumerate(steps):
        if kind == "request":
            if queue.request(ticket, urgent=urgent):
                assert not waiting
                held.append(ticket)
            else:
                waiting[ticket] = urgent
        elif kind == "release" and held:
            held.pop(0)
            grant(queue.release())
        elif kind == "cancel" and waiting:
            gone = min(waiting)
            del waiting[gone]
            queue.cancel(gone)
        assert queue.busy == len(held) <= slots
        assert queue.waiting() == len(waiting)
    while held:  # everything queued is granted once the holders let go: nobody starves
        held.pop(0)
        grant(queue.release())
    assert not waiting and queue.busy == 0


def test_an_urgent_pass_overtakes_queued_routine_ones() -> None:
    order: list[str] = []

    async def scenario() -> None:
        slots = PrioritySlots(1, urgent_run=3)
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
