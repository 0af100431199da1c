#!/usr/bin/env python3
"""Drift power curves: how often each rule flags a feature, by scenario and window size, next to the true PSI.

    PYTHONPATH=operator .venv/bin/python bench/drift_power.py [--repetitions 200] [--output PATH]

Issue 17: the PSI floor was compared with the sample PSI, whose noise (about (k-1)(1/n + 1/N))
made detection of a fixed effect depend on traffic the wrong way; and a change inside the
outermost quantile buckets moved no count across an edge. One seeded run. Every repetition
draws its own reference of 10,000 values from N(0, 1) and builds two baselines with the
trainer's code: 12 quantile buckets as before ("q12", 11 edges) and the same plus tail edges
("tails", the 1st/99th and 0.1st/99.9th percentiles: 15 edges). For each scenario and each
window size n, a current window is drawn per repetition and counted on each baseline's
edges; all repetitions of a cell go through `drift.evaluate` at once (one feature per
repetition, no correction, minSamples 1). Rates per cell:

  before     q12 edges, p < 0.05 AND sample PSI >= 0.1 (the rule before this change)
  debiased   q12 edges, p < 0.05 AND PSI less its noise >= 0.1 (the new rule, old edges)
  after      tails edges, the new rule: what the trainer and DriftMonitor now do
  lcb        tails edges, p < 0.05 AND a one-sided 95% lower bound on PSI >= 0.1 (the
             alternative: n N/(n+N) PSI ~ noncentral chi-square(k-1, lambda), bound on lambda)
  test-q12   q12 edges, chi-square p < 0.05 alone (no floor): what the old buckets can see at all
  test       tails edges, chi-square p < 0.05 alone (no floor)
  ks-raw     two-sample KS on the raw values, p < 0.05 (not available from histograms)

The true PSI of each scenario is computed from the population (scipy's normal CDF at the
population quantiles the baselines estimate), for both edge sets. Results: a table on stdout
and bench/results/drift-power-<date>.json. Takes a minute or two.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from modelops.analysis.drift import Histogram, Observations, Settings, evaluate
from modelops.train import baseline as trainer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REFERENCE_ROWS = 10_000
BUCKETS = 12
WINDOWS = (100, 300, 1_000, 3_000, 10_000)
ALPHA = 0.05
PSI_FLOOR = 0.1
OUTLIER_SHARE, OUTLIER_LOW, OUTLIER_HIGH = 0.05, 4.0, 8.0  # a broken sensor: 5% of values at 4-8 sd
TAIL_FROM, TAIL_STRETCH = 0.95, 3.0  # values above the 95th percentile move 3x as far from it
Floats = npt.NDArray[np.float64]
Sampler = Callable[[np.random.Generator, int], Floats]
Cdf = Callable[[Floats], Floats]


def _outliers(rng: np.random.Generator, n: int) -> Floats:
    values = rng.standard_normal(n)
    hit = rng.random(n) < OUTLIER_SHARE
    values[hit] = rng.uniform(OUTLIER_LOW, OUTLIER_HIGH, int(hit.sum()))
    return values


TAIL_Q = float(stats.norm.ppf(TAIL_FROM))


def _stretched(rng: np.random.Generator, n: int) -> Floats:
    values = rng.standard_normal(n)
    return np.where(values > TAIL_Q, TAIL_Q + TAIL_STRETCH * (values - TAIL_Q), values)


def _outlier_cdf(e: Floats) -> Floats:
    uniform = np.clip((e - OUTLIER_LOW) / (OUTLIER_HIGH - OUTLIER_LOW), 0.0, 1.0)
    return np.asarray((1 - OUTLIER_SHARE) * stats.norm.cdf(e) + OUTLIER_SHARE * uniform)


def _stretched_cdf(e: Floats) -> Floats:
    return np.asarray(stats.norm.cdf(np.where(e > TAIL_Q, TAIL_Q + (e - TAIL_Q) / TAIL_STRETCH, e)))


# label -> (sampler of a current window, its population CDF)
SCENARIOS: dict[str, tuple[Sampler, Cdf]] = {
    "no change": (lambda rng, n: rng.standard_normal(n), lambda e: np.asarray(stats.norm.cdf(e))),
    "spread x1.25": (lambda rng, n: 1.25 * rng.standard_normal(n), lambda e: np.asarray(stats.norm.cdf(e / 1.25))),
    "5% outliers": (_outliers, _outlier_cdf),
    "mean+0.2sd": (lambda rng, n: rng.standard_normal(n) + 0.2, lambda e: np.asarray(stats.norm.cdf(e - 0.2))),
    "mean+0.4sd": (lambda rng, n: rng.standard_normal(n) + 0.4, lambda e: np.asarray(stats.norm.cdf(e - 0.4))),
    "mean+0.5sd": (lambda rng, n: rng.standard_normal(n) + 0.5, lambda e: np.asarray(stats.norm.cdf(e - 0.5))),
    "top-5% tail x3": (_stretched, _stretched_cdf),
}
COLUMNS = ("before", "debiased", "after", "lcb", "test-q12", "test", "ks-raw")


def population_edges(tails: bool) -> Floats:
    """The population quantiles the trainer's edges estimate, for a reference of REFERENCE_ROWS."""
    levels = np.arange(1, BUCKETS) / BUCKETS
    if tails:
        levels = np.unique(np.r_[levels, trainer.tail_quantiles(REFERENCE_ROWS)])
    return np.asarray(stats.norm.ppf(levels))


