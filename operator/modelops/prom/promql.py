"""Build PromQL safely: escaped label values, and templates with a fixed set of variables.

A model name with a quote or a backslash cannot change the meaning of a query, and a
custom check template that names a variable we do not provide is an error, not an empty
string silently matching everything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

TEMPLATE_VARIABLES = ("namespace", "model", "version", "variant", "interval")
REQUESTS = "modelops_requests_total"
DURATION = "modelops_request_duration_seconds"
INVALID = "modelops_invalid_requests_total"
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(ValueError):
    """A query template uses a variable that does not exist or has no value."""


def duration(delta: timedelta) -> str:
    """A PromQL range duration in the largest whole unit: 3600 s -> "1h"."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        raise ValueError(f"a range must be positive, got {delta}")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def escape_label_value(value: str) -> str:
    """Escape for a double-quoted PromQL string: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector(metric: str, labels: Mapping[str, str] | None = None, *, regex: Mapping[str, str] | None = None) -> str:
    """`metric{a="x",b=~"y.*"}` with every value escaped, so no value can change the query."""
    if not _LABEL_NAME.match(metric.replace(":", "_")):
        raise ValueError(f"invalid metric name {metric!r}")
    parts = []
    for op, matchers in (("=", labels or {}), ("=~", regex or {})):
        for name, value in matchers.items():
            if not _LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r}")
            parts.append(f'{name}{op}"{escape_label_value(value)}"')
    return f"{metric}{{{','.join(parts)}}}"


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Substitute {{namespace}}, {{model}}, {{version}}, {{variant}}, {{interval}}.

    Label values are escaped (they appear inside quotes in a well-formed template); the
    interval is a duration and is checked to be one.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in TEMPLATE_VARIABLES:
            raise TemplateError(f"unknown variable {{{{{name}}}}}; available: {', '.join(TEMPLATE_VARIABLES)}")
        value = values.get(name)
        if value is None:
            raise TemplateError(f"variable {{{{{name}}}}} has no value here")
        if name == "interval":
            if not re.fullmatch(r"([0-9]+(ms|s|m|h|d|w|y))+", value):
                raise TemplateError(f"interval {value!r} is not a PromQL duration")
            return value
        return escape_label_value(value)

    return _VARIABLE.sub(replace, template)


@dataclass(frozen=True)
class SLIQueries:
    """Bad events and all events in a window, as PromQL.

    Availability: bad = requests answered 5xx (a 4xx is the client's error, not the
    model's). Latency: bad = requests slower than the threshold bucket, i.e. the +Inf
    bucket minus the threshold bucket. The recording rules use these same expressions,
    so the operator and Alertmanager see the same numbers.
    """

    bad: str
    total: str


def availability(labels: Mapping[str, str], window: timedelta) -> SLIQueries:
    w = duration(window)
    return SLIQueries(
        bad=f"sum(increase({selector(REQUESTS, labels, regex={'code': '5..'})}[{w}]))",
        total=f"sum(increase({selector(REQUESTS, labels)}[{w}]))",
    )


def latency(labels: Mapping[str, str], window: timedelta, le: str) -> SLIQueries:
    """`le` is the label value exactly as exposed (find it with `find_bucket`)."""
    w = duration(window)
    bucket = selector(f"{DURATION}_bucket", {**labels, "le": le})
    count = selector(f"{DURATION}_bucket", {**labels, "le": "+Inf"})
    return SLIQueries(
        bad=f"sum(increase({count}[{w}])) - sum(increase({bucket}[{w}]))",
        total=f"sum(increase({count}[{w}]))",
    )


def invalid_requests(labels: Mapping[str, str], window: timedelta) -> SLIQueries:
    """Requests refused as invalid, by reason (`bad`), and every request the version received (`total`).

    The reference server counts a request refused for its input (400, 413, 422) in both series:
    `modelops_requests_total{code}` and `modelops_invalid_requests_total{reason}`. One refused for
    its path (`reason="unknown_model"`, a 404 before the request reaches the model) is only in the
    latter, so it is added to the total once: every request received, none counted twice. `bad` has
    no series at all for a server that does not export the counter (told apart from zero refusals).
    """
    w = duration(window)
    unknown_model = selector(INVALID, {**labels, "reason": "unknown_model"})
    return SLIQueries(
        bad=f"sum by (reason) (increase({selector(INVALID, labels)}[{w}]))",
        total=f"sum(increase({selector(REQUESTS, labels)}[{w}])) + (sum(increase({unknown_model}[{w}])) or vector(0))",
    )
