"""Ground truth for served predictions: a bounded record of recent predictions, and labels joined to them.

Concept drift (the same inputs, a new relation to the label) shows in no input or score histogram;
only labels show it, and labels arrive late (minutes to days) and elsewhere (a fraud case closed,
a loan repaid). So every prediction gets an id, the server remembers the recent ones (score and
time, per row), and a label sent back for an id is counted as a tp/fp/tn/fn at the serving
threshold, into score histograms split by label, and into a label-delay histogram (`Telemetry`).

Ids. The request's `id` when it has one (the protocol's), else one the server assigns,
`<token>-<n>` (a random token per process, then a counter). Row i of a request is `<id>:<i>`; a
request of one row is also `<id>`. Predictions the server no longer remembers (evicted, served by
another replica, before a restart) can still be labelled by value: the caller sends the score,
version and time it logged with the id.

The record is a ring of arrays (25 bytes a row) plus an index from client request ids to their
first row, so a million rows cost 25 MB, and a server-assigned id is resolved by arithmetic, with no
index entry at all. Both are capped: rows by `capacity`, estimated bytes (ring, index, and the ids
labelled by value, kept to refuse a second label for them) by `max_bytes`. Not thread-safe:
`Telemetry` calls it under its lock.
"""

from __future__ import annotations

import collections
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson

from modelops.runtime.refusal import InvalidRequest

DEFAULT_CAPACITY = 100_000  # rows remembered
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # estimated memory of the whole record
DEFAULT_MAX_LABELS = 10_000  # label items per feedback request (like --max-rows for inference)
ROW_BYTES = 25  # score and time (float64), first row of its request (int64), labelled (bool)
INDEX_ENTRY_BYTES = 200  # a client request id in the index besides its characters: dict slot, int, deque entry
SEEN_ENTRY_BYTES = 120  # an id labelled by value: dict slot, str header
ROW_SEPARATOR = ":"
ITEM_KEYS = frozenset({"id", "label", "score", "version", "predicted_at"})
BY_VALUE_KEYS = ("score", "version", "predicted_at")

Result = Literal["accepted", "duplicate", "unmatched", "wrong_version"]
RESULTS: tuple[Result, ...] = ("accepted", "duplicate", "unmatched", "wrong_version")
IGNORED: tuple[Result, ...] = ("duplicate", "unmatched", "wrong_version")  # the reasons a label is not counted


@dataclass(frozen=True)
class LabelItem:
    """One label: for a remembered prediction `id` and `label` suffice; the rest labels one by value."""

    id: str
    label: int  # 0 or 1
    score: float | None = None
    version: str | None = None
    predicted_at: float | None = None  # unix seconds


@dataclass(frozen=True)
class Joined:
    """A label joined to its prediction: what telemetry counts."""

    label: int
    score: float
    delay: float  # seconds from the prediction to its label, >= 0


