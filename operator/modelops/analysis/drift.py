"""Drift of a model's inputs and outputs against a reference: which features drifted, and is the model Drifted.

Pure: values in, values out. The controller queries Prometheus, turns the answers into
`Observations` with `from_prometheus`, calls `evaluate`, feeds the result to `next_state`
and writes `to_status` into the DriftMonitor's status; `modelops drift evaluate` does the
same with two baseline documents (read by `drift_documents`, which refuses bad counts).

How a feature is judged (see docs/drift.md):

- Numeric features and numeric predictions: the chi-square homogeneity test of
  `drift_stats` on the bucket counts (adjacent buckets merged until each expects >= 5), all
  numeric features in one vectorised pass.
- Categorical features: the same test on the union of categories. Categories are ordered
  by their combined count, so the adjacent merging pools the rare ones together; categories
  the reference never saw share one bin of their own instead of hiding in `__other__`.
- p-values are corrected across every tested feature (Benjamini-Hochberg by default), and
  a feature drifts only when its adjusted p-value is below alpha AND its PSI, less the
  sampling noise a PSI carries ((buckets - 1)(1/n + 1/N)), reaches the effect floor:
  significance alone flags negligible shifts once traffic is large, and a floor on the raw
  sample PSI fires on noise when traffic is small.
- Fewer than `min_samples` current observations: InsufficientData, neither drifted nor
  clean, and left out of the drift share. Bad input (edges that do not match the
  reference, a feature missing, a malformed entry) is an error on that feature alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, repeat
from operator import attrgetter, is_, itemgetter
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from modelops.analysis import drift_stats
from modelops.analysis.drift_stats import Correction
from modelops.api.v1alpha1.baseline import Baseline, Distribution
from modelops.api.v1alpha1.driftmonitor import DriftMonitorSpec, FeatureDrift

Array = npt.NDArray[np.float64]
FeatureType = Literal["numeric", "categorical"]

PREDICTION = "__prediction__"  # the prediction distribution, tested as one more feature
EDGE_RTOL = 1e-9  # `le` labels and baseline edges are the same float64 written two ways
EDGE_ATOL = 1e-12
MAX_LISTED = 5  # edges named in a mismatch message


# ---- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Histogram:
    """Per-bucket counts (not cumulative) with Prometheus `le` upper edges; the last count is +Inf.

    Counts are floats because increase() extrapolates; the statistics round them.
    """

    edges: Array
    counts: Array

    def __post_init__(self) -> None:
        if self.edges.ndim != 1 or self.counts.ndim != 1:
            raise ValueError("edges and counts must be one-dimensional")

    @classmethod
    def of(cls, edges: Iterable[float], counts: Iterable[float]) -> Histogram:
        return cls(np.asarray(list(edges), dtype=np.float64), np.asarray(list(counts), dtype=np.float64))


Categories = Mapping[str, float]


@dataclass(frozen=True)
class Observations:
    """One side of a comparison: numeric histograms and category counts per feature.

    `errors` holds features that could not be read (e.g. live buckets that do not match the
    reference edges); they are reported as errors, never silently dropped.
    """

    numeric: Mapping[str, Histogram] = field(default_factory=dict)
    categorical: Mapping[str, Categories] = field(default_factory=dict)
    predictions: Histogram | Categories | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    # a reference is evaluated against every new window: its histograms are stacked once per selection
    _stacked: dict[tuple[str, ...], _Stacked] = field(default_factory=dict, init=False, repr=False, compare=False)
    # from_prometheus's counts as one matrix, so that evaluate() need not stack 1,000 arrays again
    _block: _Block | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_baseline(cls, baseline: Baseline) -> Observations:
        numeric: dict[str, Histogram] = {}
        categorical: dict[str, Categories] = {}
        for f in baseline.features:
            if f.type == "numeric":
                numeric[f.name] = Histogram.of(f.edges, f.counts)
            else:
                categorical[f.name] = {k: float(v) for k, v in f.categories.items()}
        return cls(numeric, categorical, _distribution(baseline.predictions))

    def kind(self, name: str) -> FeatureType | None:
        if name == PREDICTION:
            if self.predictions is None:
                return None
            return "numeric" if isinstance(self.predictions, Histogram) else "categorical"
        if name in self.numeric:
            return "numeric"
        return "categorical" if name in self.categorical else None

    def histogram(self, name: str) -> Histogram | None:
        if name == PREDICTION:
            return self.predictions if isinstance(self.predictions, Histogram) else None
        return self.numeric.get(name)

    def categories(self, name: str) -> Categories | None:
        if name == PREDICTION:
            return None if self.predictions is None or isinstance(self.predictions, Histogram) else self.predictions
        return self.categorical.get(name)

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.numeric, *self.categorical, *(n for n in self.errors if n != PREDICTION)]))


def empty_like(reference: Observations) -> Observations:
    """Current observations with no samples at all, on the reference's edges and categories: what a
    window with no scraped traffic holds (every feature InsufficientData, none an error)."""

    def empty(d: Histogram | Categories) -> Histogram | Categories:
        if isinstance(d, Histogram):
            return Histogram(d.edges, np.zeros(d.edges.size + 1))
        return dict.fromkeys(d, 0.0)

    predictions = None if reference.predictions is None else empty(reference.predictions)
    return Observations(
        {k: Histogram(h.edges, np.zeros(h.edges.size + 1)) for k, h in reference.numeric.items()},
        {k: dict.fromkeys(cats, 0.0) for k, cats in reference.categorical.items()},
        predictions,
    )


def _distribution(d: Distribution | None) -> Histogram | Categories | None:
    if d is None:
        return None
    if d.type == "numeric":
        return Histogram.of(d.edges, d.counts)
    return {k: float(v) for k, v in d.categories.items()}


@dataclass(frozen=True)
class Settings:
    """What `evaluate` needs from a DriftMonitorSpec (and what the CLI takes as flags)."""

    alpha: float = 0.05
    correction: Correction = "bh"
    psi_floor: float = 0.1
    min_samples: int = 200
    predictions: bool = True
    features: tuple[tuple[str, FeatureType | None], ...] = ()  # empty: every feature of the reference

    @classmethod
    def from_spec(cls, spec: DriftMonitorSpec) -> Settings:
        return cls(
            alpha=spec.alpha,
            correction=spec.correction,
            psi_floor=spec.effect_floor.psi,
            min_samples=spec.min_samples,
            predictions=spec.predictions,
            features=tuple((f.name, f.type) for f in spec.features),
        )


# ---- Prometheus results -> observations --------------------------------------------------


def _les(buckets: Sequence[tuple[str, float]]) -> Array:
    """`le` label values as numbers; a label that is not one is named in the error."""
    try:
        les = np.array([float(le) for le, _ in buckets], dtype=np.float64)
    except ValueError:
        bad = next(le for le, _ in buckets if not _is_float(le))
        raise ValueError(f"le={bad!r} is not a number") from None
    unusable = np.isnan(les) | (les == -np.inf)
    if unusable.any():
        raise ValueError(f"le={buckets[int(np.argmax(unusable))][0]!r} is not an upper bucket edge")
    return les


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _format_edges(edges: Iterable[float]) -> str:
    listed = [f"{e:g}" for e in edges]
    more = len(listed) - MAX_LISTED
    return ", ".join(listed[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def _match(live: Array, reference: Array) -> npt.NDArray[np.int64]:
    """Index of the reference edge each live edge equals (within tolerance), -1 if none."""
    if reference.size == 0:
        return np.full(live.shape, -1, dtype=np.int64)
    right = np.clip(np.searchsorted(reference, live), 0, reference.size - 1)
    left = np.clip(right - 1, 0, reference.size - 1)
    index = np.where(np.abs(reference[left] - live) < np.abs(reference[right] - live), left, right)
    return np.where(_close(live, reference[index]), index, -1)


def _close(live: Array, reference: Array) -> npt.NDArray[np.bool_]:
    """np.isclose's rule (|a - b| <= atol + rtol |b|) without its overhead; NaN is never close."""
    return np.asarray(np.abs(live - reference) <= EDGE_ATOL + EDGE_RTOL * np.abs(reference))


