"""Durations as users write them in specs ("90s", "5m", "1h30m", "30d", "1w").

Go's duration syntax (what CEL's `duration()` understands) has no days, but SLO windows
are naturally "30d", so specs use this richer form and validate it with a pattern.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Self

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")


class Duration(str):
    """A spec duration as the user wrote it ("1h30m"), parsed once when the model is validated.

    `.delta` is the timedelta every consumer uses, so nothing downstream parses strings. It stays
    a str so that messages, events and the wire keep the user's spelling ("7d" is not "1w"), and
    the CRD schema is the same string pattern as before.
    """

    delta: timedelta

    def __new__(cls, text: str) -> Self:
        duration = super().__new__(cls, text)
        duration.delta = parse_duration(text)
        return duration

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        text = core_schema.str_schema(pattern=DURATION_PATTERN, max_length=32)
        return core_schema.no_info_after_validator_function(cls, text)


def parse_duration(text: str) -> timedelta:
    """Parse "1h30m" into a timedelta; raise ValueError naming the bad text."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m, 7d")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(text)))


def format_duration(delta: timedelta) -> str:
    """The shortest spec form of a duration (inverse of parse_duration for whole ms)."""
    ms = round(delta.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)
