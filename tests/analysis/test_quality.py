"""Label-based quality: the statistics against sklearn and a direct DeLong, and the three-valued verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from modelops.analysis.checks import Verdict
from modelops.analysis.quality import (
    Confusion,
    LabelledScores,
    auc_difference_p,
    auc_floor,
    auc_variance,
    binned_auc,
    compare_accuracy,
    compare_auc,
    compare_metric,
    labelled_scores,
    quality_floor,
)

Q = "the query"
buckets = st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), min_size=1, max_size=10)


def _scores(pairs: list[tuple[int, int]]) -> LabelledScores:
    return LabelledScores(negatives=tuple(float(n) for n, _ in pairs), positives=tuple(float(p) for _, p in pairs))


def _expanded(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores, each score its bucket's index: what the histograms stand for."""
    y, x = [], []
    for i, (n, p) in enumerate(pairs):
        y += [0] * n + [1] * p
        x += [i] * (n + p)
    return np.asarray(y), np.asarray(x, dtype=float)


@settings(max_examples=300, deadline=None)
@given(pairs=buckets)
def test_binned_auc_is_sklearns_auc_of_the_bucketed_scores(pairs: list[tuple[int, int]]) -> None:
    y, x = _expanded(pairs)
    auc = binned_auc(_scores(pairs))
    if len(set(y.tolist())) < 2:
        assert auc is None
    else:
        assert auc == pytest.approx(roc_auc_score(y, x), abs=1e-12)


def _delong(y: np.ndarray, x: np.ndarray) -> float:
    """DeLong's variance from its definition on the samples: placement values over every pair."""
    positives, negatives = x[y == 1], x[y == 0]
    psi = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(v10.var(ddof=1) / len(positives) + v01.var(ddof=1) / len(negatives))


