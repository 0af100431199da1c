from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from modelops.analysis.checks import (
    CheckResult,
    MeanLatency,
    Refusals,
    Verdict,
    combine,
    common_buckets,
    compare_errors,
    compare_invalid,
    compare_latency,
    custom,
    mann_whitney_buckets,
    prediction_drift,
    slo_burn,
)
from modelops.analysis.slo import Counts

BUDGET = Decimal("0.001")


def burn(bad: float, total: float, min_requests: int = 100) -> CheckResult:
    return slo_burn(
        "availability",
        Counts(bad, total),
        budget=BUDGET,
        max_burn=14.4,
        min_requests=min_requests,
        alpha=0.01,
        query="q",
    )


def test_ten_percent_errors_fail_once_there_are_min_requests() -> None:
    assert burn(5, 50).verdict is Verdict.UNKNOWN and "fewer than minRequests 100" in burn(5, 50).reason
    result = burn(10, 100)
    assert result.verdict is Verdict.FAIL and result.value == 100 and result.samples == 100
    assert "confidently above 14.4" in result.reason


def test_no_traffic_is_unknown_never_pass() -> None:
    result = slo_burn("availability", None, budget=BUDGET, max_burn=14.4, min_requests=1, alpha=0.01, query="q")
    assert result.verdict is Verdict.UNKNOWN and result.value is None and "no data" in result.reason


def test_one_unlucky_error_at_low_traffic_is_not_a_failure() -> None:
    result = burn(2, 100)  # 2% observed, but 1.44% is well inside the interval at n=100
    assert result.verdict is Verdict.PASS and "not significantly" in result.reason


@given(st.integers(100, 5000), st.integers(0, 5000))
def test_more_errors_never_turn_a_fail_into_a_pass(total: int, bad: int) -> None:
    bad = min(bad, total)
    if burn(bad, total).verdict is Verdict.FAIL and bad < total:
        assert burn(bad + 1, total).verdict is Verdict.FAIL


def test_combine_three_outcomes() -> None:
    ok = burn(0, 1000)
    unknown = burn(0, 10)
    failed = burn(100, 1000)
    assert combine([ok]) is Verdict.PASS and combine([]) is Verdict.UNKNOWN
    assert combine([ok, unknown]) is Verdict.UNKNOWN and combine([ok, unknown, failed]) is Verdict.FAIL


def test_canary_worse_than_stable() -> None:
    worse = compare_errors(
        Counts(20, 1000), Counts(2, 1000), alpha=0.01, min_requests=100, min_difference=0.001, query="q"
    )
    same = compare_errors(
        Counts(3, 1000), Counts(2, 1000), alpha=0.01, min_requests=100, min_difference=0.001, query="q"
    )
    better = compare_errors(
        Counts(0, 1000), Counts(20, 1000), alpha=0.01, min_requests=100, min_difference=0.001, query="q"
    )
    assert (worse.verdict, same.verdict, better.verdict) == (Verdict.FAIL, Verdict.PASS, Verdict.PASS)
    assert "canary 20/1000 (2.00%) vs stable 2/1000 (0.20%)" in worse.reason
    missing = compare_errors(Counts(0, 1000), None, alpha=0.01, min_requests=100, min_difference=0.0, query="q")
    assert missing.verdict is Verdict.UNKNOWN and "no stable traffic" in missing.reason


def test_mann_whitney_on_buckets_matches_scipy_on_expanded_samples() -> None:
    from scipy import stats

    canary, stable = np.array([5.0, 20, 40, 35]), np.array([30.0, 40, 20, 10])
    x = np.repeat(np.arange(4), canary.astype(int))
    y = np.repeat(np.arange(4), stable.astype(int))
    expected = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", use_continuity=False)
    effect, p = mann_whitney_buckets(canary, stable)
    assert effect == expected.statistic / (len(x) * len(y))
    assert abs(p - expected.pvalue) < 1e-12


LATENCY = {"alpha": 0.01, "min_requests": 100, "min_effect": 0.05, "max_increase": 0.2, "min_difference": 0.001}