class PredictionRecord:
    """Recent predictions by id, in a ring of `capacity` rows; the oldest are evicted first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 row, got {capacity}")
        # the ring takes at most half the budget (the ids the rest): a smaller budget shrinks it, to 1 row at least
        self.capacity = max(1, min(capacity, max_bytes // (2 * ROW_BYTES)))
        self.max_bytes = max_bytes
        self.token = secrets.token_hex(6)  # assigned ids of this process: `<token>-<n>`
        self._assigned_prefix = self.token + "-"
        size = self.capacity
        self._score = np.zeros(size)
        self._time = np.zeros(size)
        self._start = np.full(size, -1, dtype=np.int64)  # the first row's number of each row's request
        self._labelled = np.zeros(size, dtype=bool)
        # the same memory, for single values: a memoryview stores a scalar in about half numpy's time
        self._score_view, self._time_view = _view(self._score, "d"), _view(self._time, "d")
        self._start_view, self._labelled_view = _view(self._start, "q"), _view(self._labelled, "?")
        self._next = 0  # number of the next row; live rows are [_oldest, _next)
        self._oldest = 0
        self._ids: dict[str, int] = {}  # client request id -> its first row's number
        # (row after its last, first row, id) of each request with a client id, oldest first
        self._order: collections.deque[tuple[int, int, str]] = collections.deque()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()  # ids labelled by value
        self._id_bytes = 0  # estimate of _ids + _order + _seen
        self._joined = 0  # rows of the ring that got a label, ever

    # ---- recording (the serving path) --------------------------------------------------

    def record(self, request_id: str | None, scores: npt.NDArray[np.float64], now: float) -> str:
        """Remember one request's scores; returns its id (the request's, else an assigned one)."""
        rows = len(scores)
        first = self._next
        if request_id is None:  # an assigned id is its first row's number; one of no rows names none
            request_id = f"{self._assigned_prefix}{first}" if rows else f"{self._assigned_prefix}empty-{first}"
        elif rows:
            previous = self._ids.get(request_id)
            self._ids[request_id] = first
            self._order.append((first + rows, first, request_id))
            if previous is None:
                self._id_bytes += INDEX_ENTRY_BYTES + len(request_id)
            else:  # the same id again: the newest request has it; the older entry leaves the index
                self._id_bytes += INDEX_ENTRY_BYTES
        if rows == 1:  # most requests: a few scalar stores through memoryviews, no slicing
            size = self.capacity
            slot = first % size
            if first - self._oldest >= size:  # full: the oldest row, in this very slot, goes
                self._oldest = first + 1 - size
                if self._order and self._order[0][0] <= self._oldest:
                    self._forget_ids(self._oldest)
            self._score_view[slot] = scores[0]
            self._time_view[slot] = now
            self._start_view[slot] = first
            self._labelled_view[slot] = False
            self._next = first + 1
        elif rows:
            self._append(scores, now, first, rows)
        if self._id_bytes + self.capacity * ROW_BYTES > self.max_bytes:
            self._trim()
        return request_id

    def _append(self, scores: npt.NDArray[np.float64], now: float, first: int, rows: int) -> None:
        size = self.capacity
        end = first + rows
        self._evict_before(max(self._oldest, end - size))
        kept = min(rows, size)  # a request larger than the ring keeps its last rows
        slot = (end - kept) % size
        head = min(kept, size - slot)
        tail = kept - head
        values = scores[rows - kept :]
        for lo, hi, part in ((slot, slot + head, values[:head]), (0, tail, values[head:])):
            if hi > lo:
                self._score[lo:hi] = part
                self._time[lo:hi] = now
                self._start[lo:hi] = first
                self._labelled[lo:hi] = False
        self._next = end

    def _evict_before(self, row: int, clear: bool = False) -> None:
        """Evict rows [_oldest, row) and forget their ids. `clear`: reset their labelled flags, for rows
        whose slots are not about to be written (`unlabelled` counts the flags that are set)."""
        if row <= self._oldest:
            return
        if clear:
            slots = np.arange(self._oldest, min(row, self._next)) % self.capacity
            self._labelled[slots] = False
        self._oldest = row
        self._forget_ids(row)

    def _forget_ids(self, row: int) -> None:
        """Drop the client ids of requests whose every row is before `row` (evicted)."""
        order = self._order
        while order and order[0][0] <= row:
            _, first, request_id = order.popleft()
            if self._ids.get(request_id) == first:
                del self._ids[request_id]
                self._id_bytes -= INDEX_ENTRY_BYTES + len(request_id)
            else:
                self._id_bytes -= INDEX_ENTRY_BYTES

    def _trim(self) -> None:
        """Over max_bytes: evict the oldest requests with client ids, then forget the oldest ids labelled by value."""
        while self._id_bytes + self.capacity * ROW_BYTES > self.max_bytes:
            if self._order:
                self._evict_before(self._order[0][0], clear=True)
            elif self._seen:
                request_id, _ = self._seen.popitem(last=False)
                self._id_bytes -= SEEN_ENTRY_BYTES + len(request_id)
            else:
                return

    # ---- labels ------------------------------------------------------------------------

    def find(self, prediction_id: str) -> int | None:
        """The row number of a remembered prediction, else None: a one-row request's id, or `<id>:<row>`."""
        first = self._first_row(prediction_id)
        if first is not None and self._single(first):
            return first
        request_id, separator, suffix = prediction_id.rpartition(ROW_SEPARATOR)
        if separator and _canonical(suffix):
            first = self._first_row(request_id)
            if first is not None:
                row = first + int(suffix)
                if self._live(row) and self._start[row % self.capacity] == first:
                    return row
        return None

    def _first_row(self, request_id: str) -> int | None:
        """The first row of a request by its id (a client id from the index, an assigned one by arithmetic);
        whether a row of it is still remembered is for the caller to check (`_start` of that row)."""
        first = self._ids.get(request_id)
        if first is None and request_id.startswith(self._assigned_prefix):
            number = request_id[len(self._assigned_prefix) :]
            if _canonical(number):
                first = int(number)
        return first

    def _live(self, row: int) -> bool:
        return self._oldest <= row < self._next

    def _single(self, first: int) -> bool:
        """The request starting at `first` is live and has one row (so its id alone names that row)."""
        if not self._live(first) or self._start[first % self.capacity] != first:
            return False
        after = first + 1
        return after >= self._next or self._start[after % self.capacity] != first

    def join(self, items: Sequence[LabelItem], version: str, now: float) -> tuple[list[Result], list[Joined]]:
        """Each label's result, in order, and the labels to count; a prediction is labelled at most once."""
        results: list[Result] = []
        joined: list[Joined] = []
        size = self.capacity
        for item in items:
            row = self.find(item.id)
            if row is not None:
                slot = row % size
                if self._labelled[slot]:
                    results.append("duplicate")
                    continue
                self._labelled[slot] = True
                self._joined += 1
                score, delay = float(self._score[slot]), now - float(self._time[slot])
            elif item.score is None or item.predicted_at is None:
                results.append("unmatched")
                continue
            elif item.version != version:
                results.append("wrong_version")
                continue
            elif item.id in self._seen:
                results.append("duplicate")
                continue
            else:
                self._remember(item.id)
                score, delay = item.score, now - item.predicted_at
            results.append("accepted")
            joined.append(Joined(item.label, score, max(delay, 0.0)))
        return results, joined

    def _remember(self, prediction_id: str) -> None:
        """An id labelled by value, kept to refuse its second label; the oldest go at `capacity` ids or over budget."""
        self._seen[prediction_id] = None
        self._id_bytes += SEEN_ENTRY_BYTES + len(prediction_id)
        while len(self._seen) > self.capacity:
            old, _ = self._seen.popitem(last=False)
            self._id_bytes -= SEEN_ENTRY_BYTES + len(old)
        if self._id_bytes + self.capacity * ROW_BYTES > self.max_bytes:
            self._trim()

    @property
    def unlabelled(self) -> int:
        """Rows evicted without a label, ever: evicted rows (every row below _oldest) less the labelled ones,
        which are the labels joined less the flags still set on live rows. Counted here, at a scrape,
        rather than per eviction on the serving path."""
        return self._oldest - (self._joined - int(np.count_nonzero(self._labelled)))

    @property
    def rows(self) -> int:
        """Predictions remembered now."""
        return self._next - self._oldest

    @property
    def bytes(self) -> int:
        """The estimate max_bytes caps."""
        return self._id_bytes + self.capacity * ROW_BYTES


