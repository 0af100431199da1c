"""The canary analysis' windows and checks, against a scripted Prometheus (the real one: tests/integration)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import cast

from modelops.analysis.checks import Verdict
from modelops.api.v1alpha1.modeldeployment import AnalysisSpec
from modelops.prom.canary import Variant, analyze
from modelops.prom.client import PrometheusClient, PrometheusError, Sample

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=15)
SPEC = AnalysisSpec.model_validate({"compareToStable": False, "predictionDrift": {"enabled": False}})


class Scripted:
    """Answers the SLO queries from (bad, total) per range, for errors and for slow requests alike."""

    def __init__(self, windows: Mapping[str, tuple[float, float]], *, down: bool = False) -> None:
        self.windows, self.down, self.queries = windows, down, list[str]()

    async def query(self, expr: str, *, time: datetime) -> list[Sample]:
        if self.down:
            raise PrometheusError("http://prometheus:9090", expr, "connection refused")
        self.queries.append(expr)
        assert time == AT
        ranges = set(re.findall(r"\[(\w+)\]", expr))
        assert len(ranges) == 1, expr
        bad, total = self.windows[ranges.pop()]
        if 'code=~"5.."' in expr or " - " in expr:  # errors, or requests slower than the threshold
            return [Sample({}, bad)]
        return [Sample({}, total)]

    async def series(self, *matchers: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        return [{"le": le} for le in ("0.1", "0.25", "+Inf")]


def _analyze(client: Scripted, started: datetime | None) -> dict[str, tuple[Verdict, str]]:
    prometheus = cast(PrometheusClient, client)
    canary, stable = Variant("ns", "m", "v2"), Variant("ns", "m", "v1")
    judged = analyze(prometheus, SPEC, canary=canary, stable=stable, interval=INTERVAL, min_requests=20, at=AT,
                     started=started)  # fmt: skip
    analysis = asyncio.run(judged)
    return {c.name: (c.verdict, c.reason) for c in analysis.checks} | {"": (analysis.verdict, analysis.failing())}


def test_a_lucky_interval_does_not_hide_what_the_rollout_so_far_shows() -> None:
    # 1 error in this interval's 40 requests is not confidently above 1.44%; 24 in the rollout's 400 is
    client = Scripted({"15s": (1, 40), "2m": (24, 400)})
    checks = _analyze(client, started=AT - timedelta(minutes=2))
    assert checks["availability"][0] is Verdict.PASS
    assert checks["availability-since-start"][0] is Verdict.FAIL
    assert "24/400 bad (6.00%) since the rollout began 2m ago" in checks["availability-since-start"][1]
    # the scripted slow requests are as many, but 6% slow is within 14.4 x the latency SLO's 1% budget
    assert checks["latency-since-start"][0] is Verdict.PASS
    assert checks[""][0] is Verdict.FAIL and "since the rollout began" in checks[""][1]


def test_a_healthy_rollout_passes_both_windows() -> None:
    checks = _analyze(Scripted({"15s": (0, 40), "2m": (0, 400)}), started=AT - timedelta(minutes=2))
    assert {name: verdict for name, (verdict, _) in checks.items()} == {
        "availability": Verdict.PASS, "availability-since-start": Verdict.PASS,
        "latency": Verdict.PASS, "latency-since-start": Verdict.PASS, "": Verdict.PASS,
    }  # fmt: skip


def test_the_rollout_window_starts_at_two_intervals_and_looks_back_a_day_at_most() -> None:
    for started in (None, AT - INTERVAL, AT - 2 * INTERVAL + timedelta(seconds=1)):
        client = Scripted({"15s": (0, 40)})
        assert "availability-since-start" not in _analyze(client, started), started
        assert all("[15s]" in q for q in client.queries)
    client = Scripted({"15s": (0, 40), "30s": (0, 80)})
    assert "availability-since-start" in _analyze(client, AT - 2 * INTERVAL)
    client = Scripted({"15s": (0, 40), "1d": (0, 9000)})
    assert _analyze(client, AT - timedelta(days=3))["availability-since-start"][0] is Verdict.PASS


def test_too_few_requests_over_the_rollout_is_unknown_and_so_is_a_blind_prometheus() -> None:
    checks = _analyze(Scripted({"15s": (0, 40), "45s": (0, 0)}), started=AT - 3 * INTERVAL)
    assert checks["availability-since-start"] == (
        Verdict.UNKNOWN, "no traffic to the canary since the rollout began 45s ago (no data)"
    )  # fmt: skip
    assert checks[""][0] is Verdict.UNKNOWN
    blind = _analyze(Scripted({}, down=True), started=AT - 3 * INTERVAL)
    assert set(blind) == {"availability", "availability-since-start", "latency", "latency-since-start", ""}
    assert all(verdict is Verdict.UNKNOWN for verdict, _ in blind.values())
