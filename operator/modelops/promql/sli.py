"""The SLI queries: bad and total events per window, shared by the operator and its recording rules.

Pure string building on `expr`; `modelops.prom.sli` runs them, `modelops.render.prometheusrule`
records them, so Alertmanager and the operator see the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from modelops.promql.expr import duration, selector
from modelops.telemetry_contract import (
    CODE,
    INVALID_REQUESTS,
    LE,
    REASON,
    REQUEST_DURATION,
    REQUESTS,
    UNKNOWN_MODEL,
    bucket,
    histogram_count,
    histogram_sum,
)

# The requests this model answered: every code but 404 (another model's or version's URL) and 499
# (the client closed before its request was read). A matcher on `code`, as PromQL spells it.
NOT_ANSWERED_HERE = {CODE: "404|499"}


@dataclass(frozen=True)
class SLIQueries:
    """Bad events and all events in a window, as PromQL.

    Availability: bad = requests answered 5xx (a 4xx is the client's error, not the
    model's), out of this model's requests: every code but 404 (a URL for another model or
    version) and 499 (the client closed before its request was read: no answer, neither good nor
    bad); servers export both so every request is counted, and leaving them out keeps the ratio
    what it was before they were. Latency: bad = requests slower than the threshold bucket, i.e. the +Inf
    bucket minus the threshold bucket. The recording rules use these same expressions,
    so the operator and Alertmanager see the same numbers.
    """

    bad: str
    total: str


def availability(
    labels: Mapping[str, str],
    window: timedelta,
    *,
    regex: Mapping[str, str] | None = None,
    exclude: Mapping[str, str] | None = None,
) -> SLIQueries:
    """`regex`, `exclude`: extra `=~` and `!=` matchers on every selector (the alert rules select the live
    variants and leave out a candidate that is still a shadow)."""
    w = duration(window)
    more = dict(regex or {})
    answered = selector(REQUESTS, labels, regex=more, exclude=exclude, exclude_regex=NOT_ANSWERED_HERE)
    return SLIQueries(
        bad=f"sum(increase({selector(REQUESTS, labels, regex={**more, CODE: '5..'}, exclude=exclude)}[{w}]))",
        total=f"sum(increase({answered}[{w}]))",
    )


def latency(
    labels: Mapping[str, str],
    window: timedelta,
    le: str,
    *,
    regex: Mapping[str, str] | None = None,
    exclude: Mapping[str, str] | None = None,
) -> SLIQueries:
    """`le` is the label value exactly as exposed (find it with `find_bucket`)."""
    w = duration(window)
    below = selector(bucket(REQUEST_DURATION), {**labels, LE: le}, regex=regex, exclude=exclude)
    count = selector(bucket(REQUEST_DURATION), {**labels, LE: "+Inf"}, regex=regex, exclude=exclude)
    return SLIQueries(
        bad=f"sum(increase({count}[{w}])) - sum(increase({below}[{w}]))",
        total=f"sum(increase({count}[{w}]))",
    )


def invalid_requests(labels: Mapping[str, str], window: timedelta) -> SLIQueries:
    """Requests refused as invalid, by reason (`bad`), and every request the version received (`total`).

    The reference server counts a request refused for its input (400, 413, 422) in both series:
    `modelops_requests_total{code}` and `modelops_invalid_requests_total{reason}`. One refused for
    its path (`reason="unknown_model"`, a 404 before the request reaches the model) is counted by
    its reason, and left out of the requests by code (servers before the 404 was in
    `modelops_requests_total` did not count it there): every request received, none counted twice.
    A 499 (the client closed before its request was read) was neither refused nor answered. `bad` has
    no series at all for a server that does not export the counter (told apart from zero refusals).
    """
    w = duration(window)
    unknown_model = selector(INVALID_REQUESTS, {**labels, REASON: UNKNOWN_MODEL})
    return SLIQueries(
        bad=f"sum by ({REASON}) (increase({selector(INVALID_REQUESTS, labels)}[{w}]))",
        total=f"sum(increase({selector(REQUESTS, labels, exclude_regex=NOT_ANSWERED_HERE)}[{w}])) + "
        f"(sum(increase({unknown_model}[{w}])) or vector(0))",
    )


def buckets_by_le(histogram: str, labels: Mapping[str, str], window: timedelta) -> str:
    """A histogram's cumulative bucket counts over the window, summed across replicas, one series per `le`."""
    return f"sum by ({LE}) (increase({selector(bucket(histogram), labels)}[{duration(window)}]))"


def mean(histogram: str, labels: Mapping[str, str], window: timedelta) -> str:
    """A histogram's mean observation over the window, across replicas (exact: sum / count, no buckets).

    No result when nothing was observed (0/0 is NaN, dropped by the division of empty vectors too).
    """
    w = duration(window)
    total = f"sum(increase({selector(histogram_sum(histogram), labels)}[{w}]))"
    count = f"sum(increase({selector(histogram_count(histogram), labels)}[{w}]))"
    return f"{total} / {count}"
