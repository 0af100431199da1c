from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.train.metrics import auc, average_ranks, evaluate, log_loss


def brute_force_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


labelled_scores = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda ys: 0 < sum(ys) < len(ys)),
        st.lists(st.integers(-5, 5).map(float) | st.floats(-1e6, 1e6), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(labelled_scores)
def test_auc_matches_the_pairwise_count_with_ties(case: tuple[list[int], list[float]]) -> None:
    labels, scores = np.array(case[0]), np.array(case[1])
    value = auc(labels, scores)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(brute_force_auc(labels, scores), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelled_scores)
def test_negating_untied_scores_mirrors_auc(case: tuple[list[int], list[float]]) -> None:
    labels = np.array(case[0])
    scores = np.arange(len(labels), dtype=np.float64)[np.random.default_rng(len(labels)).permutation(len(labels))]
    assert auc(labels, -scores) == pytest.approx(1.0 - auc(labels, scores), abs=1e-12)


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_auc_refuses_one_class_and_nan() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auc(np.array([1, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="finite"):
        auc(np.array([0, 1]), np.array([0.1, np.nan]))


def test_log_loss_and_accuracy() -> None:
    labels, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.0])
    expected = -np.mean(np.log([0.9, 0.8, 0.4, 1.0]))
    assert log_loss(labels, p) == pytest.approx(expected)
    metrics = evaluate(labels, p)
    assert metrics["accuracy"] == 0.75
    assert metrics["positiveRate"] == 0.5
    assert metrics["rows"] == 4
    assert metrics["auc"] == 1.0
