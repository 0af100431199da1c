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
SPEC = AnalysisSpec.model_validate(
    {"compareToStable": False, "predictionDrift": {"enabled": False}, "invalidRequests": {"enabled": False}}
)


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
    judged = analyze(
        prometheus, SPEC, canary=canary, stable=stable, interval=INTERVAL, min_requests=20, at=AT, started=started
    )
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
        "availability": Verdict.PASS,
        "availability-since-start": Verdict.PASS,
        "latency": Verdict.PASS,
        "latency-since-start": Verdict.PASS,
        "": Verdict.PASS,
    }


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
        Verdict.UNKNOWN,
        "no traffic to the canary since the rollout began 45s ago (no data)",
    )
    assert checks[""][0] is Verdict.UNKNOWN
    blind = _analyze(Scripted({}, down=True), started=AT - 3 * INTERVAL)
    assert set(blind) == {"availability", "availability-since-start", "latency", "latency-since-start", ""}
    assert all(verdict is Verdict.UNKNOWN for verdict, _ in blind.values())


# -- invalid-vs-stable: refused inputs, canary vs stable -----------------------------------------

INVALID_ONLY = AnalysisSpec.model_validate(
    {"slo": {"latency": None}, "compareToStable": False, "predictionDrift": {"enabled": False}}
)


