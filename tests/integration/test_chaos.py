"""The chaos campaign, short: two rollouts on each router while the operator is killed, Prometheus and
the API server restart (bench/chaos.py runs the long one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelops_devcluster.chaos import plan, run
from modelops_devcluster.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack("chaos", log=lambda line: None) as s:
        yield s


def test_rollouts_end_as_planned_and_nothing_is_lost_under_faults(stack: Stack) -> None:
    artifacts = {v: stack.train("m", v, rows=4000, seed=i) for i, v in enumerate(("v1", "a", "b"), start=1)}
    the_plan = plan(seed=3, deployments=3, rollouts=6)  # one per router, each healthy and broken in turn
    assert {r.broken for r in the_plan.rollouts} == {True, False}, the_plan  # both kinds of outcome are exercised
    report = run(
        stack,
        artifacts,
        the_plan,
        rate=15,
        every=(6.0, 12.0),
        prometheus_restarts=1,
        apiserver_restarts=1,
        triggers=2,
        log=lambda line: None,
    )
    summary = report.summary()
    kinds = {f.what for f in report.injected}
    assert "operator-kill" in kinds, summary
    assert not report.mismatched, summary
    assert report.unexpected_failures == 0, (summary, report.failure_examples)
    assert report.triggers == report.runs == report.jobs, summary
