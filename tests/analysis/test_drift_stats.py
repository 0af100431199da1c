from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special, stats
from scipy.spatial import distance

from modelops.analysis.drift_stats import compare, correct, merge_buckets

counts = arrays(np.int64, st.tuples(st.integers(1, 6), st.integers(2, 14)), elements=st.integers(0, 500))


def _common(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two drawn count matrices cut to their common shape, as float counts."""
    rows, cols = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return a[:rows, :cols].astype(float), b[:rows, :cols].astype(float)


@settings(max_examples=60)
@given(counts, counts)
def test_symmetric(a: np.ndarray, b: np.ndarray) -> None:
    ref, cur = _common(a, b)
    x, y = compare(ref, cur), compare(cur, ref)
    for field in ("chi2", "p_value", "ks", "psi", "js"):
        np.testing.assert_allclose(getattr(x, field), getattr(y, field), rtol=1e-9, equal_nan=True)


@given(counts)
def test_identical_samples_show_no_drift(a: np.ndarray) -> None:
    result = compare(a.astype(float), a.astype(float))
    full = a.sum(axis=1) > 0
    assert np.allclose(result.psi[full], 0) and np.allclose(result.js[full], 0) and np.allclose(result.ks[full], 0)
    assert np.all(result.p_value[full] > 0.999)


@given(counts, st.integers(1, 6))
def test_empty_buckets_and_feature_order_do_not_matter(a: np.ndarray, pad: int) -> None:
    ref = a.astype(float)
    cur = np.roll(ref, 1, axis=1) + 1
    base = compare(ref, cur)
    padded = compare(np.hstack([ref, np.zeros((ref.shape[0], pad))]), np.hstack([cur, np.zeros((cur.shape[0], pad))]))
    np.testing.assert_allclose(base.p_value, padded.p_value, equal_nan=True)
    flipped = compare(ref[::-1], cur[::-1])
    np.testing.assert_allclose(base.p_value, flipped.p_value[::-1], equal_nan=True)


@given(counts, st.integers(2, 20))
def test_severity_figures_ignore_scale_and_chi2_grows_with_it(a: np.ndarray, k: int) -> None:
    ref = a.astype(float) + 10  # no bucket sparse enough to be merged, at any scale
    cur = np.roll(ref, 1, axis=1)
    one, many = compare(ref, cur), compare(ref * k, cur * k)
    np.testing.assert_allclose(one.psi, many.psi, rtol=1e-9)
    np.testing.assert_allclose(one.js, many.js, rtol=1e-9)
    np.testing.assert_allclose(one.ks, many.ks, rtol=1e-9)
    # on the same bins the homogeneity statistic grows exactly with the counts (sparse buckets
    # are merged differently at another scale, so this holds only where nothing is merged)
    np.testing.assert_array_equal(one.dof, many.dof)
    np.testing.assert_allclose(many.chi2, k * one.chi2, rtol=1e-9, atol=1e-9)


def test_merging_reaches_expected_five() -> None:
    ref = np.array([[1.0, 0, 2, 50, 50, 3, 0, 1]])
    cur = np.array([[0.0, 1, 1, 20, 25, 1, 1, 0]])
    mr, mc = merge_buckets(ref, cur)
    n_ref, n_cur = mr.sum(), mc.sum()
    expected = (mr + mc) * min(n_ref, n_cur) / (n_ref + n_cur)
    assert np.all(expected[(mr + mc) > 0] >= 5) and mr.sum() == ref.sum() and mc.sum() == cur.sum()


def test_chi2_matches_scipy_on_a_well_filled_table() -> None:
    ref = np.array([[120.0, 80, 200, 100]])
    cur = np.array([[60.0, 50, 70, 40]])
    expected = stats.chi2_contingency(np.vstack([ref[0], cur[0]]), correction=False)
    result = compare(ref, cur)
    assert result.chi2[0] == pytest.approx(expected.statistic) and result.p_value[0] == pytest.approx(expected.pvalue)


def test_fractional_and_negative_counts_from_increase_are_cleaned() -> None:
    result = compare(np.array([[10.4, 19.6, -0.3]]), np.array([[10.0, 20.0, 0.0]]))
    assert result.n_reference[0] == 30 and result.psi[0] == pytest.approx(0, abs=1e-3)


def test_empty_sample_is_nan_not_a_verdict() -> None:
    result = compare(np.array([[5.0, 5]]), np.array([[0.0, 0]]))
    assert np.isnan(result.p_value[0]) and np.isnan(result.ks[0])


@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(0, 1)))
def test_bh_matches_scipy_and_bonferroni_bounds_it(p: np.ndarray) -> None:
    np.testing.assert_allclose(correct(p, "bh"), stats.false_discovery_control(p), rtol=1e-9)
    assert np.all(correct(p, "bonferroni") >= correct(p, "bh") - 1e-12)
    with_nan = np.append(p, np.nan)
    assert np.isnan(correct(with_nan, "bh")[-1])
    np.testing.assert_allclose(correct(with_nan, "bh")[:-1], correct(p, "bh"))


def test_wasserstein_in_units_of_the_edges() -> None:
    edges = np.array([[0.0, 1.0, 2.0, 3.0]])
    ref = np.array([[0.0, 10, 0, 0, 0]])  # all mass in (0, 1]
    cur = np.array([[0.0, 0, 10, 0, 0]])  # all mass in (1, 2]
    assert compare(ref, cur, edges).wasserstein[0] == pytest.approx(1.0)


@settings(max_examples=60)
@given(counts, counts)
def test_rows_are_merged_independently(a: np.ndarray, b: np.ndarray) -> None:
    """Rows that need no merging take a fast path; stacking them with rows that do changes nothing."""
    ref, cur = _common(a, b)
    cur *= 3
    rows = ref.shape[0]
    together = compare(ref, cur)
    for i in range(rows):
        alone = compare(ref[i : i + 1], cur[i : i + 1])
        for field in ("chi2", "dof", "p_value", "psi", "js", "ks"):
            np.testing.assert_allclose(getattr(together, field)[i], getattr(alone, field)[0], rtol=1e-9, equal_nan=True)


@settings(max_examples=60)
@given(arrays(np.int64, st.tuples(st.just(1), st.integers(2, 14)), elements=st.integers(0, 500)), counts)
def test_chi2_is_scipys_on_the_merged_table(a: np.ndarray, b: np.ndarray) -> None:
    ref, cur = a.astype(float), b[:1, : a.shape[1]].astype(float)
    if cur.shape != ref.shape:
        return
    result = compare(ref, cur)
    mr, mc = merge_buckets(ref, cur)
    used = (mr + mc)[0] > 0
    if ref.sum() == 0 or cur.sum() == 0 or used.sum() < 2:
        return
    expected = stats.chi2_contingency(np.vstack([mr[0, used], mc[0, used]]), correction=False)
    assert result.chi2[0] == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert result.p_value[0] == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-12)


@settings(max_examples=60)
@given(counts, counts)
def test_js_and_psi_match_their_definitions(a: np.ndarray, b: np.ndarray) -> None:
    ref, cur = _common(a, b)
    rows = ref.shape[0]
    result = compare(ref, cur)
    for i in range(rows):
        if ref[i].sum() == 0 or cur[i].sum() == 0:
            assert np.isnan(result.js[i]) and np.isnan(result.psi[i])
            continue
        r, c = ref[i] / ref[i].sum(), cur[i] / cur[i].sum()
        assert result.js[i] == pytest.approx(distance.jensenshannon(r, c, base=2), abs=1e-7)
        rf, cf = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
        assert result.psi[i] == pytest.approx(np.sum((cf - rf) * np.log(cf / rf)), rel=1e-9, abs=1e-12)


@settings(max_examples=40)
@given(counts, counts)
def test_ks_p_value_is_the_kolmogorov_tail_on_the_effective_sample_size(a: np.ndarray, b: np.ndarray) -> None:
    ref, cur = _common(a, b)
    rows = ref.shape[0]
    result = compare(ref, cur)
    for i in range(rows):
        n1, n2 = ref[i].sum(), cur[i].sum()
        if n1 == 0 or n2 == 0:
            assert np.isnan(result.ks_p_value[i])
            continue
        gap = np.abs(np.cumsum(ref[i] / n1) - np.cumsum(cur[i] / n2)).max()
        assert result.ks[i] == pytest.approx(gap, abs=1e-12)
        expected = stats.kstwobign.sf(np.sqrt(n1 * n2 / (n1 + n2)) * gap)
        assert result.ks_p_value[i] == pytest.approx(expected, rel=1e-9, abs=1e-12)


# ---- the PSI less its sampling noise (issue 17) --------------------------------------------


def normal_buckets(buckets: int, shift: float = 0.0, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Bucket probabilities of N(0, 1) and of N(shift, spread^2) on N(0, 1)'s equal-frequency buckets."""
    edges = stats.norm.ppf(np.arange(1, buckets) / buckets)
    reference = np.diff(np.r_[0.0, stats.norm.cdf(edges), 1.0])
    current = np.diff(np.r_[0.0, stats.norm.cdf((edges - shift) / spread), 1.0])
    return reference, current


def population_psi(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(special.rel_entr(p, q) + special.rel_entr(q, p)))


@settings(max_examples=12, deadline=None)
@given(
    st.floats(0.0, 0.6),
    st.floats(0.8, 1.3),
    st.sampled_from([300, 1000, 3000]),
    st.sampled_from([12, 20]),
    st.integers(0, 2**32 - 1),
)
@example(0.5, 0.8125, 300, 20, 0)  # failed the bound of 10% of the PSI (0.460 for 0.389)
def test_debiased_psi_is_about_the_population_psi(shift: float, spread: float, n: int, buckets: int, seed: int) -> None:
    """Averaged over 300 windows, PSI less its noise is near the population PSI (scipy's rel_entr on the
    bucket probabilities), while the sample PSI sits above it by about (buckets - 1)(1/n + 1/N).

    The correction is the noise under no change. A large effect adds a second-order bias upward, about
    c * PSI * (buckets - 1)/n with c up to 3.4 on a grid of this domain (0.505 for 0.407 at shift 0.5,
    spread 0.8, n = 300, 20 buckets): far above any floor, so no decision changes. Below the truth it
    never goes by more than its noise (a big effect is never under-reported)."""
    rng = np.random.default_rng(seed)
    p, q = normal_buckets(buckets, shift, spread)
    truth = population_psi(q, p)
    reference, current = rng.multinomial(10_000, p, size=300), rng.multinomial(n, q, size=300)
    result = compare(reference, current)
    noise = (buckets - 1) * (1 / n + 1 / 10_000)
    clamp = 0.006 if truth < 0.02 else 0.0  # max(estimate, 0) lifts the mean of an estimate of ~0
    second_order = 5 * truth * (buckets - 1) / n
    debiased = float(result.psi_debiased.mean())
    assert debiased >= truth - 0.15 * noise - 0.02 * truth - 0.002
    assert debiased <= truth + 0.15 * noise + 0.002 + clamp + second_order
    assert result.psi.mean() - truth == pytest.approx(noise, abs=0.3 * noise + 0.002 + second_order)


def test_debiased_psi_uses_the_tests_merged_buckets() -> None:
    """A sparse window is judged on the buckets the chi-square test merged (dof + 1 of them): an empty
    bucket's PSI term at its epsilon floor is not an effect."""
    reference = np.array([[500.0] * 20])
    current = np.array([[2.0, 0.0, 1.0, 0.0] * 5])  # 15 observations, 10 empty buckets
    result = compare(reference, current)
    mr, mc = merge_buckets(reference, current)
    used = (mr + mc)[0] > 0
    merged = compare(mr[:, used], mc[:, used])
    assert result.dof[0] == used.sum() - 1 < 19 and result.psi[0] > 1.0  # the raw PSI is the empty buckets'
    expected = max(merged.psi[0] - result.dof[0] * (1 / 15 + 1 / 10_000), 0.0)
    assert result.psi_debiased[0] == pytest.approx(expected) and result.psi_debiased[0] < 0.1


def test_debiased_psi_is_zero_for_identical_and_nan_for_empty_samples() -> None:
    result = compare(np.array([[10.0, 20.0, 30.0], [5.0, 5.0, 0.0]]), np.array([[10.0, 20.0, 30.0], [0.0, 0.0, 0.0]]))
    assert result.psi_debiased[0] == 0.0 and np.isnan(result.psi_debiased[1])