class Refusing:
    """Answers per version: requests_total (every answered code, refusals included) and the refusal
    counter by reason; a version missing from `invalid` exports no refusal counter at all."""

    def __init__(self, requests: Mapping[str, float], invalid: Mapping[str, Mapping[str, float]]) -> None:
        self.requests, self.invalid, self.queries = requests, invalid, list[str]()

    async def query(self, expr: str, *, time: datetime) -> list[Sample]:
        self.queries.append(expr)
        version = re.search(r'version="(\w+)"', expr)
        assert version is not None, expr
        v = version.group(1)
        if expr.startswith("sum by (reason)"):
            return [Sample({"reason": r}, n) for r, n in self.invalid.get(v, {}).items()]
        if "modelops_invalid_requests_total" in expr:  # the total: requests + refused for their path
            assert 'reason="unknown_model"' in expr and "or vector(0)" in expr, expr
            return [Sample({}, self.requests[v] + self.invalid.get(v, {}).get("unknown_model", 0.0))]
        if 'code=~"5.."' in expr:
            return [Sample({}, 0.0)]
        return [Sample({}, self.requests[v])]

    async def series(self, *matchers: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        return []


def _invalid(client: Refusing, spec: AnalysisSpec = INVALID_ONLY) -> tuple[Verdict, Verdict, str, float | None]:
    canary, stable = Variant("ns", "m", "v2"), Variant("ns", "m", "v1")
    judged = analyze(
        cast(PrometheusClient, client), spec, canary=canary, stable=stable, interval=INTERVAL, min_requests=100, at=AT
    )
    analysis = asyncio.run(judged)
    check = {c.name: c for c in analysis.checks}["invalid-vs-stable"]
    return check.verdict, analysis.verdict, check.reason, check.value


def test_a_canary_refusing_inputs_stable_accepts_fails() -> None:
    # the reference server counts a 400 in requests_total{code="400"} and in the refusal counter
    client = Refusing({"v2": 300, "v1": 600}, {"v2": {"missing_feature": 90, "nan": 0}, "v1": {"missing_feature": 0}})
    verdict, combined, reason, value = _invalid(client)
    assert (verdict, combined) == (Verdict.FAIL, Verdict.FAIL)
    assert value == 0.3
    assert "canary refused 90/300 (30.00%) vs stable 0/600 (0.00%)" in reason and "missing_feature 90" in reason
    queries = [q for q in client.queries if "invalid" in q]
    assert 'modelops_invalid_requests_total{namespace="ns",model="m",version="v2"}' in queries[1]


def test_a_canary_refusing_what_stable_refuses_passes() -> None:
    # a stable that refuses a fifth of its inputs (a client sending an old field) sets the bar
    client = Refusing({"v2": 300, "v1": 600}, {"v2": {"missing_feature": 63}, "v1": {"missing_feature": 120}})
    verdict, combined, reason, value = _invalid(client)
    assert (verdict, combined) == (Verdict.PASS, Verdict.PASS), reason
    assert value is not None and abs(value - 0.01) < 1e-9


def test_requests_refused_for_their_path_are_received_once() -> None:
    # unknown_model refusals never reach requests_total: the total adds them, so 50 of 150, not 50 of 100
    client = Refusing({"v2": 100, "v1": 600}, {"v2": {"unknown_model": 50}, "v1": {"unknown_model": 0}})
    verdict, _, reason, _ = _invalid(client)
    assert verdict is Verdict.FAIL and "50/150 (33.33%)" in reason


def test_servers_without_the_refusal_counter_skip_the_check_without_holding_the_rollout() -> None:
    verdict, combined, reason, value = _invalid(Refusing({"v2": 300, "v1": 600}, {}))
    assert (verdict, combined, value) == (Verdict.SKIPPED, Verdict.PASS, None)
    assert "neither version exports modelops_invalid_requests_total" in reason
    # one side blind is Unknown: that version's refusals cannot be seen
    verdict, combined, reason, _ = _invalid(Refusing({"v2": 300, "v1": 600}, {"v1": {"nan": 0}}))
    assert (verdict, combined) == (Verdict.UNKNOWN, Verdict.UNKNOWN)
    assert "the canary exports no modelops_invalid_requests_total while the stable does" in reason
    # no traffic is Unknown before anything else, counter or not
    verdict, combined, reason, _ = _invalid(Refusing({"v2": 0, "v1": 600}, {}))
    assert (verdict, combined) == (Verdict.UNKNOWN, Verdict.UNKNOWN) and "no canary traffic" in reason


def test_disabled_it_sends_no_query_and_a_blind_prometheus_names_it() -> None:
    client = Refusing({"v2": 300, "v1": 600}, {})
    spec = INVALID_ONLY.model_copy(
        update={"invalid_requests": INVALID_ONLY.invalid_requests.model_copy(update={"enabled": False})}
    )
    canary, stable = Variant("ns", "m", "v2"), Variant("ns", "m", "v1")
    analysis = asyncio.run(
        analyze(
            cast(PrometheusClient, client),
            spec,
            canary=canary,
            stable=stable,
            interval=INTERVAL,
            min_requests=100,
            at=AT,
        )
    )
    assert "invalid-vs-stable" not in {c.name for c in analysis.checks}
    assert not any("invalid" in q for q in client.queries)
    blind = _analyze(Scripted({}, down=True), started=None)
    assert "invalid-vs-stable" not in blind  # SPEC disables it
    down = analyze(
        cast(PrometheusClient, Scripted({}, down=True)),
        INVALID_ONLY,
        canary=canary,
        stable=stable,
        interval=INTERVAL,
        min_requests=100,
        at=AT,
    )
    checks = {c.name: c.verdict for c in asyncio.run(down).checks}
    assert checks == {"availability": Verdict.UNKNOWN, "invalid-vs-stable": Verdict.UNKNOWN}


# -- latency-vs-stable: ranks and means, canary vs stable ----------------------------------------

LATENCY_ONLY = {"slo": {"latency": None}, "predictionDrift": {"enabled": False}, "invalidRequests": {"enabled": False}}
EDGES = ("0.001", "0.0025", "+Inf")


class Timed:
    """Answers per version: cumulative latency buckets by le, the mean (sum / count), requests and no errors."""

    def __init__(self, per_bucket: Mapping[str, list[float]], means: Mapping[str, float | None]) -> None:
        self.per_bucket, self.means, self.queries = per_bucket, means, list[str]()

    async def query(self, expr: str, *, time: datetime) -> list[Sample]:
        self.queries.append(expr)
        version = re.search(r'version="(\w+)"', expr)
        assert version is not None, expr
        counts = self.per_bucket[version.group(1)]
        if expr.startswith("sum by (le)"):
            cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
            return [Sample({"le": le}, c) for le, c in zip(EDGES, cumulative, strict=True)]
        if "_sum{" in expr:
            mean = self.means[version.group(1)]
            return [] if mean is None else [Sample({}, mean)]
        return [Sample({}, 0.0 if 'code=~"5.."' in expr else sum(counts))]

    async def series(self, *matchers: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        return []


def _latency(client: Timed, tolerance: Mapping[str, object] | None = None) -> tuple[Verdict, str]:
    spec = AnalysisSpec.model_validate({**LATENCY_ONLY, "latencyVsStable": tolerance or {}})
    canary, stable = Variant("ns", "m", "v2"), Variant("ns", "m", "v1")
    judged = analyze(
        cast(PrometheusClient, client), spec, canary=canary, stable=stable, interval=INTERVAL, min_requests=20, at=AT
    )
    check = {c.name: c for c in asyncio.run(judged).checks}["latency-vs-stable"]
    return check.verdict, check.reason


# CI stop 22's false rollback, in numbers: a healthy v2 on new pods, with a busy node pushing more
# of its sub-millisecond requests than stable's over the 1 ms edge.
BUSY_NODE = {"v2": [29.0, 14.0, 0.0], "v1": [135.0, 21.0, 1.0]}


def test_a_healthy_canary_slower_by_a_fraction_of_a_millisecond_passes() -> None:
    client = Timed(BUSY_NODE, {"v2": 0.00087, "v1": 0.00080})
    verdict, reason = _latency(client)
    assert verdict is Verdict.PASS, reason
    assert reason.startswith("mean 0.87ms vs stable 0.8ms (+9%); P(canary slower than stable) = 0.59")
    means = [q for q in client.queries if "_sum{" in q]
    assert means == [
        f'sum(increase(modelops_request_duration_seconds_sum{{namespace="ns",model="m",version="{v}"}}[15s])) / '
        f'sum(increase(modelops_request_duration_seconds_count{{namespace="ns",model="m",version="{v}"}}[15s]))'
        for v in ("v2", "v1")
    ]


def test_the_tolerance_is_the_users_to_tighten() -> None:
    client = Timed(BUSY_NODE, {"v2": 0.00087, "v1": 0.00080})
    assert _latency(client, {"maxIncrease": 0.05, "minDifference": "0ms"})[0] is Verdict.FAIL


def test_a_slower_canary_without_means_is_unknown_not_passed() -> None:
    verdict, reason = _latency(Timed(BUSY_NODE, {"v2": None, "v1": 0.0008}))
    assert verdict is Verdict.UNKNOWN and "mean latencies are unknown" in reason
