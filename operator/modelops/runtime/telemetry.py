"""The telemetry a model server exports for the operator, for any Python server.

Exports on /metrics the series `modelops.telemetry_contract` names, every one labelled model,
version, variant:

- ``modelops_requests_total{code}`` (every inference request, whatever its answer; 499 when the
  client closed before it was read) and ``modelops_request_duration_seconds`` (histogram)
- ``modelops_feature_value{feature}`` histogram, bucket edges per feature from the training
  baseline (so drift tests get populated buckets)
- ``modelops_feature_category_total{feature, category}``, categories outside the known set
  pooled under ``__other__``
- ``modelops_prediction`` histogram (scores) and ``modelops_prediction_class_total{class}``
- ``modelops_model_info{uri, sha256, signer, retrain_run}`` and ``modelops_invalid_requests_total{reason}``
- for binary classifiers, labels sent back for recorded predictions (`feedback`):
  ``modelops_feedback_total{outcome}`` (tp/fp/tn/fn at the serving threshold),
  ``modelops_labelled_score{label}`` histogram, ``modelops_label_delay_seconds`` histogram,
  ``modelops_predictions_unlabelled_total``, ``modelops_feedback_ignored_total{reason}`` and
  ``modelops_feedback_requests_total{code}``

Cardinality is bounded by construction: features come from the baseline or the model
signature (at most 1,000), categories from the baseline (at most 100 + ``__other__``),
reasons and codes from fixed sets. Each request's values are counted at once by a C loop
(modelops/runtime/_bucketing.c); where it was not built, they are buffered and counted about 16k
values at a time with numpy (and before every scrape, so /metrics is always exact).
docs/serving.md has what that costs per request.

Usage from any server::

    telemetry = Telemetry(model="fraud", version="v3", variant="stable", baseline=baseline)
    telemetry.observe(features={"amount": [12.5], "country": ["DE"]}, predictions=[0.93])
    telemetry.observe_request(code=200, seconds=0.004)
    body, content_type = telemetry.exposition()      # serve these on GET /metrics
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from modelops import telemetry_contract as contract
from modelops.api.v1alpha1.baseline import MAX_FEATURES, OTHER_CATEGORY, PROBABILITY_EDGES, Baseline
from modelops.runtime import feedback as feedback_module
from modelops.runtime.feedback import IGNORED, LabelItem, PredictionRecord, Result
from modelops.runtime.refusal import InvalidRequest

try:  # the C bucketing loop (setup.py builds it where there is a C compiler)
    from modelops.runtime import _bucketing as _c_kernel

    KERNEL: Any = _c_kernel
except ImportError:  # pragma: no cover - depends on the install
    KERNEL = None

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROBABILITY_BUCKETS = PROBABILITY_EDGES
INVALID_REASONS = (
    "bad_json",
    "body_too_large",
    "missing_feature",
    "unknown_input",
    "wrong_shape",
    "wrong_type",
    "nan",
    "too_many_rows",
    contract.UNKNOWN_MODEL,
    "bad_request",
)
MAX_DYNAMIC_CATEGORIES = 20
# Buffered values per histogram family before they are counted: about 16k values (1,024 rows of
# 16 features) is where one counting pass costs least per value on a 512 KB L2 cache; between
# 512 and 4,096 rows whatever the width, so single histograms (scores, latencies) amortise their
# ~40 us of fixed cost too, and the buffer stays 4 MB at 1,000 features.
FLUSH_VALUES, MIN_FLUSH_ROWS, MAX_FLUSH_ROWS = 16_384, 512, 4_096
BASE_LABELS = contract.SERVER_LABELS
# Every status the reference server answers an inference request with, and 499 (nginx's "client closed
# request": the client went away before its request was read, so no answer was sent). Any other code a
# server reports is pooled by class, "4xx" or "5xx" (still matched by the operator's code=~"5.."), so
# the label keeps at most 10 values whatever a server passes. No str() per request.
CLIENT_CLOSED = 499
CODE_LABELS = {code: str(code) for code in (200, 400, 404, 413, 422, CLIENT_CLOSED, 500, 503)}
POOLED_CODES = ("4xx", "5xx")
# Requests that are not this model's answered requests have no latency: 499 was never answered and a 404
# asked for another model or version. So the latency SLI counts the same requests as the availability one.
NO_LATENCY = frozenset({404, CLIENT_CLOSED})
# From a prediction to its label: seconds (a click) to a month (a chargeback), about x3 apart.
LABEL_DELAY_BUCKETS: tuple[float, ...] = (1, 10, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
LABEL_DELAY_BUCKETS += (2 * 86400, 7 * 86400, 30 * 86400)
FEEDBACK_CODES = {200: "200", 400: "400", 413: "413"}  # a feedback request's answers (others pool as 4xx/5xx)
DEFAULT_THRESHOLD = 0.5


def _pooled(code: int) -> str:
    """A code outside CODE_LABELS: its class, so no server can grow the label without bound."""
    return "5xx" if code >= 500 else "4xx"


def _go_float(value: float) -> str:
    """`le` label values exactly as other Prometheus clients write them."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


