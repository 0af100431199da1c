"""Multi-window, multi-burn-rate SLO evaluation (Google SRE Workbook, "Alerting on SLOs").

burn rate = error ratio / error budget, with budget = 1 - objective. A pair of windows
(long, short) fires when BOTH burn faster than its factor; pairs are OR-ed, the most severe
firing pair wins. The factor of a pair is the share of the budget it allows to be spent in
its long window: factor = share x SLO period / long window, so for 30 days the standard
table gives 14.4 (1h/5m, page), 6 (6h/30m, page), 3 (1d/2h, ticket), 1 (3d/6h, ticket),
and any other period gets its own factors.

Budget arithmetic is Decimal: 1 - 99.9/100 is exactly 0.001, not 0.0010000000000000009.
No traffic (or no series) is NO_DATA, and fewer events than 1 / (factor x budget) in a
window (where a single error would fire the pair) is INSUFFICIENT_TRAFFIC: neither is OK.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from modelops.promql.expr import duration as _duration

Severity = Literal["page", "ticket"]


class PairStatus(enum.StrEnum):
    FIRING = "Firing"
    OK = "OK"
    NO_DATA = "NoData"
    INSUFFICIENT_TRAFFIC = "InsufficientTraffic"


@dataclass(frozen=True)
class WindowPair:
    long: timedelta
    short: timedelta
    budget_share: Decimal  # share of the period's budget spent in `long` at this burn rate
    severity: Severity
    period: timedelta

    @property
    def factor(self) -> Decimal:
        return self.budget_share * Decimal(int(self.period.total_seconds())) / Decimal(int(self.long.total_seconds()))

    @property
    def name(self) -> str:
        return f"{_duration(self.long)}/{_duration(self.short)}"


# (long, short, budget share, severity): the SRE Workbook's table
STANDARD_TABLE: tuple[tuple[timedelta, timedelta, str, Severity], ...] = (
    (timedelta(hours=1), timedelta(minutes=5), "0.02", "page"),
    (timedelta(hours=6), timedelta(minutes=30), "0.05", "page"),
    (timedelta(days=1), timedelta(hours=2), "0.10", "ticket"),
    (timedelta(days=3), timedelta(hours=6), "0.10", "ticket"),
)


def standard_pairs(period: timedelta) -> list[WindowPair]:
    """The four standard pairs with factors derived for this SLO period."""
    return [
        WindowPair(long, short, Decimal(share), severity, period) for long, short, share, severity in STANDARD_TABLE
    ]


def error_budget(objective_percent: float | str | Decimal) -> Decimal:
    """1 - objective, exactly: 99.9 -> 0.001."""
    objective = Decimal(str(objective_percent))
    if not Decimal(0) < objective < Decimal(100):
        raise ValueError(f"objective {objective} must be in (0, 100)")
    return (Decimal(100) - objective) / Decimal(100)


@dataclass(frozen=True)
class Counts:
    """Events in one window: bad ones and all of them (increase() may give fractions)."""

    bad: float
    total: float


def burn_rate(counts: Counts | None, budget: Decimal) -> Decimal | None:
    """error ratio / budget; None when there is no traffic to judge."""
    if counts is None or counts.total <= 0:
        return None
    bad = max(counts.bad, 0.0)  # increase() across a reset can undershoot; never negative errors
    return Decimal(repr(bad)) / Decimal(repr(counts.total)) / budget


def min_events(pair: WindowPair, budget: Decimal) -> Decimal:
    """Below this many events in a window, one error alone would fire the pair."""
    return Decimal(1) / (pair.factor * budget)


@dataclass(frozen=True)
class PairResult:
    pair: WindowPair
    status: PairStatus
    long_burn: Decimal | None
    short_burn: Decimal | None
    long_total: float
    short_total: float

    @property
    def reason(self) -> str:
        p = self.pair
        burns = (
            f"burn {_show(self.long_burn)} over {_duration(p.long)}, {_show(self.short_burn)} over {_duration(p.short)}"
        )
        factor = _show(p.factor)
        if self.status is PairStatus.NO_DATA:
            empty = [_duration(w) for w, b in ((p.long, self.long_burn), (p.short, self.short_burn)) if b is None]
            return f"{p.name}: no traffic in {' and '.join(empty)}"
        if self.status is PairStatus.INSUFFICIENT_TRAFFIC:
            return (
                f"{p.name}: {min(self.long_total, self.short_total):.0f} events, too few to judge a factor of {factor}"
            )
        verb = "above" if self.status is PairStatus.FIRING else "not both above"
        return f"{p.name}: {burns}: {verb} {factor} ({p.severity})"


def _show(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{float(value):.3g}"


@dataclass(frozen=True)
class SLOEvaluation:
    budget: Decimal
    pairs: tuple[PairResult, ...]

    @property
    def firing(self) -> PairResult | None:
        """The most severe firing pair (page before ticket, then the shortest window)."""
        fired = [r for r in self.pairs if r.status is PairStatus.FIRING]
        fired.sort(key=lambda r: (r.pair.severity != "page", r.pair.long))
        return fired[0] if fired else None

    @property
    def status(self) -> PairStatus:
        """FIRING if any pair fires; OK only if every pair is OK; else why we cannot tell."""
        if self.firing is not None:
            return PairStatus.FIRING
        statuses = {r.status for r in self.pairs}
        if statuses == {PairStatus.OK}:
            return PairStatus.OK
        return PairStatus.NO_DATA if PairStatus.NO_DATA in statuses else PairStatus.INSUFFICIENT_TRAFFIC

    @property
    def severity(self) -> Severity | None:
        firing = self.firing
        return firing.pair.severity if firing else None


@dataclass(frozen=True)
class StableSLOs:
    """Multi-window burn of the stable version for each SLO the spec declares (bake, freeze).

    `blind` says why some or all of them could not be read (Prometheus unreachable or not
    configured, no latency bucket at the threshold): what was not seen is never taken as fine.
    """

    evaluations: Mapping[str, SLOEvaluation] = field(default_factory=dict)  # "availability", "latency"
    blind: str | None = None


def evaluate_pair(pair: WindowPair, budget: Decimal, long: Counts | None, short: Counts | None) -> PairResult:
    long_burn, short_burn = burn_rate(long, budget), burn_rate(short, budget)
    long_total = long.total if long else 0.0
    short_total = short.total if short else 0.0
    if long_burn is None or short_burn is None:
        status = PairStatus.NO_DATA
    elif min(long_total, short_total) < min_events(pair, budget):
        status = PairStatus.INSUFFICIENT_TRAFFIC
    elif long_burn > pair.factor and short_burn > pair.factor:
        status = PairStatus.FIRING
    else:
        status = PairStatus.OK
    return PairResult(pair, status, long_burn, short_burn, long_total, short_total)


def evaluate(pairs: Sequence[WindowPair], budget: Decimal, counts: Mapping[timedelta, Counts | None]) -> SLOEvaluation:
    """Evaluate every pair from the counts of each window (a missing window is no data)."""
    return SLOEvaluation(
        budget, tuple(evaluate_pair(p, budget, counts.get(p.long), counts.get(p.short)) for p in pairs)
    )


def windows(pairs: Sequence[WindowPair]) -> list[timedelta]:
    """Every distinct window the pairs need, shortest first (one query pair each)."""
    return sorted({w for p in pairs for w in (p.long, p.short)})