def test_slower_canary_fails_latency_comparison() -> None:
    means = MeanLatency(0.080, 0.040)
    slow = compare_latency([100, 300, 600], [500, 300, 200], means=means, query="q", **LATENCY)
    same = compare_latency([500, 300, 200], [510, 290, 200], means=MeanLatency(0.040, 0.040), query="q", **LATENCY)
    assert slow.verdict is Verdict.FAIL and same.verdict is Verdict.PASS
    assert slow.reason.startswith("mean 80ms vs stable 40ms (+100%); P(canary slower than stable) = 0.7")


def test_a_significant_but_immaterial_slowdown_passes_latency_comparison() -> None:
    """The CI false rollback: a fast model's requests nearly all in the first bucket, a busy node
    pushing more of the canary's over the 1 ms edge. Significant by ranks, 9% slower by the mean."""
    canary, stable = [29, 14, 0], [135, 21, 1]
    assert mann_whitney_buckets(np.array(canary, float), np.array(stable, float))[1] < 0.01
    result = compare_latency(
        canary, stable, means=MeanLatency(0.00087, 0.00080), query="q", **{**LATENCY, "min_requests": 20}
    )
    assert result.verdict is Verdict.PASS, result.reason
    assert result.reason.startswith("mean 0.87ms vs stable 0.8ms (+9%)")
    # 50% slower but under the absolute floor: still a pass; over it too: a fail
    for canary_mean, floor, verdict in ((0.0012, 0.001, Verdict.PASS), (0.0012, 0.0001, Verdict.FAIL)):
        args = {**LATENCY, "min_requests": 20, "min_difference": floor}
        got = compare_latency(canary, stable, means=MeanLatency(canary_mean, 0.0008), query="q", **args)
        assert got.verdict is verdict, got.reason


def test_latency_comparison_without_means_passes_only_what_ranks_pass() -> None:
    unknown = MeanLatency(None, 0.040)
    slow = compare_latency([100, 300, 600], [500, 300, 200], means=unknown, query="q", **LATENCY)
    same = compare_latency([500, 300, 200], [510, 290, 200], means=unknown, query="q", **LATENCY)
    assert slow.verdict is Verdict.UNKNOWN and "mean latencies are unknown" in slow.reason
    assert same.verdict is Verdict.PASS


@settings(max_examples=200)
@given(
    canary=st.lists(st.integers(0, 400), min_size=4, max_size=4),
    stable=st.lists(st.integers(0, 400), min_size=4, max_size=4),
    canary_mean=st.floats(1e-4, 1.0),
    stable_mean=st.floats(1e-4, 1.0),
)
def test_latency_comparison_never_fails_a_canary_within_tolerance(
    canary: list[int], stable: list[int], canary_mean: float, stable_mean: float
) -> None:
    result = compare_latency(
        canary, stable, means=MeanLatency(canary_mean, stable_mean), query="q", **{**LATENCY, "min_requests": 1}
    )
    within = canary_mean - stable_mean <= 0.001 or canary_mean <= stable_mean * 1.2
    assert not (within and result.verdict is Verdict.FAIL)


def test_prediction_drift_needs_significance_and_size() -> None:
    shifted = prediction_drift([100, 200, 700], [700, 200, 100], max_psi=0.1, alpha=0.01, min_requests=100, query="q")
    same = prediction_drift([330, 340, 330], [340, 330, 330], max_psi=0.1, alpha=0.01, min_requests=100, query="q")
    assert shifted.verdict is Verdict.FAIL and same.verdict is Verdict.PASS


