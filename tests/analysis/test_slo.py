from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.analysis.slo import (
    Counts,
    PairStatus,
    error_budget,
    evaluate,
    evaluate_pair,
    min_events,
    standard_pairs,
    windows,
)

PAIRS = standard_pairs(timedelta(days=30))
BUDGET = error_budget(99.9)
PAGE_FAST = PAIRS[0]


def test_standard_table_for_30_days() -> None:
    assert [(p.name, p.factor, p.severity) for p in PAIRS] == [
        ("1h/5m", Decimal("14.4"), "page"),
        ("6h/30m", Decimal("6"), "page"),
        ("1d/2h", Decimal("3"), "ticket"),
        ("3d/6h", Decimal("1"), "ticket"),
    ]


def test_factors_are_derived_for_other_periods() -> None:
    assert [p.factor for p in standard_pairs(timedelta(days=28))][:3] == [
        Decimal("13.44"),
        Decimal("5.6"),
        Decimal("2.8"),
    ]


def test_budget_is_exact() -> None:
    assert error_budget(99.9) == Decimal("0.001") and error_budget("99.95") == Decimal("0.0005")
    assert PAGE_FAST.factor * BUDGET == Decimal("0.0144")
    with pytest.raises(ValueError, match="must be in"):
        error_budget(100)


def test_min_events_guard() -> None:
    assert min_events(PAGE_FAST, BUDGET).quantize(Decimal("0.01")) == Decimal("69.44")
    one_error_in_50 = evaluate_pair(PAGE_FAST, BUDGET, Counts(1, 50), Counts(1, 50))
    assert one_error_in_50.status is PairStatus.INSUFFICIENT_TRAFFIC
    assert "too few to judge" in one_error_in_50.reason


def test_outage_and_two_percent_page_slow_burn_tickets() -> None:
    hour = timedelta(hours=1)
    outage = {w: Counts(1000 * w / hour, 1000 * w / hour) for w in windows(PAIRS)}
    assert evaluate(PAIRS, BUDGET, outage).severity == "page"
    two_percent = {w: Counts(20 * w / hour, 1000 * w / hour) for w in windows(PAIRS)}
    result = evaluate(PAIRS, BUDGET, two_percent)
    assert result.firing is not None and result.firing.pair.name == "1h/5m"  # burn 20 > 14.4: the fastest page
    point_four = {w: Counts(4 * w / hour, 1000 * w / hour) for w in windows(PAIRS)}
    slow = evaluate(PAIRS, BUDGET, point_four)  # burn 4: above 3 and 1, below 6 and 14.4
    assert slow.severity == "ticket" and slow.firing is not None and slow.firing.pair.name == "1d/2h"


def test_zero_traffic_is_no_data_never_ok() -> None:
    result = evaluate(PAIRS, BUDGET, {w: Counts(0, 0) for w in windows(PAIRS)})
    assert result.status is PairStatus.NO_DATA and result.firing is None
    assert evaluate(PAIRS, BUDGET, {}).status is PairStatus.NO_DATA


counts = st.tuples(st.floats(0, 1e6), st.floats(1, 1e6)).map(lambda t: Counts(min(t), t[1]))


@given(counts, counts, st.floats(0.01, 1000))
def test_burn_rate_is_scale_invariant(long: Counts, short: Counts, k: float) -> None:
    a = evaluate_pair(PAGE_FAST, BUDGET, long, short)
    b = evaluate_pair(PAGE_FAST, BUDGET, Counts(long.bad * k, long.total * k), Counts(short.bad * k, short.total * k))
    assert a.long_burn is not None and b.long_burn is not None
    assert float(a.long_burn) == pytest.approx(float(b.long_burn), rel=1e-9)


@given(counts, counts, st.floats(0, 1e6))
def test_more_errors_never_un_fire(long: Counts, short: Counts, extra: float) -> None:
    before = evaluate_pair(PAGE_FAST, BUDGET, long, short)
    worse = lambda c: Counts(min(c.bad + extra, c.total), c.total)  # noqa: E731
    after = evaluate_pair(PAGE_FAST, BUDGET, worse(long), worse(short))
    if before.status is PairStatus.FIRING:
        assert after.status is PairStatus.FIRING
    assert after.long_burn is not None and before.long_burn is not None and after.long_burn >= before.long_burn


@given(st.dictionaries(st.sampled_from(windows(PAIRS)), st.one_of(st.none(), counts)))
def test_ok_only_when_every_pair_has_enough_data(window_counts: dict[timedelta, Counts | None]) -> None:
    result = evaluate(PAIRS, BUDGET, window_counts)
    if result.status is PairStatus.OK:
        for r in result.pairs:
            assert r.status is PairStatus.OK and r.long_burn is not None and r.short_burn is not None
    if result.status is PairStatus.FIRING:
        fired = result.firing
        assert fired is not None and fired.long_burn is not None and fired.short_burn is not None
        assert fired.long_burn > fired.pair.factor and fired.short_burn > fired.pair.factor


def test_negative_increase_after_a_reset_never_counts_as_errors() -> None:
    result = evaluate_pair(PAGE_FAST, BUDGET, Counts(-5, 1000), Counts(-1, 100))
    assert result.long_burn == 0