def _view(array: npt.NDArray[Any], fmt: Literal["d", "q", "?"]) -> memoryview[Any]:
    """A memoryview of an array's memory with its items as Python scalars (via bytes: cast needs them)."""
    view: memoryview[Any] = array.view(np.uint8).data.cast(fmt)
    return view


def _canonical(digits: str) -> bool:
    """A row or counter as written: ASCII digits, no leading zero (so one prediction has one id)."""
    return digits.isascii() and digits.isdigit() and (len(digits) == 1 or digits[0] != "0")


# ---- the feedback request ------------------------------------------------------------------


def parse_feedback(body: bytes, *, max_labels: int = DEFAULT_MAX_LABELS) -> list[LabelItem]:
    """`{"labels": [{"id": ..., "label": 0|1, ["score", "version", "predicted_at"]}, ...]}` -> items.

    All or nothing: one malformed item refuses the request (InvalidRequest naming it), so a
    half-applied batch never has to be retried item by item."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        why = f"feedback body is not JSON (NaN and Infinity are not allowed): {error}"
        raise InvalidRequest("bad_json", why) from error
    if not isinstance(doc, dict) or not isinstance(doc.get("labels"), list) or not doc["labels"]:
        raise InvalidRequest("bad_request", 'feedback must be a JSON object with a non-empty "labels" list')
    unknown = sorted(set(doc) - {"labels"})
    if unknown:
        raise InvalidRequest("bad_request", f"unknown field(s) {unknown} in the feedback body")
    labels: list[Any] = doc["labels"]
    if len(labels) > max_labels:
        raise InvalidRequest("too_many_labels", f"{len(labels)} labels in one request; the limit is {max_labels}", 413)
    return [_item(raw, i) for i, raw in enumerate(labels)]


def _item(raw: Any, index: int) -> LabelItem:
    where = f"labels[{index}]"
    if not isinstance(raw, dict):
        raise InvalidRequest("bad_request", f"{where}: must be an object with an id and a label")
    unknown = sorted(set(raw) - ITEM_KEYS)
    if unknown:
        raise InvalidRequest("bad_request", f"{where}: unknown field(s) {unknown}; allowed: {sorted(ITEM_KEYS)}")
    prediction_id = raw.get("id")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise InvalidRequest("bad_request", f'{where}: "id" must be a non-empty string')
    label = raw.get("label")
    if type(label) is not int or label not in (0, 1):
        raise InvalidRequest("bad_label", f'{where}: "label" must be 0 or 1, got {label!r:.40}')
    given = [key for key in BY_VALUE_KEYS if key in raw]
    if not given:
        return LabelItem(prediction_id, label)
    if len(given) != len(BY_VALUE_KEYS):
        missing = [key for key in BY_VALUE_KEYS if key not in raw]
        raise InvalidRequest(
            "bad_request", f"{where}: a label by value needs score, version and predicted_at; missing {missing}"
        )
    score = raw["score"]
    if type(score) not in (int, float) or not 0.0 <= score <= 1.0:
        raise InvalidRequest("bad_request", f'{where}: "score" must be a probability in [0, 1], got {score!r:.40}')
    version = raw["version"]
    if not isinstance(version, str) or not version:
        raise InvalidRequest("bad_request", f'{where}: "version" must be a non-empty string')
    return LabelItem(prediction_id, label, float(score), version, _timestamp(raw["predicted_at"], where))


def _timestamp(value: Any, where: str) -> float:
    """Unix seconds, or an RFC 3339 time with its offset (`2026-12-06T02:00:00Z`)."""
    if type(value) in (int, float) and math.isfinite(value) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.timestamp()
    raise InvalidRequest(
        "bad_request",
        f'{where}: "predicted_at" must be unix seconds or an RFC 3339 time with an offset, got {value!r:.40}',
    )


def result_body(results: Sequence[Result]) -> bytes:
    """The answer: counts per result and each label's result in request order."""
    counts = dict.fromkeys(RESULTS, 0)
    for result in results:
        counts[result] += 1
    return orjson.dumps({**counts, "results": list(results)})
