"""Cron schedules in UTC: when does a RetrainPolicy's schedule fire next.

cronsim (by the healthchecks.io author, pure Python, no dependencies) does the cron
arithmetic, including day-of-month/day-of-week OR semantics and DST-free UTC; the
@daily-style aliases it does not take are expanded here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from modelops.errors import ModelopsError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class ScheduleError(ModelopsError, ValueError):
    """A cron expression that cannot be evaluated; the message says why."""


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time strictly after `after` (UTC, whole minutes) that `expression` matches."""
    expr = ALIASES.get(expression.strip(), expression.strip())
    start = after.astimezone(UTC).replace(second=0, microsecond=0)
    try:
        fire: datetime = next(CronSim(expr, start))
    except (CronSimError, StopIteration) as error:
        raise ScheduleError(f"schedule {expression!r}: {error or 'never fires'}") from None
    return fire
