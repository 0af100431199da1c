"""One reconcile loop (an asyncio task) per object of a kind, fed by kopf watch events.

Not a kopf daemon or timer on purpose: kopf puts a finalizer on every object with a daemon
or timer, and a finalizer means `kubectl delete` hangs whenever the operator is down. The
children are owned and garbage-collected, so nothing needs to run before deletion.

A loop runs `reconcile` (which returns seconds until it is needed again), sleeps that long
or until woken by a change of the object or of one of its children, and retries a failed
pass with backoff. Nothing lives only here: every pass starts from the object's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from modelops.controllers import metrics
from modelops.controllers.slots import PrioritySlots
from modelops.controllers.watch import Key, Wakers
from modelops.kube import Conflict, Kube, NotLeader

ERROR_BACKOFF = (2.0, 5.0, 10.0, 30.0, 60.0)
# Passes in flight at once, over every kind. API calls run on a handful of threads anyway;
# without a bound, the first list of 1,000 objects starts 1,000 passes that all hold their
# state while they queue for those threads, and each pass took 48 s instead of 0.5 s.
# Urgent passes (see `urgent`) get the slots first: controllers/slots.py.
MAX_CONCURRENT_PASSES = int(os.environ.get("MODELOPS_MAX_CONCURRENT_RECONCILES", "16"))
_passes = PrioritySlots(MAX_CONCURRENT_PASSES)


Reconcile = Callable[
    [dict[str, Any], kopf.Memo, dict[str, Any], "logging.LoggerAdapter[logging.Logger]"], Awaitable[float]
]


class Supervisor:
    def __init__(
        self,
        kind: str,
        reconcile: Reconcile,
        logger: logging.Logger,
        on_stop: Callable[[Key], None] | None = None,
        wakers: Wakers | None = None,
        *,
        urgent: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """`wakers`: shared with whatever else wakes these objects (the ModelDeployment's child
        watches); each kind has its own by default, so objects of different kinds with one name
        never take each other's wake-ups. `urgent(body)`: this object's next pass goes before
        routine ones when passes queue for a slot (a rollout in analysis)."""
        self.kind = kind
        self.urgent = urgent or (lambda _body: False)
        self.wakers = wakers or Wakers()
        self.reconcile = reconcile
        self.log = logger
        self.on_stop = on_stop
        self.bodies: dict[Key, dict[str, Any]] = {}
        self.tasks: dict[Key, asyncio.Task[None]] = {}
        self.indexes: dict[str, Any] = {}

    def observe(self, event_type: str | None, body: kopf.Body, memo: kopf.Memo, indexes: dict[str, Any]) -> None:
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED" or body["metadata"].get("deletionTimestamp"):
            self.stop(key)
            return
        self.bodies[key] = copy.deepcopy(dict(body))
        self.indexes = indexes  # kopf's index stores are live; any handler's reference will do
        task = self.tasks.get(key)
        if task is None or task.done():
            name = f"{self.kind.lower()}/{key[0]}/{key[1]}"
            self.tasks[key] = asyncio.create_task(self._loop(key, memo), name=name)
        self.wakers.wake(key)

    def stop(self, key: Key) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()
        self.bodies.pop(key, None)
        self.wakers.forget(key)
        if self.on_stop is not None:
            self.on_stop(key)

    async def stop_all(self) -> None:
        tasks = list(self.tasks.values())
        for key in list(self.tasks):
            self.stop(key)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _reread(self, key: Key, kube: Kube) -> None:
        """Replace the cached body by the object as stored now (the watch may lag behind)."""
        body = self.bodies.get(key)
        if body is None:
            return
        fresh = await kube.get(body["apiVersion"], body["kind"], key[0], key[1])
        if fresh is not None and key in self.bodies:
            self.bodies[key] = fresh

    async def _loop(self, key: Key, memo: kopf.Memo) -> None:
        wake = self.wakers.event(key)
        logger = logging.LoggerAdapter(self.log, {"object": {"namespace": key[0], "name": key[1]}})
        failures = conflicts = 0
        due = time.monotonic()  # when the next pass is needed: the starvation metric counts from here
        while key in self.bodies:
            wake.clear()
            try:
                body = self.bodies.get(key)
                urgent = body is not None and self.urgent(body)
                async with _passes.slot(urgent=urgent):
                    priority = "urgent" if urgent else "routine"
                    metrics.RECONCILE_WAIT.labels(self.kind, priority).observe(max(0.0, time.monotonic() - due))
                    body = self.bodies.get(key)
                    if body is None:  # deleted while waiting for a slot
                        return
                    delay = await self.reconcile(body, memo, self.indexes, logger)
                failures = conflicts = 0
            except asyncio.CancelledError:
                raise
            except Conflict as error:  # someone wrote since our read: read again, decide again
                metrics.RECONCILES.labels(self.kind, "conflict").inc()
                logger.info("object changed since it was read, deciding again: %s", error)
                delay = 0.0 if conflicts < 3 else ERROR_BACKOFF[min(conflicts - 3, len(ERROR_BACKOFF) - 1)]
                conflicts += 1
                await self._reread(key, memo["kube"])
            except NotLeader as error:  # the fence: this replica is being deposed and exits
                logger.warning("write refused, not the leader: %s", error)
                delay = ERROR_BACKOFF[-1]
            except Exception as error:  # a failed pass is retried with backoff, never fatal
                delay = ERROR_BACKOFF[min(failures, len(ERROR_BACKOFF) - 1)]
                failures += 1
                metrics.RECONCILES.labels(self.kind, "error").inc()
                logger.exception("reconcile failed (retry in %.0fs): %s", delay, error)
            due = time.monotonic() + delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
            due = min(due, time.monotonic())  # woken early: needed now; late: the event loop's lag counts