def test_prediction_drift_judges_the_psi_less_its_noise_as_drift_monitor_does() -> None:
    """Canary vs stable (3,000 predictions) on 20 equal-frequency buckets of N(0, 1). A 0.25 sd shift has
    population PSI 0.061, below maxPsi 0.1, but its sample PSI carries 19 (1/n + 1/3000) of noise (0.070 at
    n = 300): with maxPsi compared with the sample PSI it failed 44% of such canaries at 300 predictions and
    26% at 1,000 (2,000 draws each); less its noise, 20% and 4%. A 0.6 sd shift (PSI 0.36) fails all."""
    rng = np.random.default_rng(1717)
    edges = stats.norm.ppf(np.arange(1, 20) / 20)
    stable_p = np.diff(np.r_[0.0, stats.norm.cdf(edges), 1.0])

    def fail_rate(shift: float, n: int) -> float:
        canary_p = np.diff(np.r_[0.0, stats.norm.cdf(edges - shift), 1.0])
        verdicts = [
            prediction_drift(
                rng.multinomial(n, canary_p).tolist(),
                rng.multinomial(3_000, stable_p).tolist(),
                max_psi=0.1,
                alpha=0.01,
                min_requests=100,
                query="q",
            ).verdict
            for _ in range(200)
        ]
        return verdicts.count(Verdict.FAIL) / len(verdicts)

    assert fail_rate(0.25, 300) <= 0.3 and fail_rate(0.25, 1_000) <= 0.1 and fail_rate(0.6, 300) >= 0.95
    one = prediction_drift([100, 200, 700], [700, 200, 100], max_psi=0.1, alpha=0.01, min_requests=100, query="q")
    assert "less its sampling noise" in one.reason and one.threshold == "PSI less its noise <= 0.1 or p >= 0.01"


def test_custom_metric() -> None:
    assert custom("m", 0.5, None, 1.0, "q").verdict is Verdict.PASS
    assert custom("m", 2.0, 0.0, 1.0, "q").verdict is Verdict.FAIL
    assert custom("m", None, 0.0, 1.0, "q").verdict is Verdict.UNKNOWN
    assert custom("m", float("nan"), 0.0, None, "q").verdict is Verdict.UNKNOWN


def test_identical_canaries_pass_at_least_95_percent_of_100_seeded_trials() -> None:
    """Monte Carlo through the very functions the analysis runs: canary and stable drawn alike."""
    rng = np.random.default_rng(20261123)
    latency_p = np.array([0.6, 0.3, 0.08, 0.02])
    prediction_p = np.full(10, 0.1)
    failures = 0
    for _ in range(100):
        n_canary, n_stable = 200, 1800  # a 10% canary step with 2,000 requests per interval
        results = [
            burn(rng.binomial(n_canary, 0.001), n_canary),
            compare_errors(
                Counts(rng.binomial(n_canary, 0.001), n_canary),
                Counts(rng.binomial(n_stable, 0.001), n_stable),
                alpha=0.01,
                min_requests=100,
                min_difference=0.001,
                query="q",
            ),
            compare_latency(
                rng.multinomial(n_canary, latency_p),
                rng.multinomial(n_stable, latency_p),
                means=MeanLatency(0.010, 0.010),
                query="q",
                **LATENCY,
            ),
            prediction_drift(
                rng.multinomial(n_canary, prediction_p),
                rng.multinomial(n_stable, prediction_p),
                max_psi=0.1,
                alpha=0.01,
                min_requests=100,
                query="q",
            ),
        ]
        failures += combine(results) is Verdict.FAIL
    assert failures <= 5, f"{failures} false fails in 100 trials"


def test_buckets_of_two_versions_are_compared_on_the_edges_they_share() -> None:
    canary = [(0.1, 5.0), (0.25, 8.0), (0.5, 20.0), (float("inf"), 30.0)]
    stable = [(0.25, 10.0), (0.3, 12.0), (0.5, 40.0), (float("inf"), 50.0)]
    aligned = common_buckets(canary, stable)
    assert aligned.mismatch is None
    assert aligned.canary == [8.0, 12.0, 10.0] and aligned.stable == [10.0, 30.0, 10.0]


def test_identical_edges_pass_through_and_missing_sides_stay_missing() -> None:
    both = [(1.0, 2.0), (float("inf"), 3.0)]
    assert common_buckets(both, both) == ([2.0, 1.0], [2.0, 1.0], None)
    assert common_buckets(None, both) == (None, [2.0, 1.0], None)


def test_no_shared_edge_is_unknown_not_a_comparison_of_different_ranges() -> None:
    canary = [(0.11, 5.0), (0.52, 8.0), (float("inf"), 30.0)]
    stable = [(0.12, 5.0), (0.47, 8.0), (float("inf"), 30.0)]
    aligned = common_buckets(canary, stable)
    assert aligned.canary is None and aligned.mismatch is not None and "share no bucket edge" in aligned.mismatch
    result = prediction_drift(
        aligned.canary, aligned.stable, max_psi=0.1, alpha=0.01, min_requests=1, query="q", mismatch=aligned.mismatch
    )
    assert result.verdict is Verdict.UNKNOWN and "same edges" in result.reason


