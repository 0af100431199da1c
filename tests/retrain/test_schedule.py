from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.retrain.schedule import ALIASES, ScheduleError, next_fire

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("@daily", datetime(2026, 11, 24, 0, 0, tzinfo=UTC)),
        ("@weekly", datetime(2026, 11, 29, 0, 0, tzinfo=UTC)),  # Sunday
        ("@monthly", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("@yearly", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("@annually", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_aliases(alias: str, expected: datetime) -> None:
    assert next_fire(alias, T0) == expected
    assert next_fire(alias, T0) == next_fire(ALIASES[alias], T0)


def test_surrounding_whitespace_is_ignored() -> None:
    assert next_fire("  @daily ", T0) == datetime(2026, 11, 24, tzinfo=UTC)
    assert next_fire(" */30 * * * * ", T0) == datetime(2026, 11, 23, 12, 30, tzinfo=UTC)


def test_strictly_after() -> None:
    # T0 matches the expression itself: the next match, not T0
    assert next_fire("0 12 * * *", T0) == T0 + timedelta(days=1)
    assert next_fire("* * * * *", T0) == T0 + timedelta(minutes=1)
    assert next_fire("*/30 * * * *", T0) == T0 + timedelta(minutes=30)


def test_seconds_are_truncated() -> None:
    late = T0 + timedelta(seconds=59, microseconds=999_999)
    assert next_fire("* * * * *", late) == T0 + timedelta(minutes=1)
    fire = next_fire("*/7 * * * *", T0 + timedelta(seconds=13, microseconds=5))
    assert fire.second == 0 and fire.microsecond == 0


def test_result_is_utc_whatever_the_input_zone() -> None:
    plus2 = timezone(timedelta(hours=2))
    fire = next_fire("0 0 * * *", datetime(2026, 11, 23, 1, 30, tzinfo=plus2))  # 23:30 UTC on the 22nd
    assert fire == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert fire.utcoffset() == timedelta(0)


def test_day_of_month_or_day_of_week() -> None:
    # cron semantics: both restricted -> either matches (the 1st, or any Friday)
    assert next_fire("0 0 1 * 5", T0) == datetime(2026, 11, 27, tzinfo=UTC)


@pytest.mark.parametrize("expression", ["bogus", "61 * * * *", "0 0 30 2 *", "* * *", ""])
def test_bad_expression_raises_naming_it(expression: str) -> None:
    with pytest.raises(ScheduleError) as info:
        next_fire(expression, T0)
    assert repr(expression) in str(info.value)
    assert isinstance(info.value, ValueError)


EXPRESSIONS = ["*/30 * * * *", "@hourly", "@daily", "15 3 * * 1-5", "0 0 1 * *", "5 */6 * * *"]
times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(EXPRESSIONS), times, st.timedeltas(timedelta(0), timedelta(days=40)))
def test_next_fire_is_after_and_monotone(expression: str, t: datetime, step: timedelta) -> None:
    first, later = next_fire(expression, t), next_fire(expression, t + step)
    assert first > t and later > t + step
    assert first.second == 0 and first.microsecond == 0
    assert later >= first
    # the fire time is itself a match: asking from a minute earlier lands on it again
    assert next_fire(expression, first - timedelta(minutes=1)) == first
