"""The stable version's SLOs for the bake and the freeze, against a scripted Prometheus."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import cast

from modelops.analysis.slo import PairStatus, StableSLOs
from modelops.api.v1alpha1.modeldeployment import SLOSpec
from modelops.prom.client import PrometheusClient, PrometheusError, Sample
from modelops.prom.sli import stable_slos

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LABELS = {"namespace": "ns", "model": "m", "version": "v3"}


class Scripted:
    """Every window holds 100,000 requests; errors and slow requests are 5% of them."""

    def __init__(self, *, down: bool = False, edges: tuple[str, ...] = ("0.1", "0.25", "+Inf")) -> None:
        self.down, self.edges, self.ranges = down, edges, set[str]()

    async def query(self, expr: str, *, time: datetime) -> list[Sample]:
        if self.down:
            raise PrometheusError("http://prometheus:9090", expr, "connection refused")
        self.ranges |= set(re.findall(r"\[(\w+)\]", expr))
        bad = 'code=~"5.."' in expr or " - " in expr
        return [Sample({}, 5_000.0 if bad else 100_000.0)]

    async def series(self, *matchers: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        return [{"le": le} for le in self.edges]


def _read(client: Scripted, since: datetime | None = None) -> StableSLOs:
    return asyncio.run(stable_slos(cast(PrometheusClient, client), SLOSpec(), LABELS, at=AT, since=since))


def test_every_declared_slo_is_read_over_every_window() -> None:
    client = Scripted()
    slos = _read(client)
    assert set(slos.evaluations) == {"availability", "latency"} and slos.blind is None
    assert all(ev.status is PairStatus.FIRING for ev in slos.evaluations.values())
    assert client.ranges == {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}


def test_a_bake_judges_only_the_attempt_that_led_to_it() -> None:
    """Errors of an earlier, rolled-back attempt of the same version are outside every window."""
    client = Scripted()
    _read(client, since=AT - timedelta(minutes=3))
    assert client.ranges == {"3m"}


def test_what_cannot_be_read_says_why() -> None:
    assert "Prometheus unavailable: connection refused" in (_read(Scripted(down=True)).blind or "")
    missing = _read(Scripted(edges=("0.1", "+Inf")))
    assert "latency SLO cannot be judged" in (missing.blind or "")
    assert set(missing.evaluations) == {"availability"}
