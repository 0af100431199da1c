"""The drift queries: one per metric family, whatever the number of features.

Each is `sum by (feature, le)` (or `category`, `class`, or just `le`) of `increase()` over the
window, summed across replicas; a past reference window is the same query with `offset`.
`modelops.prom.drift` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from modelops.promql.expr import duration, selector
from modelops.telemetry_contract import (
    CATEGORY,
    CLASS,
    FEATURE,
    FEATURE_CATEGORY,
    FEATURE_VALUE,
    LE,
    PREDICTION_CLASS,
    PREDICTION_SCORE,
    bucket,
)


@dataclass(frozen=True)
class DriftQueries:
    """The PromQL of one side of a comparison (current window, or the past reference)."""

    numeric: str
    categorical: str
    predictions: str
    classes: str


def queries(labels: Mapping[str, str], window: timedelta, offset: timedelta | None = None) -> DriftQueries:
    """PromQL per family; label values are escaped, so a model name cannot change the query."""
    span = f"[{duration(window)}]" + (f" offset {duration(offset)}" if offset else "")

    def increase(metric: str, *by: str) -> str:
        return f"sum by ({', '.join(by)}) (increase({selector(metric, labels)}{span}))"

    return DriftQueries(
        numeric=increase(bucket(FEATURE_VALUE), FEATURE, LE),
        categorical=increase(FEATURE_CATEGORY, FEATURE, CATEGORY),
        predictions=increase(bucket(PREDICTION_SCORE), LE),
        classes=increase(PREDICTION_CLASS, CLASS),
    )