class _Buckets:
    """Counts per bucket of several histograms with different edges.

    Row f holds histogram f; edges are padded with +inf so all rows share one shape.
    counts[f, i] counts values in (edges[f][i-1], edges[f][i]]; the last column is +Inf.

    With the C kernel (`KERNEL`, wherever it was built), each observation is counted
    at once, on the caller's array: a few compares a value, vectorised, no buffer. Without it
    (numpy only), observations are copied into a preallocated buffer of `rows` rows and counted when it
    is full (and before every exposition, so a scrape always sees every observation): a numpy
    pass costs about 20 us of call overhead whatever its size, which per request was most of
    the server's telemetry cost. One buffer, rather than a queue of the requests' own arrays:
    keeping 512 requests' arrays alive until the flush cost more than copying their rows. The
    buffer is histogram-major, so counting sorts its rows where they are, with no copy.
    """

    def __init__(self, edges: Sequence[Sequence[float]]) -> None:
        width = max((len(e) for e in edges), default=0)
        self.edges = [tuple(float(x) for x in e) for e in edges]
        padded = np.full((len(edges), width), np.inf)
        for f, e in enumerate(self.edges):
            padded[f, : len(e)] = e
        self._kernel: Any = KERNEL if len(edges) else None  # looked up here, so tests can run both paths
        self._padded, self._width = padded, width
        # each histogram's edges and a last +inf (its +Inf bucket), searched for in its sorted values
        self._searched = list(np.concatenate([padded, np.full((len(edges), 1), np.inf)], axis=1))
        self._cumulative = np.zeros((len(edges), width + 2), dtype=np.int64)  # column 0 stays 0
        self._counts = np.zeros((len(edges), width + 1), dtype=np.int64)
        self._sums = np.zeros(len(edges))
        self.rows = min(MAX_FLUSH_ROWS, max(MIN_FLUSH_ROWS, FLUSH_VALUES // max(len(edges), 1)))
        # histogram-major (observation i is column i); the C kernel needs none
        self._buffer = np.empty((len(edges), self.rows if self._kernel is None else 0))
        self._by_row = self._buffer.T  # the same memory as (rows, histograms), where observe() writes
        self._column = self._buffer.reshape(-1)  # the same memory, for a single histogram's values
        self._filled = 0  # observations in _buffer waiting to be counted
        self._histograms = len(edges)
        self._scalars: list[float] = []  # observe_one's values: a list append is the cheapest store

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        self.flush()
        return self._counts

    @property
    def sums(self) -> npt.NDArray[np.float64]:
        self.flush()
        return self._sums

    # The observe_* methods run once per request: they are written for few Python-level steps.

    def observe(self, values: npt.ArrayLike) -> None:
        """values: (rows, histograms); NaNs are skipped. The rows are copied: the caller may reuse its array."""
        matrix = values if type(values) is np.ndarray and values.dtype == np.float64 else np.asarray(values, float)
        shape = matrix.shape
        if len(shape) != 2 or shape[1] != self._histograms:
            raise ValueError(f"expected (rows, {self._histograms}) values, got shape {shape}")
        if self._kernel is not None:
            self._count_in_c(matrix, self._histograms)
            return
        start = self._filled
        end = start + shape[0]
        if end > self.rows:
            self.flush()
            if shape[0] >= self.rows:  # a batch as large as the buffer is counted as it is
                if self._histograms:
                    self._observe_numpy(matrix)
                return
            start, end = 0, shape[0]
        self._by_row[start:end] = matrix
        self._filled = end

    def observe_column(self, values: npt.ArrayLike) -> None:
        """One value per row of a single-histogram family (scores): a 1-D array, or (rows, 1)."""
        column = values if type(values) is np.ndarray and values.dtype == np.float64 else np.asarray(values, float)
        if self._histograms != 1 or column.ndim > 2 or (column.ndim == 2 and column.shape[1] != 1):
            raise ValueError(f"expected one value per row for 1 histogram, got shape {column.shape}")
        if column.ndim != 1:
            column = column.reshape(-1)
        if self._kernel is not None:
            self._count_in_c(column, 1)
            return
        start = self._filled
        end = start + column.shape[0]
        if end > self.rows:
            self.flush()
            if column.shape[0] >= self.rows:
                self._observe_numpy(column.reshape(-1, 1))
                return
            start, end = 0, column.shape[0]
        self._column[start:end] = column
        self._filled = end

    def observe_one(self, value: float) -> None:
        """One value of a single-histogram family (latencies), without building an array per call."""
        scalars = self._scalars
        scalars.append(value)
        if len(scalars) >= self.rows:
            self.flush()

    def flush(self) -> None:
        """Count every buffered row."""
        if self._filled:
            self._count(self._buffer[:, : self._filled])
            self._filled = 0
        if self._scalars:
            values = np.array(self._scalars, dtype=np.float64)
            self._scalars = []
            if self._kernel is not None:
                self._count_in_c(values, 1)
            else:
                self._count(values.reshape(1, -1))

    def _count_in_c(self, values: npt.NDArray[np.float64], histograms: int) -> None:
        """The C kernel on float64 values, (rows, histograms) or 1-D for one histogram; it needs them contiguous."""
        contiguous = values if values.flags.c_contiguous else np.ascontiguousarray(values)
        self._kernel.count(contiguous, self._padded, self._counts, self._sums, histograms, self._width)

    def _observe_numpy(self, values: npt.NDArray[np.float64]) -> None:
        """values: (rows, histograms), counted at once on the numpy path; the caller's array is left alone."""
        self._count(values.T.copy())

    def _count(self, by_histogram: npt.NDArray[np.float64]) -> None:
        """Count (histograms, rows) values, sorting each row in place: after the sort, the number of
        values <= an edge is one binary search, the cumulative `le` count (NaN sorts last and is
        <= no edge, so it is skipped). About 8 ns a value at 20 x 819 values, where comparing every
        value with every edge took about 19 at 11 edges and grew with them."""
        with np.errstate(invalid="ignore"):  # +inf and -inf in one flush sum to NaN, as Prometheus' own would
            sums = by_histogram.sum(axis=1)
            for row in np.flatnonzero(np.isnan(sums)):  # NaN values (or +inf and -inf): sum the others
                sums[row] = np.nansum(by_histogram[row])
            self._sums += sums
        by_histogram.sort(axis=1)
        cumulative = self._cumulative
        for f, searched in enumerate(self._searched):
            cumulative[f, 1:] = by_histogram[f].searchsorted(searched, side="right")
        self._counts += np.diff(cumulative, axis=1)

    def family(self, name: str, doc: str, labels: Sequence[str], label_values: Iterable[Sequence[str]]) -> Metric:
        metric = HistogramMetricFamily(name, doc, labels=list(labels))
        self.flush()
        for f, values in enumerate(label_values):
            k = len(self.edges[f])
            cumulative = np.cumsum(self._counts[f, : k + 1])
            les = [_go_float(e) for e in self.edges[f]]
            buckets = [(le, float(c)) for le, c in zip(les, cumulative[:k], strict=True)]
            buckets.append(("+Inf", float(cumulative[k])))
            metric.add_metric(list(values), buckets, float(self._sums[f]))
        return metric


@dataclass
class _Categorical:
    known: tuple[str, ...]
    dynamic: bool  # without a baseline: the first MAX_DYNAMIC_CATEGORIES seen, then __other__
    counts: dict[str, int] = field(default_factory=dict)

    def observe(self, values: Iterable[Any]) -> None:
        for value in values:
            key = str(value)
            new = key not in self.known and key not in self.counts
            if new and not (self.dynamic and len(self.counts) < MAX_DYNAMIC_CATEGORIES):
                key = OTHER_CATEGORY
            self.counts[key] = self.counts.get(key, 0) + 1


class Telemetry(Collector):
    """The modelops metrics of one model version; a prometheus_client Collector."""

    def __init__(
        self,
        *,
        model: str,
        version: str,
        variant: str = "stable",
        baseline: Baseline | None = None,
        numeric_features: Sequence[str] = (),
        categorical_features: Mapping[str, Sequence[str]] | None = None,
        task: str = "binary",
        uri: str = "",
        sha256: str = "",
        signer: str = "",
        retrain_run: str = "",
        registry: CollectorRegistry | None = None,
        decision_threshold: float = DEFAULT_THRESHOLD,
        feedback_capacity: int = feedback_module.DEFAULT_CAPACITY,
        feedback_max_bytes: int = feedback_module.DEFAULT_MAX_BYTES,
    ) -> None:
        """Features come from the baseline (edges, categories); others named here get no histogram
        edges (numeric) or dynamic categories (categorical).

        Label telemetry (`record_predictions`, `feedback`) is for binary classifiers: a score at or
        above `decision_threshold` is a positive prediction. `feedback_capacity` rows (0: none, and
        no label series) and `feedback_max_bytes` bound the record of predictions awaiting labels."""
        self.labels = (model, version, variant)
        self.info = (uri, sha256, signer, retrain_run)
        self._lock = threading.Lock()
        numeric = [f for f in (baseline.features if baseline else []) if f.type == "numeric"][:MAX_FEATURES]
        self.numeric_names = [f.name for f in numeric]
        self._numeric = _Buckets([f.edges for f in numeric])
        self._categorical: dict[str, _Categorical] = {}
        for f in baseline.features if baseline else []:
            if f.type == "categorical" and len(self._categorical) < MAX_FEATURES:
                known = tuple(c for c in f.categories if c != OTHER_CATEGORY)
                self._categorical[f.name] = _Categorical(known, dynamic=False)
        for name, known_categories in (categorical_features or {}).items():
            self._categorical.setdefault(name, _Categorical(tuple(known_categories), dynamic=not known_categories))
        self.unmonitored = [n for n in numeric_features if n not in self.numeric_names]
        predictions = baseline.predictions if baseline else None
        if predictions is not None and predictions.type == "numeric":
            prediction_edges: Sequence[float] = predictions.edges
        else:
            prediction_edges = PROBABILITY_BUCKETS if task == "binary" else ()
        self._predictions = _Buckets([prediction_edges]) if prediction_edges else None
        self._classes = _Categorical((), dynamic=True)
        self._latency = _Buckets([LATENCY_BUCKETS])
        # Every code and reason is exported from the start, at 0: Prometheus' increase() cannot see a
        # counter's first increments, so a 500 series that appeared with the first error would hide
        # the first errors from the canary analysis that most needs them.
        self._requests: dict[str, int] = dict.fromkeys((*CODE_LABELS.values(), *POOLED_CODES), 0)
        self._invalid: dict[str, int] = dict.fromkeys(INVALID_REASONS, 0)
        self.task = task
        self.decision_threshold = decision_threshold
        self._record: PredictionRecord | None = None
        if task == "binary" and feedback_capacity > 0:
            self._record = PredictionRecord(feedback_capacity, feedback_max_bytes)
        self._outcomes: dict[str, int] = dict.fromkeys(contract.OUTCOMES, 0)
        self._ignored: dict[str, int] = dict.fromkeys(IGNORED, 0)
        self._feedback_requests: dict[str, int] = dict.fromkeys((*FEEDBACK_CODES.values(), *POOLED_CODES), 0)
        self._labelled = _Buckets([prediction_edges or PROBABILITY_BUCKETS] * len(contract.LABELS))
        self._delay = _Buckets([LABEL_DELAY_BUCKETS])
        self.registry = registry or CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # ---- observation ---------------------------------------------------------------------

    def observe_numeric(self, matrix: npt.ArrayLike) -> None:
        """(rows, len(numeric_names)) in numeric_names order; copied, so the caller may reuse `matrix`."""
        with self._lock:
            self._numeric.observe(matrix)

    def observe_categorical(self, name: str, values: Iterable[Any]) -> None:
        category = self._categorical.get(name)
        if category is not None:
            with self._lock:
                category.observe(values)

    def observe_predictions(self, scores: npt.ArrayLike) -> None:
        """One score per row; copied, so the caller may reuse `scores`."""
        if self._predictions is not None:
            with self._lock:
                self._predictions.observe_column(scores)

    def observe_classes(self, classes: Iterable[Any]) -> None:
        with self._lock:
            self._classes.observe(classes)

    def observe(self, *, features: Mapping[str, Sequence[Any]], predictions: Sequence[float] | None = None) -> None:
        """Convenience for other servers: feature name -> column of values for one batch."""
        if self.numeric_names:
            missing = [n for n in self.numeric_names if n not in features]
            if missing:
                raise KeyError(f"features missing from the batch: {missing}")
            matrix = np.column_stack([np.asarray(features[n], dtype=np.float64) for n in self.numeric_names])
            self.observe_numeric(matrix)
        for name in self._categorical:
            if name in features:
                self.observe_categorical(name, features[name])
        if predictions is not None:
            self.observe_predictions(predictions)

    def observe_request(self, code: int, seconds: float) -> None:
        """One request's status code and latency (observe_inference without rows or scores)."""
        self.observe_inference(code, seconds)

    def observe_inference(
        self, code: int, seconds: float, numeric: npt.ArrayLike | None = None, scores: npt.ArrayLike | None = None
    ) -> None:
        """One request in one call: observe_request, and for an answered one observe_numeric and
        observe_predictions, under one lock. `code` 499: the client closed the connection before the
        request was read (counted, no latency); 404: a request for a model or version not served here
        (counted, no latency). A server's per-request path: in a live server every call and lock costs
        about twice what it costs in a tight loop, as the request's own work
        has pushed telemetry out of the CPU caches."""
        key = CODE_LABELS.get(code) or _pooled(code)
        with self._lock:
            self._requests[key] += 1
            if code not in NO_LATENCY:
                self._latency.observe_one(seconds)
            if numeric is not None:
                self._numeric.observe(numeric)
            if scores is not None and self._predictions is not None:
                self._predictions.observe_column(scores)

    def invalid(self, reason: str) -> None:
        key = reason if reason in INVALID_REASONS else "bad_request"
        with self._lock:
            self._invalid[key] = self._invalid.get(key, 0) + 1

    # ---- labels --------------------------------------------------------------------------

    @property
    def feedback_enabled(self) -> bool:
        """Whether predictions are recorded and labels counted (a binary classifier, capacity > 0)."""
        return self._record is not None

    @property
    def record(self) -> PredictionRecord | None:
        return self._record

    def record_predictions(self, request_id: str | None, scores: npt.ArrayLike, now: float | None = None) -> str | None:
        """Remember an answered request's scores for the labels to come, and return the id to answer with:
        `request_id`, or one assigned when it is None (row i of the request is `<id>:<i>`). Without
        label telemetry, `request_id` unchanged. `now`: unix seconds of the prediction (default: now)."""
        record = self._record
        if record is None:
            return request_id
        column = scores if type(scores) is np.ndarray and scores.dtype == np.float64 else np.asarray(scores, float)
        if column.ndim != 1:
            column = column.reshape(-1)
        when = time.time() if now is None else now
        with self._lock:
            return record.record(request_id, column, when)

    def feedback(self, items: Sequence[LabelItem], now: float | None = None) -> list[Result]:
        """Count labels (from `feedback.parse_feedback`) against the recorded predictions; each item's
        result in order. A prediction is counted once, however often its label comes."""
        record = self._record
        if record is None:
            raise InvalidRequest("feedback_off", self.feedback_off_reason() or "feedback is off")
        when = time.time() if now is None else now
        with self._lock:
            results, joined = record.join(items, self.labels[1], when)
            self._count_labels(joined)
            for result in results:
                if result != "accepted":
                    self._ignored[result] += 1
        return results

    def observe_feedback_request(self, code: int) -> None:
        """One feedback request by its answer: 200 (its labels went through `feedback`), or refused whole
        (400 malformed, 413 too large), so a broken label pipeline shows on a dashboard."""
        key = FEEDBACK_CODES.get(code) or _pooled(code)
        with self._lock:
            self._feedback_requests[key] += 1

    def feedback_off_reason(self) -> str | None:
        """Why labels are not taken, or None when they are."""
        if self._record is not None:
            return None
        if self.task != "binary":
            return f"label telemetry covers binary classifiers with a threshold; this model's task is {self.task!r}"
        return "label telemetry is off (--feedback-capacity 0)"

    def _count_labels(self, joined: Sequence[feedback_module.Joined]) -> None:
        if not joined:
            return
        threshold = self.decision_threshold
        outcomes = self._outcomes
        split = np.full((len(joined), len(contract.LABELS)), np.nan)
        delays = np.empty(len(joined))
        for i, item in enumerate(joined):
            positive = item.score >= threshold
            outcomes[("tp" if item.label else "fp") if positive else ("fn" if item.label else "tn")] += 1
            split[i, item.label] = item.score
            delays[i] = item.delay
        self._labelled.observe(split)
        self._delay.observe_column(delays)

    # ---- exposition ----------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            yield from self._collect()

    def _collect(self) -> Iterator[Metric]:
        base = list(BASE_LABELS)
        info = GaugeMetricFamily(
            contract.MODEL_INFO,
            "The model artifact being served, and its provenance.",
            labels=[*base, contract.URI, contract.SHA256, contract.SIGNER, contract.RETRAIN_RUN],
        )
        info.add_metric([*self.labels, *self.info], 1.0)
        yield info
        requests = CounterMetricFamily(
            contract.REQUESTS, "Inference requests by HTTP code.", labels=[*base, contract.CODE]
        )
        for code, n in sorted(self._requests.items()):
            requests.add_metric([*self.labels, code], float(n))
        yield requests
        yield self._latency.family(contract.REQUEST_DURATION, "Inference request latency.", base, [self.labels])
        invalid = CounterMetricFamily(
            contract.INVALID_REQUESTS, "Requests refused as invalid, by reason.", labels=[*base, contract.REASON]
        )
        for reason, n in sorted(self._invalid.items()):
            invalid.add_metric([*self.labels, reason], float(n))
        yield invalid
        if self.numeric_names:
            yield self._numeric.family(
                contract.FEATURE_VALUE,
                "Feature values, bucketed at the training baseline's quantiles.",
                [*base, contract.FEATURE],
                ([*self.labels, n] for n in self.numeric_names),
            )
        categories = CounterMetricFamily(
            contract.FEATURE_CATEGORY,
            "Categorical feature values; rare and unknown ones pooled as __other__.",
            labels=[*base, contract.FEATURE, contract.CATEGORY],
        )
        for name, category in self._categorical.items():
            for value, n in sorted(category.counts.items()):
                categories.add_metric([*self.labels, name, value], float(n))
        yield categories
        if self._predictions is not None:
            yield self._predictions.family(contract.PREDICTION_SCORE, "Model scores.", base, [self.labels])
        classes = CounterMetricFamily(contract.PREDICTION_CLASS, "Predicted classes.", labels=[*base, contract.CLASS])
        for value, n in sorted(self._classes.counts.items()):
            classes.add_metric([*self.labels, value], float(n))
        yield classes
        if self._record is not None:
            yield from self._collect_labels(base)

    def _collect_labels(self, base: list[str]) -> Iterator[Metric]:
        record = self._record
        assert record is not None
        counters = (
            (contract.FEEDBACK, "Labelled predictions at the serving threshold.", contract.OUTCOME, self._outcomes),
            (contract.FEEDBACK_IGNORED, "Labels not counted, by reason.", contract.REASON, self._ignored),
            (contract.FEEDBACK_REQUESTS, "Feedback requests by HTTP code.", contract.CODE, self._feedback_requests),
        )
        for name, doc, label, counts in counters:
            family = CounterMetricFamily(name, doc, labels=[*base, label])
            for value, n in counts.items():
                family.add_metric([*self.labels, value], float(n))
            yield family
        yield self._labelled.family(
            contract.LABELLED_SCORE,
            "Scores of labelled predictions, by their label.",
            [*base, contract.LABEL],
            ([*self.labels, label] for label in contract.LABELS),
        )
        yield self._delay.family(contract.LABEL_DELAY, "From a prediction to its label.", base, [self.labels])
        unlabelled = CounterMetricFamily(
            contract.UNLABELLED, "Predictions forgotten (evicted from the record) without a label.", labels=base
        )
        unlabelled.add_metric(list(self.labels), float(record.unlabelled))
        yield unlabelled

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of this registry, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
