from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.api.durations import DURATION_PATTERN, Duration, format_duration, parse_duration
from modelops.api.v1alpha1.modeldeployment import RolloutSpec


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0s", 0), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("30d", 2_592_000), ("1w", 604_800), ("250ms", 0.25)],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "1.5h", "-1m", "1y", "m5"])
def test_refuses_what_the_schema_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**10))
def test_format_parse_round_trip(ms: int) -> None:
    delta = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(delta)) == delta


def test_a_spec_duration_is_parsed_once_and_keeps_its_spelling() -> None:
    interval = Duration("90s")
    assert interval.delta == timedelta(seconds=90)
    assert interval == "90s" and f"over {interval}" == "over 90s"  # messages keep the user's spelling
    with pytest.raises(ValueError, match="invalid duration"):
        Duration("5 minutes")


def test_models_expose_parsed_durations_and_write_the_spelling_back() -> None:
    rollout = RolloutSpec.model_validate({"interval": "90s", "bakeTime": "1h30m"})
    assert rollout.interval.delta == timedelta(seconds=90)
    assert rollout.bake_time.delta == timedelta(hours=1, minutes=30)
    assert rollout.progress_deadline.delta == timedelta(minutes=30)  # defaults are parsed too
    wire = rollout.wire()
    assert (wire["interval"], wire["bakeTime"]) == ("90s", "1h30m")
    assert type(wire["interval"]) is str
    assert rollout.model_copy(deep=True).interval.delta == timedelta(seconds=90)


def test_the_schema_is_the_string_pattern() -> None:
    schema = RolloutSpec.model_json_schema()["properties"]["interval"]
    assert schema == {
        "default": "1m",
        "description": "How often the analysis runs during a rollout.",
        "maxLength": 32,
        "pattern": DURATION_PATTERN,
        "title": "Interval",
        "type": "string",
    }