@settings(max_examples=300, deadline=None)
@given(pairs=buckets)
def test_auc_variance_is_delongs_on_the_bucketed_scores(pairs: list[tuple[int, int]]) -> None:
    y, x = _expanded(pairs)
    variance = auc_variance(_scores(pairs))
    if min((y == 0).sum(), (y == 1).sum()) < 2:
        assert variance is None
    else:
        assert variance == pytest.approx(_delong(y, x), rel=1e-9, abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(
    truth=st.lists(st.booleans(), min_size=1, max_size=60), predicted=st.lists(st.booleans(), min_size=60, max_size=60)
)
def test_confusion_metrics_are_sklearns(truth: list[bool], predicted: list[bool]) -> None:
    y, p = np.asarray(truth), np.asarray(predicted[: len(truth)])
    c = Confusion(tp=int((y & p).sum()), fp=int((~y & p).sum()), tn=int((~y & ~p).sum()), fn=int((y & ~p).sum()))
    assert c.value("accuracy") == pytest.approx(accuracy_score(y, p))
    for metric, score in (("precision", precision_score), ("recall", recall_score)):
        expected = score(y, p, zero_division=np.nan)
        value = c.value(metric)  # type: ignore[arg-type]
        assert (value is None and np.isnan(expected)) or value == pytest.approx(expected)


def test_confusion_from_prometheus_counts() -> None:
    assert Confusion.from_outcomes({"tp": 9.6, "fp": -0.2, "tn": 3.0}) == Confusion(tp=10, fp=0, tn=3, fn=0)
    assert Confusion().value("accuracy") is None
    with pytest.raises(ValueError, match="unknown outcome"):
        Confusion.from_outcomes({"tp": 1.0, "ok": 2.0})


def test_labelled_scores_from_cumulative_buckets() -> None:
    negatives = [(0.5, 8.0), (1.0, 10.0), (float("inf"), 10.0)]
    positives = [(0.5, 1.0), (1.0, 5.0), (float("inf"), 5.0)]
    scores, why = labelled_scores(negatives, positives)
    assert why is None and scores == LabelledScores(negatives=(8.0, 2.0, 0.0), positives=(1.0, 4.0, 0.0))
    only_negatives, _ = labelled_scores(negatives, None)  # no label-1 series yet: none of them
    assert only_negatives is not None and only_negatives.n_positive == 0
    assert labelled_scores(None, None) == (None, "no labelled scores in the window (no data)")
    other = [(0.3, 1.0), (float("inf"), 5.0)]
    none, why = labelled_scores(negatives, other)
    assert none is None and why is not None and "share no bucket edge" in why


# ---- verdicts ------------------------------------------------------------------------------


@given(
    tp=st.integers(0, 30),
    fp=st.integers(0, 30),
    tn=st.integers(0, 30),
    fn=st.integers(0, 30),
    min_labels=st.integers(1, 200),
)
def test_too_few_labels_is_unknown_never_pass(tp: int, fp: int, tn: int, fn: int, min_labels: int) -> None:
    c = Confusion(tp, fp, tn, fn)
    for metric in ("accuracy", "precision", "recall"):
        result = quality_floor(c, metric=metric, minimum=0.5, min_labels=min_labels, alpha=0.05, query=Q)  # type: ignore[arg-type]
        if c.ratio(metric)[1] < min_labels:  # type: ignore[arg-type]
            assert result.verdict is Verdict.UNKNOWN
    for result in (
        compare_accuracy(c, Confusion(50, 50, 50, 50), alpha=0.05, min_labels=min_labels, max_decrease=0.0, query=Q),
        compare_accuracy(Confusion(50, 50, 50, 50), c, alpha=0.05, min_labels=min_labels, max_decrease=0.0, query=Q),
    ):
        if c.labelled < min_labels:
            assert result.verdict is Verdict.UNKNOWN and result.query == Q


def test_quality_floor_fails_only_when_confidently_below() -> None:
    assert (
        quality_floor(None, metric="accuracy", minimum=0.9, min_labels=10, alpha=0.05, query=Q).verdict
        is Verdict.UNKNOWN
    )
    low = quality_floor(Confusion(40, 10, 40, 10), metric="accuracy", minimum=0.9, min_labels=10, alpha=0.05, query=Q)
    assert low.verdict is Verdict.FAIL and low.value == 0.8 and low.samples == 100 and "80/100" in low.reason
    near = quality_floor(Confusion(44, 3, 44, 3), metric="accuracy", minimum=0.95, min_labels=10, alpha=0.05, query=Q)
    assert near.verdict is Verdict.PASS and "not significantly" in near.reason
    recall = quality_floor(
        Confusion(tp=5, fn=1, tn=100), metric="recall", minimum=0.5, min_labels=10, alpha=0.05, query=Q
    )
    assert recall.verdict is Verdict.UNKNOWN and "6 labelled positives" in recall.reason


def test_accuracy_vs_stable() -> None:
    stable = Confusion(450, 50, 450, 50)  # 90%
    worse = compare_accuracy(Confusion(80, 20, 80, 20), stable, alpha=0.01, min_labels=100, max_decrease=0.02, query=Q)
    assert worse.verdict is Verdict.FAIL and worse.value == pytest.approx(0.1) and worse.samples == 200
    same = compare_accuracy(Confusion(90, 10, 90, 10), stable, alpha=0.01, min_labels=100, max_decrease=0.02, query=Q)
    assert same.verdict is Verdict.PASS
    tiny = compare_accuracy(Confusion(8, 2, 8, 2), stable, alpha=0.01, min_labels=100, max_decrease=0.02, query=Q)
    assert tiny.verdict is Verdict.UNKNOWN and "fewer than 100" in tiny.reason
    none = compare_accuracy(Confusion(90, 10, 90, 10), None, alpha=0.01, min_labels=1, max_decrease=0.0, query=Q)
    assert none.verdict is Verdict.UNKNOWN and "no stable labels" in none.reason


@given(c_wrong=st.integers(0, 60), c_n=st.integers(1, 60), s_wrong=st.integers(0, 60), s_n=st.integers(1, 60))
def test_accuracy_p_value_is_scipys_fisher_and_a_better_canary_never_fails(
    c_wrong: int, c_n: int, s_wrong: int, s_n: int
) -> None:
    c_wrong, s_wrong = min(c_wrong, c_n), min(s_wrong, s_n)
    canary, stable = Confusion(tp=c_n - c_wrong, fp=c_wrong), Confusion(tp=s_n - s_wrong, fp=s_wrong)
    result = compare_accuracy(canary, stable, alpha=0.05, min_labels=1, max_decrease=0.0, query=Q)
    p = stats.fisher_exact([[c_wrong, c_n - c_wrong], [s_wrong, s_n - s_wrong]], alternative="greater").pvalue
    assert f"p={p:.3g}" in result.reason
    if c_wrong / c_n <= s_wrong / s_n:
        assert result.verdict is Verdict.PASS


def test_accuracy_test_holds_its_size_with_equal_accuracy() -> None:
    rng = np.random.default_rng(1801)
    n, alpha, trials = 300, 0.05, 1000
    wrong = rng.binomial(n, 0.15, size=(trials, 2))
    failed = sum(
        compare_accuracy(
            Confusion(tp=n - int(c), fp=int(c)),
            Confusion(tp=n - int(s), fp=int(s)),
            alpha=alpha,
            min_labels=1,
            max_decrease=0.0,
            query=Q,
        ).verdict
        is Verdict.FAIL
        for c, s in wrong
    )
    assert failed / trials <= alpha  # Fisher's exact test is conservative: at most alpha, seed fixed


EDGES = np.linspace(0, 1, 21)


def _binned(rng: np.random.Generator, positives: tuple[float, float], n: int) -> LabelledScores:
    """n negatives ~ Beta(2, 3) and n positives ~ Beta(*positives), in 20 buckets."""
    neg = np.histogram(rng.beta(2, 3, n), EDGES)[0]
    pos = np.histogram(rng.beta(*positives, n), EDGES)[0]
    return LabelledScores(tuple(neg.astype(float)), tuple(pos.astype(float)))


def test_auc_test_holds_its_size_and_finds_a_worse_canary() -> None:
    rng = np.random.default_rng(1802)
    alpha, trials, n = 0.05, 600, 300
    null = [auc_difference_p(_binned(rng, (3, 2), n), _binned(rng, (3, 2), n)) for _ in range(trials)]
    size = sum(r is not None and r[2] < alpha for r in null) / trials
    assert 0.02 <= size <= 0.08  # about alpha (DeLong is asymptotic); seed fixed
    worse = [auc_difference_p(_binned(rng, (2.4, 2.6), n), _binned(rng, (3, 2), n)) for _ in range(200)]
    power = sum(r is not None and r[2] < alpha for r in worse) / 200
    assert power >= 0.8  # binned AUC about 0.61 vs 0.75 at 300 labels of each class: found every time


def test_auc_vs_stable_verdicts() -> None:
    rng = np.random.default_rng(1803)
    stable = _binned(rng, (4, 2), 2000)
    args = {"alpha": 0.01, "min_labels": 50, "max_decrease": 0.02, "query": Q}
    worse = compare_auc(_binned(rng, (2.2, 2.8), 1000), stable, **args)  # type: ignore[arg-type]
    assert worse.verdict is Verdict.FAIL and worse.value is not None and worse.value > 0.1 and "AUC" in worse.reason
    same = compare_auc(_binned(rng, (4, 2), 1000), stable, **args)  # type: ignore[arg-type]
    assert same.verdict is Verdict.PASS
    one_class = LabelledScores(negatives=(100.0, 100.0), positives=(3.0, 0.0))
    few = compare_auc(one_class, stable, **args)  # type: ignore[arg-type]
    assert few.verdict is Verdict.UNKNOWN and "3 positive" in few.reason
    assert compare_auc(None, stable, **args).verdict is Verdict.UNKNOWN  # type: ignore[arg-type]
    mismatch = compare_auc(stable, stable, mismatch="no shared edge", **args)  # type: ignore[arg-type]
    assert mismatch.verdict is Verdict.UNKNOWN and mismatch.reason == "no shared edge"


@settings(max_examples=200, deadline=None)
@given(
    canary=st.tuples(*[st.integers(0, 40)] * 4),
    stable=st.tuples(*[st.integers(0, 40)] * 4),
    min_labels=st.integers(1, 60),
)
def test_compare_metric_on_accuracy_is_compare_accuracy(
    canary: tuple[int, int, int, int], stable: tuple[int, int, int, int], min_labels: int
) -> None:
    c, s = Confusion(*canary), Confusion(*stable)
    kwargs = {"alpha": 0.05, "min_labels": min_labels, "max_decrease": 0.01, "query": Q}
    general, accuracy = compare_metric(c, s, metric="accuracy", **kwargs), compare_accuracy(c, s, **kwargs)  # type: ignore[arg-type]
    assert general.verdict is accuracy.verdict
    if general.verdict is not Verdict.UNKNOWN:
        assert general.value == pytest.approx(accuracy.value)


@settings(max_examples=200, deadline=None)
@given(canary=st.tuples(*[st.integers(0, 40)] * 4), stable=st.tuples(*[st.integers(0, 40)] * 4))
def test_compare_metric_p_value_is_scipys_fisher_on_the_metrics_misses(
    canary: tuple[int, int, int, int], stable: tuple[int, int, int, int]
) -> None:
    c, s = Confusion(*canary), Confusion(*stable)
    for metric in ("precision", "recall"):
        result = compare_metric(c, s, metric=metric, alpha=0.05, min_labels=1, max_decrease=0.0, query=Q)  # type: ignore[arg-type]
        (cg, cn), (sg, sn) = c.ratio(metric), s.ratio(metric)  # type: ignore[arg-type]
        if cn == 0 or sn == 0 or c.labelled == 0 or s.labelled == 0:
            assert result.verdict is Verdict.UNKNOWN
            continue
        p = stats.fisher_exact([[cn - cg, cg], [sn - sg, sg]], alternative="greater").pvalue
        assert result.verdict is (Verdict.FAIL if p < 0.05 and sg / sn - cg / cn > 0 else Verdict.PASS)


def test_auc_floor_fails_only_when_confidently_below() -> None:
    separated = _scores([(90, 5), (8, 10), (2, 85)])  # AUC about 0.95
    passed = auc_floor(separated, minimum=0.9, min_labels=50, alpha=0.01, query=Q)
    assert (
        passed.verdict is Verdict.PASS and passed.name == "auc" and passed.value == pytest.approx(binned_auc(separated))
    )
    coin = _scores([(50, 50), (50, 50)])  # AUC 0.5
    assert auc_floor(coin, minimum=0.9, min_labels=50, alpha=0.01, query=Q).verdict is Verdict.FAIL
    close = _scores([(3, 1), (1, 3)])  # AUC 0.8 on 8 labels: not significantly below 0.85
    result = auc_floor(close, minimum=0.85, min_labels=2, alpha=0.01, query=Q)
    assert result.verdict is Verdict.PASS and "not significantly" in result.reason
    few = auc_floor(_scores([(100, 1), (0, 1)]), minimum=0.5, min_labels=10, alpha=0.01, query=Q)
    assert few.verdict is Verdict.UNKNOWN and "fewer than 10 of each" in few.reason
    assert auc_floor(None, minimum=0.5, min_labels=1, alpha=0.01, query=Q).verdict is Verdict.UNKNOWN
    mismatch = auc_floor(separated, minimum=0.5, min_labels=1, alpha=0.01, query=Q, mismatch="no edges")
    assert mismatch.verdict is Verdict.UNKNOWN and mismatch.reason == "no edges"
