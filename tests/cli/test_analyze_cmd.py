from datetime import UTC, datetime, timedelta, timezone

from modelops.cli.analyze_cmd import _utc


def test_times_without_an_offset_are_utc_and_offsets_are_kept() -> None:
    assert _utc("2026-11-28T09:00:00") == datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert _utc("2026-11-28T09:00:00Z") == datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert _utc("2026-11-28T10:00:00+01:00") == datetime(2026, 11, 28, 10, tzinfo=timezone(timedelta(hours=1)))
    assert _utc("2026-11-28T10:00:00+01:00") - _utc("2026-11-28T09:00:00") == timedelta(0)
