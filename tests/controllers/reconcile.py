"""Run one controller pass against the fakes, the way the supervisor's loop would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import kopf

from tests.controllers.fakes import FakeKube, indexes

Reconcile = Callable[
    [dict[str, Any], kopf.Memo, dict[str, Any], "logging.LoggerAdapter[logging.Logger]"], Coroutine[Any, Any, float]
]
LOGGER = logging.LoggerAdapter(logging.getLogger("tests.controllers"), {})


def run_pass(reconcile: Reconcile, kube: FakeKube, memo: kopf.Memo, kind: str, name: str) -> float:
    """One pass over the object as stored now (its latest status included); returns the requeue delay."""
    body = kube.find(kind, name)
    assert body is not None, f"no {kind} {name}"
    return asyncio.run(reconcile(body, memo, indexes(kube), LOGGER))
