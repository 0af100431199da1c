"""Post the Events a pure decision emitted, the same way for every kind.

The decisions (rollout, retrain, drift) return `modelops.api.events.Event`s; the controllers
post them after the status write, so an Event never announces a state that was not stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from modelops.api.events import Event
from modelops.kube import Kube

MAX_MESSAGE = 1000  # the API server refuses longer Event messages


def post_events(
    kube: Kube, body: Mapping[str, Any], events: Iterable[Event], logger: logging.LoggerAdapter[logging.Logger]
) -> None:
    """Queue each Event about `body` (message capped) and log it in full."""
    for event in events:
        kube.event(body, event.type, event.reason, event.message[:MAX_MESSAGE])
        logger.info("%s: %s", event.reason, event.message)