def buckets_from_cumulative(
    buckets: Sequence[tuple[str, float]], edges: Sequence[float] | Array | None = None
) -> Histogram:
    """Cumulative `le` buckets (as Prometheus returns them) -> per-bucket counts on `edges`.

    `le` is compared numerically ("1e+06" is 1000000), series with the same `le` are added
    (they count disjoint observations), +Inf goes last. increase() can leave the cumulative
    counts slightly non-monotone (each series is extrapolated on its own); a running maximum
    restores the order without changing the total. Without `edges` the `le` values are the
    edges. Raises ValueError naming the problem: a bad `le` or count, no +Inf bucket, or
    `le` values that are not exactly the reference edges.
    """
    les = _les(buckets)
    values = np.array([v for _, v in buckets], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("a bucket count is NaN or infinite")
    infinite = np.isinf(les)
    if not infinite.any():
        raise ValueError("no le=+Inf bucket (the total)")
    finite_les, finite_values = les[~infinite], values[~infinite]
    if edges is None:
        reference = np.unique(finite_les)
        index = np.searchsorted(reference, finite_les)
    else:
        reference = np.asarray(edges, dtype=np.float64)
        index = _match(finite_les, reference)
        present = np.zeros(reference.size, dtype=bool)
        present[index[index >= 0]] = True
        if not present.all() or (index < 0).any():
            problems = []
            if not present.all():
                problems.append(f"missing le {_format_edges(reference[~present])}")
            if (index < 0).any():
                problems.append(f"unexpected le {_format_edges(np.unique(finite_les[index < 0]))}")
            raise ValueError(f"buckets do not match the reference edges: {'; '.join(problems)}")
    cumulative = np.bincount(index, weights=finite_values, minlength=reference.size + 1)[: reference.size + 1]
    cumulative[-1] = values[infinite].sum()
    cumulative = np.maximum.accumulate(np.maximum(cumulative, 0.0))
    return Histogram(reference, np.diff(cumulative, prepend=0.0))


def _clean_categories(counts: Mapping[str, float]) -> dict[str, float]:
    out = {str(k): float(v) for k, v in counts.items()}
    if not all(math.isfinite(v) for v in out.values()):
        raise ValueError("a category count is NaN or infinite")
    return {k: max(v, 0.0) for k, v in out.items()}


LE_CACHE_LIMIT = 100_000  # distinct `le` labels remembered (about 10 MB at most)
_le_values: dict[str, float] = {}


def _le_value(label: str) -> float:
    """float(label), remembered: the same labels come back every evaluation, and parsing 20,000
    of them costs more than everything else from_prometheus does with them."""
    value = _le_values.get(label)
    if value is None:
        value = float(label)
        if len(_le_values) >= LE_CACHE_LIMIT:
            _le_values.clear()
        _le_values[label] = value
    return value


@dataclass(frozen=True, eq=False)
class _Block:
    """Current counts of `names` (in the reference's order) as rows of one matrix, on the
    reference's own edge arrays: evaluate() uses it as it is instead of stacking the rows again."""

    names: tuple[str, ...]
    counts: Array  # (features, buckets); the current Histograms' counts are views of its rows
    edge_arrays: list[Array]


def _aligned(
    buckets: Mapping[str, Sequence[tuple[str, float]]], reference: Observations
) -> tuple[dict[str, Histogram], _Block | None]:
    """The usual case, converted for every feature at once: one series per reference edge plus +Inf.

    Series are sorted by `le` within each feature in one lexsort, compared with the reference
    edges in one pass, and turned into per-bucket counts on a padded matrix. A feature that does
    not fit exactly (an edge that does not match, `le` written two ways, a bad number) is left
    out, and from_prometheus converts it with buckets_from_cumulative, which names the problem.
    When every feature fits and all have as many buckets, the matrix is returned as a _Block.
    """
    names: list[str] = []
    edge_arrays: list[Array] = []
    series_lists: list[Sequence[tuple[str, float]]] = []
    for name, histogram in reference.numeric.items():  # in the reference's order, as evaluate() stacks it
        series = buckets.get(name)
        if series is not None and len(series) == histogram.edges.size + 1:
            names.append(name)
            edge_arrays.append(histogram.edges)
            series_lists.append(series)
    if not names:
        return {}, None
    flat = list(chain.from_iterable(series_lists))
    labels = list(map(itemgetter(0), flat))
    try:
        try:
            les = np.fromiter(map(_le_values.__getitem__, labels), dtype=np.float64, count=len(labels))
        except KeyError:  # labels not seen before: parse (and remember) them
            les = np.fromiter(map(_le_value, labels), dtype=np.float64, count=len(labels))
        values = np.fromiter(map(itemgetter(1), flat), dtype=np.float64, count=len(flat))
    except (TypeError, ValueError):
        return {}, None  # a label or count that is not a number: the per-feature path names it
    features = len(names)
    sizes = np.fromiter(map(len, series_lists), dtype=np.int64, count=features)
    width = int(sizes.max())
    feature = np.repeat(np.arange(features), sizes)
    column = np.arange(les.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    matrix = np.full((features, width), np.inf)  # the padding sorts after every real `le`, +Inf included
    matrix[feature, column] = les
    cumulative = np.zeros((features, width))
    cumulative[feature, column] = np.maximum(values, 0.0)
    order = np.argsort(matrix, axis=1, kind="stable")  # by le within each feature
    matrix = np.take_along_axis(matrix, order, axis=1)
    cumulative = np.take_along_axis(cumulative, order, axis=1)
    edges = _padded(edge_arrays, width - 1, np.nan, sizes - 1)
    fits = np.isposinf(matrix[np.arange(features), sizes - 1])
    fits &= (_close(matrix[:, : width - 1], edges) | np.isnan(edges)).all(axis=1)
    fits &= np.bincount(feature[~np.isfinite(values) | np.isnan(les)], minlength=features) == 0
    np.maximum.accumulate(cumulative, axis=1, out=cumulative)  # undo increase()'s non-monotone extrapolation
    counts = np.diff(cumulative, axis=1, prepend=0.0)
    bounds = sizes.tolist()
    histograms = {names[i]: Histogram(edge_arrays[i], counts[i, : bounds[i]]) for i in np.flatnonzero(fits).tolist()}
    block = _Block(tuple(names), counts, edge_arrays) if fits.all() and (sizes == width).all() else None
    return histograms, block


def from_prometheus(
    buckets: Mapping[str, Sequence[tuple[str, float]]],
    categories: Mapping[str, Mapping[str, float]] | None = None,
    predictions: Sequence[tuple[str, float]] | Mapping[str, float] | None = None,
    *,
    reference: Baseline | Observations | None = None,
) -> Observations:
    """Prometheus answers -> Observations aligned with the reference edges.

    `buckets`: {feature: [(le, cumulative count), ...]} from
    `sum by (feature, le) (increase(modelops_feature_value_bucket{...}[w]))`;
    `categories`: {feature: {category: count}} from `sum by (feature, category) (...)`;
    `predictions`: [(le, cumulative count)] (or {class: count}). A feature whose series do not
    fit gets an error naming why; the others are unaffected.
    """
    ref = Observations.from_baseline(reference) if isinstance(reference, Baseline) else reference
    aligned, block = _aligned(buckets, ref) if ref is not None else ({}, None)
    numeric: dict[str, Histogram] = {}
    categorical: dict[str, Categories] = {}
    errors: dict[str, str] = {}
    for name, series in buckets.items():
        histogram = aligned.get(name)
        if histogram is not None:
            numeric[name] = histogram
            continue
        edges = ref.histogram(name) if ref is not None else None
        try:
            numeric[name] = buckets_from_cumulative(series, None if edges is None else edges.edges)
        except ValueError as error:
            errors[name] = str(error)
    for name, counts in (categories or {}).items():
        try:
            categorical[name] = _clean_categories(counts)
        except ValueError as error:
            errors[name] = str(error)
    converted: Histogram | Categories | None = None
    if isinstance(predictions, Mapping):
        try:
            converted = _clean_categories(predictions)
        except ValueError as error:
            errors[PREDICTION] = str(error)
    elif predictions is not None:
        edges = ref.histogram(PREDICTION) if ref is not None else None
        try:
            converted = buckets_from_cumulative(predictions, None if edges is None else edges.edges)
        except ValueError as error:
            errors[PREDICTION] = str(error)
    return Observations(numeric, categorical, converted, errors, _block=block)


# ---- evaluation --------------------------------------------------------------------------


class FeatureResult(NamedTuple):
    """One feature's outcome. Statistics are None when the feature was not tested.

    A NamedTuple, not a dataclass: evaluations of 1,000 features build 1,000 of these, and
    this is the cheapest immutable record to build.
    """

    name: str
    type: FeatureType | None
    test: str = ""
    samples: int = 0
    reference_samples: int = 0
    p_value: float | None = None
    adjusted_p_value: float | None = None
    chi2: float | None = None
    dof: int | None = None
    ks: float | None = None
    psi: float | None = None
    js: float | None = None
    wasserstein: float | None = None
    drifted: bool = False
    insufficient_data: bool = False
    error: str | None = None

    @property
    def tested(self) -> bool:
        return self.p_value is not None

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return "error"
        if self.insufficient_data:
            return "insufficient"
        return "drifted" if self.drifted else "ok"


@dataclass(frozen=True)
class DriftEvaluation:
    """Every feature's result, worst first, and the share of tested features that drifted."""

    features: tuple[FeatureResult, ...]
    settings: Settings
    tested: int
    drifted_count: int

    @property
    def insufficient_data(self) -> bool:
        """No feature could be tested: this evaluation says nothing about drift."""
        return self.tested == 0

    @property
    def drift_share(self) -> float | None:
        return self.drifted_count / self.tested if self.tested else None

    @property
    def worst_feature(self) -> str | None:
        return self.features[0].name if self.features and self.features[0].tested else None

    @property
    def errors(self) -> tuple[FeatureResult, ...]:
        return tuple(f for f in self.features if f.error is not None)

    def drifted(self, drift_share: float) -> bool | None:
        """This evaluation alone (no hysteresis): None when nothing could be tested."""
        share = self.drift_share
        return None if share is None else share >= drift_share

    def feature(self, name: str) -> FeatureResult | None:
        return next((f for f in self.features if f.name == name), None)


def _selection(
    reference: Observations, settings: Settings, numeric_done: bool = False
) -> list[tuple[str, FeatureType | None]]:
    """(name, wanted type) of every feature to test; without the numeric ones when `numeric_done`
    (the default selection with no unreadable entries, whose numeric features evaluate() stacked)."""
    selected: list[tuple[str, FeatureType | None]]
    if settings.features:
        selected = list(dict.fromkeys(settings.features))
    elif numeric_done:
        numeric = reference.numeric
        selected = [(name, None) for name in reference.categorical if name not in numeric]
    else:  # names() has no duplicates
        selected = list(zip(reference.names(), repeat(None)))
    if settings.predictions and (PREDICTION, None) not in selected:
        selected.append((PREDICTION, None))
    return selected


def _problem(name: str, wanted: FeatureType | None, reference: Observations, current: Observations) -> str | None:
    """Why this feature cannot be compared at all, before looking at its numbers."""
    what = "the prediction distribution" if name == PREDICTION else "the feature"
    if name in reference.errors:
        return f"reference: {reference.errors[name]}"
    kind = reference.kind(name)
    if kind is None:
        return f"{what} is not in the reference"
    if wanted is not None and wanted != kind:
        return f"selected as {wanted} but the reference has it as {kind}"
    if name in current.errors:
        return current.errors[name]
    live = current.kind(name)
    if live is None:
        return f"{what} is missing from the current data"
    if live != kind:
        return f"{kind} in the reference but {live} in the current data"
    return None


def _edge_mismatch(reference: Array, live: Array) -> str:
    index = _match(live, reference)
    present = np.zeros(reference.size, dtype=bool)
    present[index[index >= 0]] = True
    problems = []
    if not present.all():
        problems.append(f"missing le {_format_edges(reference[~present])}")
    if (index < 0).any():
        problems.append(f"unexpected le {_format_edges(live[index < 0])}")
    return f"buckets do not match the reference edges: {'; '.join(problems)}"


def _malformed(h: Histogram) -> str | None:
    if h.counts.size != h.edges.size + 1:
        return f"malformed entry: {h.counts.size} counts for {h.edges.size} edges (need edges + 1, the last is +Inf)"
    if not np.all(np.isfinite(h.edges)) or np.any(np.diff(h.edges) <= 0):
        return "malformed entry: edges must be finite and strictly increasing"
    if not np.all(np.isfinite(h.counts)):
        return "malformed entry: a count is NaN or infinite"
    return None


def _padded(rows: Sequence[Array], width: int, fill: float, lengths: npt.NDArray[np.int64] | None = None) -> Array:
    """Rows of different lengths as one matrix, filled on the right (one copy, no per-row loop)."""
    if lengths is None:
        lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
    total = int(lengths.sum())
    if not total:
        return np.full((len(rows), width), fill)
    flat = np.concatenate(rows)
    if total == len(rows) * width:  # the usual case: every feature has as many buckets
        return flat.reshape(len(rows), width)
    out = np.full((len(rows), width), fill)
    starts = np.cumsum(lengths) - lengths
    out[np.repeat(np.arange(len(rows)), lengths), np.arange(total) - np.repeat(starts, lengths)] = flat
    return out


@dataclass(frozen=True)
class _Rows:
    """Features ready for one drift_stats.compare call."""

    names: list[str]
    test: str
    reference: Array
    current: Array
    edges: Array | None


def _well_formed(edges: Array, counts: Array, lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Per row: finite, strictly increasing edges (NaN-padded) and finite counts."""
    finite_edges = np.isfinite(edges).sum(axis=1) == lengths
    increasing = ~(np.diff(edges, axis=1) <= 0).any(axis=1)  # comparisons with the NaN padding are False
    return np.asarray(finite_edges & increasing & np.isfinite(counts).all(axis=1))


@dataclass(frozen=True, eq=False)
class _Stacked:
    """Histograms as NaN-padded edge and zero-padded count matrices, validated per row."""

    edge_arrays: list[Array]  # the rows' own arrays, to recognise a current side that shares them
    edge_lengths: npt.NDArray[np.int64]  # edges per row as given
    edges: Array  # (rows, width), rows that are not well formed left empty
    counts: Array  # (rows, width + 1)
    well_formed: npt.NDArray[np.bool_]  # counts = edges + 1, edges finite and increasing, counts finite

    @property
    def width(self) -> int:
        return int(self.edges.shape[1])


STACK_CACHE = 4  # selections remembered per reference (one in practice)


def _emptied(arrays: list[Array], keep: npt.NDArray[np.bool_]) -> list[Array]:
    """`arrays` with the rows not kept replaced by empty ones, so they stay out of a padded matrix."""
    empty = np.empty(0)
    return [x if k else empty for x, k in zip(arrays, keep.tolist(), strict=True)]


def _stack(histograms: Sequence[Histogram]) -> _Stacked:
    n = len(histograms)
    edge_arrays, count_arrays = [h.edges for h in histograms], [h.counts for h in histograms]
    edge_n = np.fromiter(map(len, edge_arrays), dtype=np.int64, count=n)
    count_n = np.fromiter(map(len, count_arrays), dtype=np.int64, count=n)
    shaped = count_n == edge_n + 1
    kept_edges, kept_counts = edge_arrays, count_arrays
    if not shaped.all():  # keep malformed rows out of the matrices; they are reported by the caller
        kept_edges, kept_counts = _emptied(edge_arrays, shaped), _emptied(count_arrays, shaped)
    lengths = np.where(shaped, edge_n, 0)
    width = int(lengths.max()) if n else 0
    edges = _padded(kept_edges, width, np.nan, lengths)
    counts = _padded(kept_counts, width + 1, 0.0, np.where(shaped, count_n, 0))
    return _Stacked(edge_arrays, edge_n, edges, counts, shaped & _well_formed(edges, counts, lengths))


def _reference_stack(reference: Observations, names: tuple[str, ...], histograms: Sequence[Histogram]) -> _Stacked:
    cache = reference._stacked
    stacked = cache.get(names)
    if stacked is None:
        if len(cache) >= STACK_CACHE:
            cache.clear()
        stacked = cache[names] = _stack(histograms)
    return stacked


def _block_rows(reference: Observations, current: Observations) -> _Rows | None:
    """Every numeric reference feature, when `current` came from from_prometheus with all of them
    on the reference's edges (the controller's case): its counts matrix is used as it is, with no
    per-feature work. None when anything does not fit; the general path then names the problem."""
    block = current._block
    names = tuple(reference.numeric)
    if block is None or block.names != names:
        return None
    ref = _reference_stack(reference, names, list(reference.numeric.values()))
    if not all(map(is_, block.edge_arrays, ref.edge_arrays)) or block.counts.shape != ref.counts.shape:
        return None
    if not (ref.well_formed.all() and np.isfinite(block.counts).all()):
        return None
    return _Rows(list(names), "chi2", ref.counts, block.counts, ref.edges)


def _numeric_rows(
    entries: Sequence[tuple[str, Histogram, Histogram]], reference: Observations, results: dict[str, FeatureResult]
) -> _Rows:
    """Validate every numeric feature at once; the bad ones go to `results` as errors.

    The reference side is stacked once per reference (and selection); the current side costs one
    concatenation of counts when it shares the reference's edge arrays, as from_prometheus makes it.
    """
    names = tuple(map(itemgetter(0), entries))
    ref = _reference_stack(reference, names, list(map(itemgetter(1), entries)))
    n, width = len(entries), ref.width
    curs = list(map(itemgetter(2), entries))
    count_arrays = list(map(attrgetter("counts"), curs))
    count_n = np.fromiter(map(len, count_arrays), dtype=np.int64, count=n)
    edge_arrays = list(map(attrgetter("edges"), curs))
    shared = all(map(is_, edge_arrays, ref.edge_arrays))
    edge_n = ref.edge_lengths if shared else np.fromiter(map(len, edge_arrays), dtype=np.int64, count=n)
    shaped = ref.well_formed & (edge_n == ref.edge_lengths) & (count_n == edge_n + 1)
    if not shaped.all():
        count_arrays, edge_arrays = _emptied(count_arrays, shaped), _emptied(edge_arrays, shaped)
    lengths = np.where(shaped, edge_n, 0)
    cc = _padded(count_arrays, width + 1, 0.0, np.where(shaped, count_n, 0))
    valid = shaped & np.isfinite(cc).all(axis=1)
    if not shared:
        ce = _padded(edge_arrays, width, np.nan, lengths)
        same = (_close(ce, ref.edges) | (np.isnan(ce) & np.isnan(ref.edges))).all(axis=1)
        valid &= _well_formed(ce, cc, lengths) & same
    if valid.all():
        return _Rows(list(names), "chi2", ref.counts, cc, ref.edges)
    for i in np.flatnonzero(~valid).tolist():
        name, r, c = entries[i]
        bad = _malformed(r)
        message = f"reference: {bad}" if bad else _malformed(c) or _edge_mismatch(r.edges, c.edges)
        results[name] = FeatureResult(name, "numeric", error=message)
    kept = [name for name, ok in zip(names, valid.tolist(), strict=True) if ok]
    return _Rows(kept, "chi2", ref.counts[valid], cc[valid], ref.edges[valid])


def _categorical_row(reference: Categories, current: Categories) -> tuple[Array, Array]:
    """Reference and current counts over the reference's categories plus one bin for unseen ones,
    ordered by combined count (ties by name) so that merging adjacent bins pools the rare ones."""
    names = sorted(reference)
    unseen = sum(v for k, v in current.items() if k not in reference)
    r = np.array([reference[k] for k in names] + [0.0])
    c = np.array([current.get(k, 0.0) for k in names] + [unseen])
    order = np.argsort(-(np.rint(r) + np.rint(c)), kind="stable")
    return r[order], c[order]


def _categorical_rows(
    entries: Sequence[tuple[str, Categories, Categories]], results: dict[str, FeatureResult]
) -> _Rows:
    names: list[str] = []
    refs: list[Array] = []
    curs: list[Array] = []
    for name, reference, current in entries:
        try:
            r, c = _categorical_row(_clean_categories(reference), _clean_categories(current))
        except ValueError as error:
            results[name] = FeatureResult(name, "categorical", error=f"malformed entry: {error}")
            continue
        names.append(name)
        refs.append(r)
        curs.append(c)
    width = max((r.size for r in refs), default=0)
    return _Rows(names, "chi2-categorical", _padded(refs, width, 0.0), _padded(curs, width, 0.0), None)


def evaluate(
    reference: Baseline | Observations, current: Baseline | Observations, settings: Settings | None = None
) -> DriftEvaluation:
    """Test every selected feature (and the predictions) of `current` against `reference`.

    All numeric features go through drift_stats in one call, all categorical ones in another;
    the p-values are then corrected together. Nothing raises for bad data: a feature that
    cannot be compared carries an error and the rest are evaluated.
    """
    settings = settings or Settings()
    ref = Observations.from_baseline(reference) if isinstance(reference, Baseline) else reference
    cur = Observations.from_baseline(current) if isinstance(current, Baseline) else current
    results: dict[str, FeatureResult] = {}
    numeric: list[tuple[str, Histogram, Histogram]] = []
    categorical: list[tuple[str, Categories, Categories]] = []
    batches: list[_Rows] = []
    ref_numeric, cur_numeric, ref_errors, cur_errors = ref.numeric, cur.numeric, ref.errors, cur.errors
    numeric_done = False
    if not settings.features and not ref_errors and not cur_errors and PREDICTION not in ref_numeric:
        # every reference feature, none unreadable: the numeric ones pair up without a per-name check
        block = _block_rows(ref, cur)
        if block is not None:
            batches.append(block)
            numeric_done = True
        else:
            currents = list(map(cur_numeric.get, ref_numeric))
            if None not in currents:
                numeric.extend(zip(ref_numeric, ref_numeric.values(), currents, strict=True))  # type: ignore[arg-type]
                numeric_done = True
    for name, wanted in _selection(ref, settings, numeric_done):
        if (  # the common case, kept cheap for 1,000 features
            wanted != "categorical"
            and name in ref_numeric
            and name in cur_numeric
            and name not in ref_errors
            and name not in cur_errors
            and name != PREDICTION
        ):
            numeric.append((name, ref_numeric[name], cur_numeric[name]))
            continue
        problem = _problem(name, wanted, ref, cur)
        kind = ref.kind(name)
        if problem is not None:
            if name != PREDICTION or ref.predictions is not None or cur.predictions is not None:
                results[name] = FeatureResult(name, kind, error=problem)
            continue  # a model with no prediction distribution on either side has nothing to test
        r_hist, c_hist = ref.histogram(name), cur.histogram(name)
        if r_hist is not None and c_hist is not None:
            numeric.append((name, r_hist, c_hist))
            continue
        r_cats, c_cats = ref.categories(name), cur.categories(name)
        assert r_cats is not None and c_cats is not None  # _problem checked both sides have the same kind
        categorical.append((name, r_cats, c_cats))

    if numeric:
        batches.append(_numeric_rows(numeric, ref, results))
    if categorical:
        batches.append(_categorical_rows(categorical, results))
    tested: list[FeatureResult] = []
    drifted = 0
    computed = [(rows, drift_stats.compare(rows.reference, rows.current, rows.edges)) for rows in batches if rows.names]
    if computed:
        tested, drifted = _tested(computed, settings, results)
    untested = sorted(results.values(), key=lambda f: (f.error is None, f.name))  # errors, then insufficient
    return DriftEvaluation((*tested, *untested), settings, len(tested), drifted)


def _tested(
    computed: Sequence[tuple[_Rows, drift_stats.TwoSample]], settings: Settings, untested: dict[str, FeatureResult]
) -> tuple[list[FeatureResult], int]:
    """Correct the p-values of every testable feature together and rank them: drifted first, then by
    PSI; and count the drifted ones. Features with too few observations (or an empty reference) go
    to `untested`."""
    names = computed[0][0].names if len(computed) == 1 else [name for rows, _ in computed for name in rows.names]
    numeric = np.concatenate([np.full(len(rows.names), rows.edges is not None) for rows, _ in computed])

    def column(field: str) -> Array:
        return np.concatenate([getattr(stats, field) for _, stats in computed])

    n_cur, n_ref, psi = column("n_current"), column("n_reference"), column("psi")
    testable = (n_ref > 0) & (n_cur >= settings.min_samples)
    adjusted = drift_stats.correct(np.where(testable, column("p_value"), np.nan), settings.correction)
    # the floor is an effect size: it is compared with the PSI less its sampling noise, not with the
    # sample PSI, whose noise would flag sub-floor effects at low traffic and fewer of them as traffic grows
    effect = column("psi_debiased")
    drifted = testable & (adjusted < settings.alpha) & (effect >= settings.psi_floor)
    samples_column, reference_column = np.rint(n_cur).astype(int), np.rint(n_ref).astype(int)
    samples, reference_samples = samples_column.tolist(), reference_column.tolist()
    for i in np.flatnonzero(~testable).tolist():
        name = names[i]
        kind: FeatureType = "numeric" if numeric[i] else "categorical"
        if reference_samples[i] == 0:
            untested[name] = FeatureResult(name, kind, samples=samples[i], error="the reference has no observations")
        else:
            untested[name] = FeatureResult(
                name, kind, samples=samples[i], reference_samples=reference_samples[i], insufficient_data=True
            )
    rows = np.flatnonzero(testable)
    order = rows[np.lexsort((-psi[rows], ~drifted[rows]))]  # drifted first, then by PSI, largest first
    is_numeric = numeric[order]

    def ranked(values: npt.NDArray[Any], numeric_only: bool = False) -> list[Any]:
        """One column of the results in rank order (None where a categorical feature has no such figure)."""
        picked: list[Any] = values[order].tolist()
        if numeric_only and not is_numeric.all():
            return [v if num else None for v, num in zip(picked, is_numeric.tolist(), strict=True)]
        return picked

    def family(numeric_value: Any, categorical_value: Any) -> Iterable[Any]:
        if is_numeric.all():
            return repeat(numeric_value)
        return np.where(is_numeric, numeric_value, categorical_value).tolist()  # type: ignore[no-any-return]

    dof_column = column("dof")
    dof = np.rint(np.where(np.isnan(dof_column), 0.0, dof_column)).astype(int)
    index = order.tolist()
    columns = zip(
        list(map(names.__getitem__, index)),
        family("numeric", "categorical"),
        family("chi2", "chi2-categorical"),
        ranked(samples_column),
        ranked(reference_column),
        ranked(column("p_value")),
        ranked(adjusted),
        ranked(column("chi2")),
        ranked(dof),
        ranked(column("ks"), True),
        ranked(psi),
        ranked(column("js")),
        ranked(column("wasserstein"), True),
        ranked(drifted),
        repeat(False),
        repeat(None),
    )
    # every statistic is a number (n > 0 on both sides); a categorical feature has no order, so no KS or Wasserstein.
    # tuple.__new__ over whole columns builds 1,000 results several times faster than calling the class per row.
    return list(map(partial(tuple.__new__, FeatureResult), columns)), int(np.count_nonzero(drifted))


# ---- hysteresis and status ---------------------------------------------------------------


def next_state(
    previous_drifted: bool | None,
    streak: int,
    evaluation: DriftEvaluation,
    drift_share_threshold: float,
    consecutive: int,
) -> tuple[bool | None, int]:
    """(drifted, streak) after this evaluation.

    `streak` counts evaluations in a row that disagree with `drifted`; the state flips when it
    reaches `consecutive`, so one noisy window neither raises nor clears Drifted. A monitor
    with no state yet (None) counts as not drifted: its first clean evaluation says False, and
    it stays None while drift builds up a streak. An evaluation with nothing testable
    (InsufficientData) changes nothing: it neither extends nor breaks a streak.
    """
    observed = evaluation.drifted(drift_share_threshold)
    if observed is None:
        return previous_drifted, streak
    state = bool(previous_drifted)
    if observed == state:
        return state, 0
    if streak + 1 >= consecutive:
        return observed, 0
    return previous_drifted, streak + 1


def to_status(evaluation: DriftEvaluation) -> list[FeatureDrift]:
    """Per-feature status entries, worst first (the predictions, if tested, under PREDICTION)."""
    return [
        FeatureDrift(
            name=f.name,
            test=f.test,
            p_value=f.p_value,
            adjusted_p_value=f.adjusted_p_value,
            ks=f.ks,
            psi=f.psi,
            js=f.js,
            wasserstein=f.wasserstein,
            samples=f.samples,
            drifted=f.drifted,
            insufficient_data=f.insufficient_data,
            error=f.error,
        )
        for f in evaluation.features
    ]