def refusals(canary: Refusals | None, stable: Refusals | None, max_increase: float = 0.01) -> CheckResult:
    return compare_invalid(canary, stable, alpha=0.01, min_requests=100, max_increase=max_increase, query="q")


def test_a_canary_refusing_more_than_stable_fails_one_refusing_as_much_passes() -> None:
    worse = refusals(Refusals(200, 40, {"missing_feature": 40}), Refusals(400, 0))
    assert worse.verdict is Verdict.FAIL and worse.value == 0.2 and worse.samples == 200
    assert worse.reason == (
        "canary refused 40/200 (20.00%) vs stable 0/400 (0.00%), one-sided p=4.73e-21; "
        "canary reasons: missing_feature 40"
    )
    # a stable that refuses 30% of its inputs itself: a canary refusing the same share is not worse
    same = refusals(Refusals(200, 62), Refusals(400, 120))
    assert same.verdict is Verdict.PASS and "31.00%" in same.reason and "30.00%" in same.reason
    better = refusals(Refusals(200, 0), Refusals(400, 120))
    assert better.verdict is Verdict.PASS and better.value == -0.3


def test_a_significant_increase_within_the_tolerance_passes() -> None:
    # 1.5% vs 0.5% of 100,000 is significant (p ~ 1e-100) but within a 2-point tolerance
    assert refusals(Refusals(1e5, 1500), Refusals(1e5, 500), max_increase=0.02).verdict is Verdict.PASS
    assert refusals(Refusals(1e5, 1500), Refusals(1e5, 500), max_increase=0.005).verdict is Verdict.FAIL


def test_refusals_without_data_never_pass() -> None:
    assert refusals(None, Refusals(400, 0)).verdict is Verdict.UNKNOWN
    few = refusals(Refusals(50, 50), Refusals(400, 0))
    assert few.verdict is Verdict.UNKNOWN and few.samples == 50 and "fewer than 100" in few.reason
    one_blind = refusals(Refusals(200, 40), Refusals(400, None))
    assert one_blind.verdict is Verdict.UNKNOWN and "the stable exports no" in one_blind.reason
    skipped = refusals(Refusals(200, None), Refusals(400, None))
    assert skipped.verdict is Verdict.SKIPPED and skipped.value is None and "not judged" in skipped.reason


def test_skipped_checks_count_as_neither_pass_nor_unknown() -> None:
    skipped = refusals(Refusals(200, None), Refusals(400, None))
    ok, unknown, failed = burn(0, 1000), burn(0, 10), burn(100, 1000)
    assert combine([ok, skipped]) is Verdict.PASS and combine([skipped]) is Verdict.UNKNOWN
    assert combine([unknown, skipped]) is Verdict.UNKNOWN and combine([failed, skipped]) is Verdict.FAIL


@given(st.integers(100, 3000), st.integers(0, 3000), st.integers(100, 3000), st.integers(0, 3000))
def test_more_canary_refusals_never_turn_a_fail_into_a_pass(ct: int, cb: int, st_: int, sb: int) -> None:
    cb, sb = min(cb, ct), min(sb, st_)
    if refusals(Refusals(ct, cb), Refusals(st_, sb)).verdict is Verdict.FAIL and cb < ct:
        assert refusals(Refusals(ct, cb + 1), Refusals(st_, sb)).verdict is Verdict.FAIL


def test_an_identical_canary_is_rarely_failed_for_refusals() -> None:
    rng = np.random.default_rng(14)
    fails = 0
    for _ in range(1000):  # both refuse 20% of their inputs: 150 canary and 300 stable requests an interval
        c, s = rng.binomial(150, 0.2), rng.binomial(300, 0.2)
        fails += refusals(Refusals(150, c), Refusals(300, s)).verdict is Verdict.FAIL
    assert fails <= 15  # alpha 0.01 (Fisher is conservative): 0.55-0.75% of 2,000 trials for three seeds
