"""The controllers post a decision's Events the same way: capped message, in order."""

from __future__ import annotations

import logging

from modelops.api.events import Event
from modelops.controllers.events import MAX_MESSAGE, post_events
from tests.controllers.fakes import FakeKube

BODY = {"apiVersion": "modelops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "m", "namespace": "n"}}


def test_events_are_posted_in_order_with_the_message_capped() -> None:
    kube = FakeKube()
    long = "x" * (MAX_MESSAGE + 50)
    events = [Event("Normal", "Promoted", "v2 is stable"), Event("Warning", "AnalysisFailed", long)]
    post_events(kube, BODY, events, logging.LoggerAdapter(logging.getLogger("test")))
    assert [(e.type, e.reason) for e in kube.events] == [("Normal", "Promoted"), ("Warning", "AnalysisFailed")]
    assert kube.events[1].message == long[:MAX_MESSAGE]