def true_psi(cdf: Cdf, tails: bool) -> float:
    """PSI between N(0, 1) and the scenario's population on the baseline's buckets (epsilon-free)."""
    edges = population_edges(tails)
    reference = np.diff(np.r_[0.0, stats.norm.cdf(edges), 1.0])
    current = np.diff(np.r_[0.0, cdf(edges), 1.0])
    return float(np.sum(special.rel_entr(current, reference) + special.rel_entr(reference, current)))


def psi_lower_bound(psi: Floats, buckets: Floats, n: float, n_ref: Floats) -> Floats:
    """One-sided 95% lower confidence bound on the population PSI: m PSI ~ noncentral chi2(k-1, m PSI)."""
    m = n * n_ref / (n + n_ref)
    statistic, dof = m * psi, np.maximum(buckets - 1, 1.0)
    consistent_with_zero = special.chdtr(dof, statistic) < 1 - ALPHA
    with np.errstate(all="ignore"):
        bound = special.chndtrinc(statistic, dof, 1 - ALPHA)
    return np.asarray(np.where(consistent_with_zero, 0.0, np.nan_to_num(bound)) / m)


def wilson(hits: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    p = hits / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    margin = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(float(centre - margin), 0.0), min(float(centre + margin), 1.0)


def decisions(edges: list[list[float]], references: list[list[int]], currents: list[Floats]) -> dict[str, Any]:
    """One evaluate() over every repetition on these edges: significance, both PSIs, the LCB input."""
    names = [f"r{i}" for i in range(len(edges))]
    ref = Observations({k: Histogram.of(e, c) for k, e, c in zip(names, edges, references, strict=True)})
    cur = Observations(
        {k: Histogram.of(e, trainer.bucket_counts(v, e)) for k, e, v in zip(names, edges, currents, strict=True)}
    )
    result = evaluate(ref, cur, Settings(alpha=ALPHA, correction="none", psi_floor=PSI_FLOOR, min_samples=1))
    by_name = {f.name: f for f in result.features}
    ordered = [by_name[k] for k in names]
    assert all(f.tested for f in ordered), "every repetition must be tested"
    significant = np.array([f.p_value is not None and f.p_value < ALPHA for f in ordered])
    psi = np.array([f.psi or 0.0 for f in ordered])
    buckets = np.array(
        [
            np.count_nonzero(np.add(r, trainer.bucket_counts(v, e)) > 0)
            for r, e, v in zip(references, edges, currents, strict=True)
        ],
        dtype=np.float64,
    )
    n_ref = np.array([float(sum(r)) for r in references])
    return {
        "significant": significant,
        "drifted": np.array([f.drifted for f in ordered]),
        "psi": psi,
        "lcb": psi_lower_bound(psi, buckets, float(len(currents[0])), n_ref),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/drift-power-<date>.json)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    raw = [rng.standard_normal(REFERENCE_ROWS) for _ in range(args.repetitions)]
    baselines = {tails: [trainer.numeric_distribution(v, BUCKETS, tails=tails) for v in raw] for tails in (False, True)}
    edges = {t: [e for e, _ in b] for t, b in baselines.items()}
    counts = {t: [c for _, c in b] for t, b in baselines.items()}
    print(
        f"detection rate in %, {args.repetitions} repetitions per cell; reference {REFERENCE_ROWS:,} rows of N(0,1); "
        f"q12 = {BUCKETS} quantile buckets ({len(edges[False][0])} edges), tails = q12 + tail edges "
        f"({len(edges[True][0])} edges); alpha {ALPHA}, no correction, floor PSI {PSI_FLOOR}"
    )
    header = f"{'scenario':<15} {'PSI q12':>7} {'tails':>6} {'n':>6}  " + " ".join(f"{c:>8}" for c in COLUMNS)
    print(header)
    print("-" * len(header))
    rows: list[dict[str, Any]] = []
    for label, (sample, cdf) in SCENARIOS.items():
        psi_q12, psi_tails = true_psi(cdf, False), true_psi(cdf, True)
        for n in WINDOWS:
            currents = [sample(rng, n) for _ in raw]
            old, new = decisions(edges[False], counts[False], currents), decisions(edges[True], counts[True], currents)
            hits = {
                "before": int(np.count_nonzero(old["significant"] & (old["psi"] >= PSI_FLOOR))),
                "debiased": int(np.count_nonzero(old["drifted"])),
                "after": int(np.count_nonzero(new["drifted"])),
                "lcb": int(np.count_nonzero(new["significant"] & (new["lcb"] >= PSI_FLOOR))),
                "test": int(np.count_nonzero(new["significant"])),
                "test-q12": int(np.count_nonzero(old["significant"])),
                "ks-raw": sum(bool(stats.ks_2samp(r, c).pvalue < ALPHA) for r, c in zip(raw, currents, strict=True)),
            }
            trials = len(raw)
            rates = {k: {"rate": v / trials, "hits": v, "ci95": wilson(v, trials)} for k, v in hits.items()}
            rows.append(
                {
                    "scenario": label,
                    "n": n,
                    "true_psi_q12": psi_q12,
                    "true_psi_tails": psi_tails,
                    "mean_sample_psi_tails": float(new["psi"].mean()),
                    "rates": rates,
                }
            )
            print(
                f"{label:<15} {psi_q12:7.3f} {psi_tails:6.3f} {n:>6}  "
                + " ".join(f"{100 * rates[c]['rate']:8.1f}" for c in COLUMNS)
            )
        print()
    elapsed = time.perf_counter() - started
    print(f"benchmark took {elapsed:.0f} s")
    out = args.output or RESULTS / f"drift-power-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__},
        "config": {
            "repetitions": args.repetitions,
            "seed": args.seed,
            "reference_rows": REFERENCE_ROWS,
            "buckets": BUCKETS,
            "edges_q12": len(edges[False][0]),
            "edges_tails": len(edges[True][0]),
            "windows": WINDOWS,
            "alpha": ALPHA,
            "psi_floor": PSI_FLOOR,
            "correction": "none",
            "min_samples": 1,
            "columns": {
                "before": "q12 edges, p < alpha and sample PSI >= floor (the rule before issue 17)",
                "debiased": "q12 edges, p < alpha and PSI less its noise >= floor",
                "after": "tail edges, p < alpha and PSI less its noise >= floor (the rule after issue 17)",
                "lcb": "tail edges, p < alpha and the 95% lower confidence bound on PSI >= floor",
                "test-q12": "q12 edges, chi-square p < alpha alone",
                "test": "tail edges, chi-square p < alpha alone",
                "ks-raw": "two-sample KS on the raw values, p < alpha",
            },
        },
        "rates": rows,
        "seconds": elapsed,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
