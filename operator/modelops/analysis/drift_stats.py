"""Two-sample tests on bucket counts, vectorised over features (one numpy pass, no per-feature loop).

Shared by DriftMonitor (features and predictions against a reference) and the canary
analysis (canary predictions against stable). Inputs are count matrices of shape
(features, buckets): row f holds feature f's bucket counts, zero-padded on the right when
features have fewer buckets (padding never matters: empty buckets in both samples are
merged away).

- chi2: a chi-square test of homogeneity (the reference is a sample too), with adjacent
  buckets merged, left to right, until every expected count is at least 5. This is what
  holds the false-alarm rate near alpha from n=30 to n=10^5.
- ks: the largest gap between the two cumulative bucket distributions, with the
  asymptotic Kolmogorov p-value on n1*n2/(n1+n2) (conservative for binned data).
- psi, js (Jensen-Shannon distance, base 2), wasserstein (binned, in the units of the
  edges): severity figures, not tests; they do not shrink with traffic.
- corrected p-values across features: Benjamini-Hochberg (default) or Bonferroni.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

Array = npt.NDArray[np.float64]
Correction = Literal["bh", "bonferroni", "none"]
MIN_EXPECTED = 5.0
PSI_EPSILON = 1e-4  # proportions floor, so an empty bucket on one side gives a large but finite PSI


@dataclass(frozen=True)
class TwoSample:
    """Per-feature results (arrays of length F). NaN where a sample is empty."""

    n_reference: Array
    n_current: Array
    chi2: Array
    dof: Array
    p_value: Array
    ks: Array
    ks_p_value: Array
    psi: Array
    js: Array
    wasserstein: Array


def merge_buckets(reference: Array, current: Array) -> tuple[Array, Array]:
    """Merge adjacent buckets left to right until each merged bucket's expected count is >= 5.

    The smallest expected count of a bucket with column total t is t * min(n1, n2) / N,
    so a group closes once its column total reaches 5 * N / min(n1, n2). A trailing group
    below that joins the previous one. Returns merged (features x groups) matrices.
    """
    columns = reference + current
    n_ref, n_cur = reference.sum(axis=1), current.sum(axis=1)
    total = n_ref + n_cur
    smaller = np.minimum(n_ref, n_cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(smaller > 0, MIN_EXPECTED * total / smaller, np.inf)
    features, buckets = columns.shape
    group = np.zeros((features, buckets), dtype=np.int64)
    gid = np.zeros(features, dtype=np.int64)
    acc = np.zeros(features)
    for b in range(buckets):  # sequential over buckets (<= 65), vectorised over features
        group[:, b] = gid
        acc += columns[:, b]
        closed = acc >= needed
        gid += closed
        acc[closed] = 0.0
    # the open trailing group (acc > 0 or empty) joins the previous closed group
    trailing = group == gid[:, None]
    group = np.where(trailing & (gid[:, None] > 0), gid[:, None] - 1, group)
    groups = int(group.max()) + 1 if group.size else 0
    index = (np.arange(features)[:, None] * groups + group).ravel()
    size = features * groups
    merged_ref = np.bincount(index, weights=reference.ravel(), minlength=size).astype(np.float64)
    merged_cur = np.bincount(index, weights=current.ravel(), minlength=size).astype(np.float64)
    return merged_ref.reshape(features, groups), merged_cur.reshape(features, groups)


def chi2_homogeneity(reference: Array, current: Array) -> tuple[Array, Array, Array]:
    """(statistic, degrees of freedom, p-value) per feature, after merging sparse buckets."""
    ref, cur = merge_buckets(reference, current)
    n_ref, n_cur = ref.sum(axis=1, keepdims=True), cur.sum(axis=1, keepdims=True)
    n = n_ref + n_cur
    columns = ref + cur
    used = columns > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ref, e_cur = columns * n_ref / n, columns * n_cur / n
        terms = np.where(used, (ref - e_ref) ** 2 / e_ref + (cur - e_cur) ** 2 / e_cur, 0.0)
    statistic = terms.sum(axis=1)
    dof = used.sum(axis=1) - 1.0
    empty = (n_ref[:, 0] == 0) | (n_cur[:, 0] == 0)
    p = np.where(dof > 0, special.chdtrc(np.maximum(dof, 1.0), statistic), 1.0)
    return (
        np.where(empty, np.nan, statistic),
        np.where(empty, np.nan, np.maximum(dof, 0.0)),
        np.where(empty, np.nan, p),
    )


def _proportions(counts: Array) -> Array:
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals > 0, counts / totals, np.nan)


def ks(reference: Array, current: Array) -> tuple[Array, Array]:
    """Max gap between cumulative distributions at the bucket edges, and its p-value."""
    gap = np.abs(np.cumsum(_proportions(reference), axis=1) - np.cumsum(_proportions(current), axis=1))
    d = np.nanmax(np.where(np.isnan(gap), -np.inf, gap), axis=1)
    n1, n2 = reference.sum(axis=1), current.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        effective = n1 * n2 / (n1 + n2)
    empty = (n1 == 0) | (n2 == 0)
    d = np.where(empty, np.nan, d)
    return d, np.where(empty, np.nan, special.kolmogorov(np.sqrt(effective) * np.nan_to_num(d)))


def psi(reference: Array, current: Array) -> Array:
    r = np.maximum(_proportions(reference), PSI_EPSILON)
    c = np.maximum(_proportions(current), PSI_EPSILON)
    return np.asarray(np.sum((c - r) * np.log(c / r), axis=1), dtype=np.float64)


def js_distance(reference: Array, current: Array) -> Array:
    """Jensen-Shannon distance (base 2): 0 identical, 1 disjoint."""
    r, c = _proportions(reference), _proportions(current)
    m = (r + c) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_r = np.where(r > 0, r * np.log2(r / m), 0.0)
        kl_c = np.where(c > 0, c * np.log2(c / m), 0.0)
    divergence = np.clip((kl_r.sum(axis=1) + kl_c.sum(axis=1)) / 2, 0.0, 1.0)
    return np.asarray(np.sqrt(divergence), dtype=np.float64)


def wasserstein(reference: Array, current: Array, edges: Array) -> Array:
    """Binned earth mover's distance: sum over interior buckets of |F_ref - F_cur| x width.

    `edges` (features x (buckets-1)) are the upper bounds of all but the +Inf bucket,
    NaN-padded; the open-ended first and last buckets contribute nothing (their width is
    unknown), which makes this a lower bound.
    """
    gap = np.abs(np.cumsum(_proportions(reference), axis=1) - np.cumsum(_proportions(current), axis=1))
    widths = np.diff(edges, axis=1)  # bucket i+1 spans edges[i]..edges[i+1]
    inner = gap[:, : widths.shape[1]]  # F at edges[i] for i < len(edges)-1
    return np.asarray(np.nansum(inner * np.where(np.isnan(widths), 0.0, widths), axis=1), dtype=np.float64)


def correct(p_values: Array, method: Correction) -> Array:
    """Adjusted p-values across features; NaN (untestable) entries stay NaN and do not count."""
    p = np.asarray(p_values, dtype=np.float64)
    valid = ~np.isnan(p)
    m = int(valid.sum())
    if method == "none" or m == 0:
        return p.copy()
    out = np.full_like(p, np.nan)
    if method == "bonferroni":
        out[valid] = np.minimum(p[valid] * m, 1.0)
        return out
    order = np.argsort(p[valid])
    ranked = p[valid][order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    values = np.empty(m)
    values[order] = adjusted
    out[valid] = values
    return out


def compare(reference: Array, current: Array, edges: Array | None = None) -> TwoSample:
    """Every statistic for every feature. Counts are rounded and clamped at zero first:
    increase() extrapolates to fractions, and a counter reset can make it negative."""
    ref = np.maximum(np.rint(np.asarray(reference, dtype=np.float64)), 0.0)
    cur = np.maximum(np.rint(np.asarray(current, dtype=np.float64)), 0.0)
    if ref.shape != cur.shape:
        raise ValueError(f"reference {ref.shape} and current {cur.shape} bucket matrices differ")
    statistic, dof, p = chi2_homogeneity(ref, cur)
    d, d_p = ks(ref, cur)
    features = ref.shape[0]
    w = wasserstein(ref, cur, edges) if edges is not None else np.full(features, np.nan)
    return TwoSample(
        n_reference=ref.sum(axis=1),
        n_current=cur.sum(axis=1),
        chi2=statistic,
        dof=dof,
        p_value=p,
        ks=d,
        ks_p_value=d_p,
        psi=psi(ref, cur),
        js=js_distance(ref, cur),
        wasserstein=w,
    )
