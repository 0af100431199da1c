"""The label queries: confusion counts, label-split score buckets, label delay and coverage per window.

Labels arrive late, so a window holds the labels that *arrived* in it, for predictions made up to
days before; compare canary and stable over the same window, and read `modelops_label_delay_seconds`
to choose one long enough. Every query sums across replicas; `analysis.quality` judges the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from modelops.promql.expr import duration, selector
from modelops.telemetry_contract import (
    CORRECT,
    FEEDBACK,
    FEEDBACK_IGNORED,
    LABEL,
    LABEL_DELAY,
    LABELLED_SCORE,
    LE,
    OUTCOME,
    PREDICTION_SCORE,
    REASON,
    UNLABELLED,
    bucket,
    histogram_count,
)


@dataclass(frozen=True)
class QualityQueries:
    """PromQL over one window for one selection (a version, or a variant)."""

    outcomes: str  # one series per outcome (tp, fp, tn, fn): analysis.quality.Confusion.from_outcomes
    accuracy: str  # correct / labelled; no result without labels (0/0)
    labelled_scores: str  # cumulative buckets by (label, le): analysis.quality.labelled_scores
    labelled: str  # labels counted
    predictions: str  # predictions made (the score histogram's count)
    unlabelled: str  # predictions forgotten without a label
    ignored: str  # labels not counted, by reason (unmatched, duplicate, wrong_version)


def queries(labels: Mapping[str, str], window: timedelta) -> QualityQueries:
    """Label values are escaped, so a model name cannot change the query."""
    w = f"[{duration(window)}]"

    def increase(metric: str, extra: Mapping[str, str] | None = None) -> str:
        return f"increase({selector(metric, labels, regex=extra)}{w})"

    labelled = f"sum({increase(FEEDBACK)})"
    return QualityQueries(
        outcomes=f"sum by ({OUTCOME}) ({increase(FEEDBACK)})",
        accuracy=f"sum({increase(FEEDBACK, {OUTCOME: '|'.join(CORRECT)})}) / {labelled}",
        labelled_scores=f"sum by ({LABEL}, {LE}) ({increase(bucket(LABELLED_SCORE))})",
        labelled=labelled,
        predictions=f"sum({increase(histogram_count(PREDICTION_SCORE))})",
        unlabelled=f"sum({increase(UNLABELLED)})",
        ignored=f"sum by ({REASON}) ({increase(FEEDBACK_IGNORED)})",
    )


def label_delay_quantile(labels: Mapping[str, str], window: timedelta, quantile: float) -> str:
    """A quantile (0.5, 0.9, ...) of the time from prediction to label, of labels that arrived in the window."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"a quantile is within [0, 1], got {quantile}")
    buckets = f"sum by ({LE}) (increase({selector(bucket(LABEL_DELAY), labels)}[{duration(window)}]))"
    return f"histogram_quantile({quantile:g}, {buckets})"
