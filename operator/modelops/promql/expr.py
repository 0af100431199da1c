"""PromQL text built safely: escaped label values, checked names, templates with a fixed set of variables.

A model name with a quote or a backslash cannot change the meaning of a query, and a
custom check template that names a variable we do not provide is an error, not an empty
string silently matching everything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from modelops.errors import ModelopsError
from modelops.telemetry_contract import MODEL, NAMESPACE, VARIANT, VERSION

TEMPLATE_VARIABLES = (NAMESPACE, MODEL, VERSION, VARIANT, "interval")
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(ModelopsError, ValueError):
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


def selector(
    metric: str,
    labels: Mapping[str, str] | None = None,
    *,
    regex: Mapping[str, str] | None = None,
    exclude: Mapping[str, str] | None = None,
    exclude_regex: Mapping[str, str] | None = None,
) -> str:
    """`metric{a="x",b=~"y.*",c!="z",d!~"w|v"}` with every value escaped, so no value can change the query."""
    if not _LABEL_NAME.match(metric.replace(":", "_")):
        raise ValueError(f"invalid metric name {metric!r}")
    parts = []
    operators = (("=", labels), ("=~", regex), ("!=", exclude), ("!~", exclude_regex))
    for op, matchers in ((op, m or {}) for op, m in operators):
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
