"""Label-based quality from counts: accuracy, precision, recall, binned AUC, and canary vs stable.

Concept drift (the same inputs, a new relation to the label) is invisible to every input and score
check; only labels show it. Model servers count labels as they come back (`modelops_feedback_total`
by outcome at the serving threshold, `modelops_labelled_score` by label), so everything here takes
the counts a window of Prometheus gives, never raw predictions, and returns three-valued verdicts
like `checks`: too few labels is Unknown, never Pass.

- Accuracy, precision, recall at the threshold from the confusion counts; a floor on one of them
  fails only when the upper end of its one-sided Wilson interval is below the floor.
- AUC from the label-split score histograms: P(a positive scores above a negative) with a tie
  within a bucket counted as one half. This is exactly the AUC of the scores rounded to their
  bucket (sklearn's `roc_auc_score` on bucket indices). It underestimates the AUC of the unrounded
  scores by at most half the share of positive-negative pairs that share a bucket; canary and
  stable on the same edges carry the same kind of bias, so their difference is what is compared.
- Canary vs stable: accuracy by a one-sided Fisher exact test on the error counts (as
  `checks.compare_errors`), AUC by a one-sided z-test on the difference with DeLong's variance of
  each AUC computed on the buckets (the two versions' predictions are independent samples, so the
  variances add). Each fails only when worse both significantly and by more than a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from modelops.analysis.checks import CheckResult, Verdict, _unknown, common_buckets, fisher_greater, wilson_lower
from modelops.telemetry_contract import OUTCOMES

Metric = Literal["accuracy", "precision", "recall"]
QualityMetric = Literal["accuracy", "precision", "recall", "auc"]  # spec.analysis.slo.quality.metric


@dataclass(frozen=True)
class Confusion:
    """Labelled predictions at the serving threshold, as whole counts."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @classmethod
    def from_outcomes(cls, counts: Mapping[str, float]) -> Confusion:
        """From `sum by (outcome)` of increase(): missing outcomes are 0; extrapolated counts rounded, never below 0."""
        unknown = sorted(set(counts) - set(OUTCOMES))
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; expected {list(OUTCOMES)}")
        whole = {o: round(max(float(counts.get(o, 0.0)), 0.0)) for o in OUTCOMES}
        return cls(**whole)

    @property
    def labelled(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def correct(self) -> int:
        return self.tp + self.tn

    def ratio(self, metric: Metric) -> tuple[int, int]:
        """(successes, trials) of a metric: accuracy = correct / labelled, precision = tp / predicted
        positives, recall = tp / actual positives."""
        if metric == "accuracy":
            return self.correct, self.labelled
        if metric == "precision":
            return self.tp, self.tp + self.fp
        return self.tp, self.tp + self.fn

    def value(self, metric: Metric) -> float | None:
        """The metric, or None when nothing is in its denominator."""
        good, total = self.ratio(metric)
        return good / total if total else None


# ---- AUC from label-split histograms -------------------------------------------------------


@dataclass(frozen=True)
class LabelledScores:
    """Per-bucket counts of labelled scores on the same buckets, lowest first (the last is +Inf)."""

    negatives: tuple[float, ...]
    positives: tuple[float, ...]

    @property
    def n_negative(self) -> float:
        return float(sum(self.negatives))

    @property
    def n_positive(self) -> float:
        return float(sum(self.positives))


def labelled_scores(
    negatives: Sequence[tuple[float, float]] | None, positives: Sequence[tuple[float, float]] | None
) -> tuple[LabelledScores | None, str | None]:
    """From cumulative (le, count) pairs sorted by le (label "0", label "1"): per-bucket counts on the
    edges both have, or None and why not. No series for a label is zero of it (labels arrive one
    class at a time), but no series at all is no data."""
    if negatives is None and positives is None:
        return None, "no labelled scores in the window (no data)"
    if negatives is None or positives is None:
        present = negatives if negatives is not None else positives
        assert present is not None
        empty = [(le, 0.0) for le, _ in present]
        negatives, positives = (negatives or empty), (positives or empty)
    common = common_buckets(positives, negatives)
    if common.mismatch is not None or common.canary is None or common.stable is None:
        return None, common.mismatch or "no labelled scores (no data)"
    return LabelledScores(negatives=tuple(common.stable), positives=tuple(common.canary)), None


def _counts(scores: LabelledScores) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    negatives = np.maximum(np.rint(np.asarray(scores.negatives, dtype=float)), 0.0)
    positives = np.maximum(np.rint(np.asarray(scores.positives, dtype=float)), 0.0)
    if negatives.shape != positives.shape:
        raise ValueError(f"negatives and positives need the same buckets, got {negatives.shape} and {positives.shape}")
    return negatives, positives


def binned_auc(scores: LabelledScores) -> float | None:
    """P(positive above negative) + P(same bucket)/2; None without both classes."""
    negatives, positives = _counts(scores)
    n_neg, n_pos = negatives.sum(), positives.sum()
    if n_neg <= 0 or n_pos <= 0:
        return None
    below = np.cumsum(negatives) - negatives  # negatives in lower buckets
    return float((positives * (below + 0.5 * negatives)).sum() / (n_pos * n_neg))


def auc_variance(scores: LabelledScores) -> float | None:
    """DeLong's variance of the binned AUC: the placement values of every score in a bucket are equal, so
    the structural components' variances are weighted sums over buckets. None with fewer than 2 of a class."""
    negatives, positives = _counts(scores)
    n_neg, n_pos = negatives.sum(), positives.sum()
    if n_neg < 2 or n_pos < 2:
        return None
    auc = binned_auc(scores)
    assert auc is not None
    below_neg = np.cumsum(negatives) - negatives
    above_pos = positives.sum() - np.cumsum(positives)
    v10 = (below_neg + 0.5 * negatives) / n_neg  # per positive in the bucket: P(it beats a negative)
    v01 = (above_pos + 0.5 * positives) / n_pos  # per negative in the bucket: P(a positive beats it)
    s10 = float((positives * (v10 - auc) ** 2).sum() / (n_pos - 1))
    s01 = float((negatives * (v01 - auc) ** 2).sum() / (n_neg - 1))
    return float(s10 / n_pos + s01 / n_neg)


def auc_difference_p(canary: LabelledScores, stable: LabelledScores) -> tuple[float, float, float] | None:
    """(canary AUC, stable AUC, one-sided p that canary's is lower); None when either cannot be estimated.

    Independent samples: the variance of the difference is the sum of the two DeLong variances."""
    a_c, a_s = binned_auc(canary), binned_auc(stable)
    v_c, v_s = auc_variance(canary), auc_variance(stable)
    if a_c is None or a_s is None or v_c is None or v_s is None:
        return None
    difference = a_s - a_c
    variance = v_c + v_s
    if variance <= 0:
        return a_c, a_s, 0.0 if difference > 0 else 1.0
    return a_c, a_s, float(special.ndtr(-difference / math.sqrt(variance)))


# ---- verdicts ------------------------------------------------------------------------------


def quality_floor(
    confusion: Confusion | None,
    *,
    metric: Metric,
    minimum: float,
    min_labels: int,
    alpha: float,
    query: str,
) -> CheckResult:
    """Fail when the metric is confidently below `minimum`: the upper end of its one-sided 1-alpha Wilson
    interval is. Fewer than `min_labels` in its denominator (labelled, predicted or actual positives) is Unknown."""
    name = metric
    threshold = f"{metric} >= {minimum:g}"
    if confusion is None or confusion.labelled == 0:
        return _unknown(name, threshold, query, "no labels in the window (no data)")
    good, total = confusion.ratio(metric)
    if total < min_labels:
        what = {"accuracy": "labels", "precision": "labelled positive predictions", "recall": "labelled positives"}
        why = f"{total} {what[metric]} in the window, fewer than {min_labels}"
        return _unknown(name, threshold, query, why, total)
    value = good / total
    upper = 1.0 - wilson_lower(total - good, total, alpha)
    reason = f"{metric} {good}/{total} ({value:.2%}), upper bound {upper:.2%} at alpha {alpha:g}"
    verdict = Verdict.FAIL if upper < minimum else Verdict.PASS
    if verdict is Verdict.PASS and value < minimum:
        reason += f", below {minimum:g} but not significantly at this many labels"
    return CheckResult(name, verdict, value, threshold, total, query, reason)


def compare_accuracy(
    canary: Confusion | None,
    stable: Confusion | None,
    *,
    alpha: float,
    min_labels: int,
    max_decrease: float,
    query: str,
) -> CheckResult:
    """One-sided Fisher exact test on the wrong predictions: is the canary's accuracy lower than stable's?
    Fails when p < alpha and the decrease is above `max_decrease` (a fraction: 0.01 = one point)."""
    name = "accuracy-vs-stable"
    threshold = f"p >= {alpha:g} or decrease <= {max_decrease:.3g}"
    for label, side in (("canary", canary), ("stable", stable)):
        if side is None or side.labelled == 0:
            return _unknown(name, threshold, query, f"no {label} labels in the window (no data)")
        if side.labelled < min_labels:
            why = f"{label} has {side.labelled} labels, fewer than {min_labels}"
            return _unknown(name, threshold, query, why, side.labelled)
    assert canary is not None and stable is not None
    cw, cn = canary.labelled - canary.correct, canary.labelled
    sw, sn = stable.labelled - stable.correct, stable.labelled
    p = fisher_greater(cw, cn, sw, sn)
    decrease = (sn - sw) / sn - (cn - cw) / cn
    worse = p < alpha and decrease > max_decrease
    reason = (
        f"canary accuracy {cn - cw}/{cn} ({(cn - cw) / cn:.2%}) vs stable {sn - sw}/{sn} ({(sn - sw) / sn:.2%}), "
        f"one-sided p={p:.3g}"
    )
    return CheckResult(name, Verdict.FAIL if worse else Verdict.PASS, decrease, threshold, cn, query, reason)


def compare_auc(
    canary: LabelledScores | None,
    stable: LabelledScores | None,
    *,
    alpha: float,
    min_labels: int,
    max_decrease: float,
    query: str,
    mismatch: str | None = None,
) -> CheckResult:
    """Is the canary's AUC lower than stable's? DeLong z-test on the binned AUCs, one-sided; fails when
    p < alpha and the decrease is above `max_decrease`. Each version needs `min_labels` of each class
    (an AUC needs both); `mismatch` (buckets that cannot be compared) is Unknown."""
    name = "auc-vs-stable"
    threshold = f"p >= {alpha:g} or decrease <= {max_decrease:.3g}"
    if mismatch is not None:
        return _unknown(name, threshold, query, mismatch)
    for label, side in (("canary", canary), ("stable", stable)):
        if side is None or side.n_negative + side.n_positive <= 0:
            return _unknown(name, threshold, query, f"no {label} labels in the window (no data)")
        fewest = min(side.n_negative, side.n_positive)
        if fewest < max(min_labels, 2):
            why = (
                f"{label} has {side.n_positive:.0f} positive and {side.n_negative:.0f} negative labels, "
                f"fewer than {max(min_labels, 2)} of each"
            )
            return _unknown(name, threshold, query, why, side.n_negative + side.n_positive)
    assert canary is not None and stable is not None
    compared = auc_difference_p(canary, stable)
    if compared is None:  # pragma: no cover - both classes are there, checked above
        return _unknown(name, threshold, query, "AUC cannot be estimated")
    a_c, a_s, p = compared
    decrease = a_s - a_c
    worse = p < alpha and decrease > max_decrease
    reason = f"canary AUC {a_c:.3f} vs stable {a_s:.3f} (binned), one-sided p={p:.3g}"
    samples = round(canary.n_negative + canary.n_positive)
    return CheckResult(name, Verdict.FAIL if worse else Verdict.PASS, decrease, threshold, samples, query, reason)


def auc_floor(
    scores: LabelledScores | None,
    *,
    minimum: float,
    min_labels: int,
    alpha: float,
    query: str,
    mismatch: str | None = None,
) -> CheckResult:
    """Fail when the binned AUC is confidently below `minimum`: AUC + z(1-alpha) x its DeLong standard error
    is. Each class needs `min_labels` (at least 2); fewer is Unknown."""
    name = "auc"
    threshold = f"auc >= {minimum:g}"
    if mismatch is not None:
        return _unknown(name, threshold, query, mismatch)
    if scores is None or scores.n_negative + scores.n_positive <= 0:
        return _unknown(name, threshold, query, "no labels in the window (no data)")
    total = scores.n_negative + scores.n_positive
    fewest = min(scores.n_negative, scores.n_positive)
    if fewest < max(min_labels, 2):
        why = (
            f"{scores.n_positive:.0f} positive and {scores.n_negative:.0f} negative labels in the window, "
            f"fewer than {max(min_labels, 2)} of each"
        )
        return _unknown(name, threshold, query, why, total)
    auc, variance = binned_auc(scores), auc_variance(scores)
    assert auc is not None and variance is not None
    upper = min(auc + float(special.ndtri(1.0 - alpha)) * math.sqrt(max(variance, 0.0)), 1.0)
    reason = f"AUC {auc:.3f} (binned) over {total:.0f} labels, upper bound {upper:.3f} at alpha {alpha:g}"
    verdict = Verdict.FAIL if upper < minimum else Verdict.PASS
    if verdict is Verdict.PASS and auc < minimum:
        reason += f", below {minimum:g} but not significantly at this many labels"
    return CheckResult(name, verdict, auc, threshold, round(total), query, reason)


def compare_metric(
    canary: Confusion | None,
    stable: Confusion | None,
    *,
    metric: Metric,
    alpha: float,
    min_labels: int,
    max_decrease: float,
    query: str,
) -> CheckResult:
    """`compare_accuracy` for any confusion metric: a one-sided Fisher exact test on the misses in the
    metric's denominator (wrong predictions, false positives among predicted positives, false negatives
    among actual positives). Fails when p < alpha and the decrease is above `max_decrease`."""
    name = f"{metric}-vs-stable"
    threshold = f"p >= {alpha:g} or decrease <= {max_decrease:.3g}"
    for label, side in (("canary", canary), ("stable", stable)):
        if side is None or side.labelled == 0:
            return _unknown(name, threshold, query, f"no {label} labels in the window (no data)")
        total = side.ratio(metric)[1]
        if total < min_labels:
            why = f"{label} has {total} labels in the {metric} denominator, fewer than {min_labels}"
            return _unknown(name, threshold, query, why, total)
    assert canary is not None and stable is not None
    (cg, cn), (sg, sn) = canary.ratio(metric), stable.ratio(metric)
    p = fisher_greater(cn - cg, cn, sn - sg, sn)
    decrease = sg / sn - cg / cn
    worse = p < alpha and decrease > max_decrease
    reason = f"canary {metric} {cg}/{cn} ({cg / cn:.2%}) vs stable {sg}/{sn} ({sg / sn:.2%}), one-sided p={p:.3g}"
    return CheckResult(name, Verdict.FAIL if worse else Verdict.PASS, decrease, threshold, cn, query, reason)


@dataclass(frozen=True)
class QualityReading:
    """One version's quality over one window, for the bake and status.quality: the point value (even with
    too few labels, shown but never judged), the labels behind it, how late they come, and the verdict."""

    version: str
    metric: QualityMetric
    objective: float
    window: timedelta
    labels: int
    value: float | None
    label_lag_p90: float | None  # seconds from prediction to label, of the labels in the window
    check: CheckResult  # Unknown below minLabels

    @property
    def insufficient(self) -> bool:
        return self.check.verdict is Verdict.UNKNOWN
