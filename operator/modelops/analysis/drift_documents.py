"""Drift documents (the baseline format) read into Observations, refusing every value that could
turn into a silent wrong verdict.

Both `modelops drift evaluate` files and a DriftMonitor's ConfigMap reference come through here.
What the statistics would otherwise have to guess at is an error on that feature alone, naming
the feature, the bucket and the value: a negative count (clamping it to 0 invents drift), a count
that is NaN, infinite (`1e999` parses to inf) or above MAX_COUNT, a feature listed twice or a key
written twice in one object (JSON keeps the last copy, silently), more edges or categories than
the limits. The other features are read as usual. Only what makes the whole document unusable
raises DocumentError: its size (checked before parsing), its JSON, its shape, more features than
MAX_FEATURES, or more numbers and objects than those limits could need (counted while parsing,
so a huge document is refused before it is all in memory).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from modelops.analysis.drift import PREDICTION, Categories, Histogram, Observations
from modelops.api.v1alpha1.baseline import MAX_CATEGORIES, MAX_EDGES, MAX_FEATURES
from modelops.errors import ModelopsError

# Counts are float64 in the statistics: every integer up to 2**53 is exact there, and a feature's
# total (at most 101 bins of 2**53) stays far below int64's 2**63, where `samples` used to wrap.
MAX_COUNT = 2**53
MAX_BUCKETS = MAX_EDGES + 1
MAX_CONFIGMAP_BYTES = 2**20  # the API server refuses ConfigMaps over 1 MiB anyway
# A limit-sized baseline is about 2.6 MB as `modelops train` writes it and 4.7 MB pretty-printed;
# this leaves room for long names, and bounds what reading a file can cost.
MAX_FILE_BYTES = 16 * 2**20
# What 1,000 features (and the predictions) at the limits can hold: numeric ones 64 edges and 65
# counts, categorical ones 100 counts and their own object. Counted while parsing.
MAX_NUMBERS = (MAX_FEATURES + 1) * (MAX_EDGES + MAX_BUCKETS)
MAX_OBJECTS = 4 * (MAX_FEATURES + 1)
MAX_ERRORS_NAMED = 5
_SHOWN = 24  # characters of an unreadable number quoted in a message


class DocumentError(ModelopsError, ValueError):
    """The whole document cannot be read (as opposed to one feature's error)."""


class _Unreadable:
    """A JSON number float64 cannot hold (1e999, NaN, a 400-digit integer), kept as written so that
    the error can quote it instead of `inf`."""

    def __init__(self, text: str, problem: str = "is not a finite number") -> None:
        self.text, self.problem = text, problem

    def __str__(self) -> str:
        return self.text if len(self.text) <= _SHOWN else f"{self.text[:_SHOWN]}... ({len(self.text)} characters)"


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys written more than once (json keeps only the last)."""

    duplicates: tuple[str, ...] = ()


class _Reader:
    """json.loads hooks: count numbers and objects against the limits while parsing."""

    def __init__(self) -> None:
        self.numbers = 0
        self.objects = 0

    def _number(self) -> None:
        self.numbers += 1
        if self.numbers > MAX_NUMBERS:
            raise DocumentError(
                f"more than {MAX_NUMBERS} numbers: more than {MAX_FEATURES} features (the limit) of at most "
                f"{MAX_EDGES} edges or {MAX_CATEGORIES} categories hold"
            )

    def integer(self, text: str) -> int | _Unreadable:
        self._number()
        return int(text) if len(text) <= 30 else _Unreadable(text, "is out of range")  # int() of 10**6 digits is slow

    def real(self, text: str) -> float | _Unreadable:
        self._number()
        value = float(text)
        return value if math.isfinite(value) else _Unreadable(text)

    def constant(self, text: str) -> _Unreadable:
        self._number()
        return _Unreadable(text)

    def object(self, pairs: list[tuple[str, Any]]) -> _Object:
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise DocumentError(
                f"more than {MAX_OBJECTS} JSON objects: more than {MAX_FEATURES} features (the limit) need"
            )
        out = _Object(pairs)
        if len(out) != len(pairs):
            out.duplicates = tuple(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        return out


def check_size(size: int, max_bytes: int) -> None:
    """Refuse a document by its size alone, before anything reads or parses it."""
    if size > max_bytes:
        raise DocumentError(f"{size} bytes, more than the limit of {max_bytes} bytes")


def loads(text: str | bytes, *, max_bytes: int) -> Observations:
    """Parse and read one document; raises DocumentError (or json.JSONDecodeError) for the whole."""
    check_size(len(text), max_bytes)  # characters <= bytes: refuses the obvious without encoding
    if isinstance(text, str):
        check_size(len(text.encode()), max_bytes)
    reader = _Reader()
    document = json.loads(
        text,
        object_pairs_hook=reader.object,
        parse_int=reader.integer,
        parse_float=reader.real,
        parse_constant=reader.constant,
    )
    return from_document(document)


def from_document(document: Any) -> Observations:
    """A parsed document -> Observations, each bad feature an error of its own (see the module)."""
    if not isinstance(document, Mapping):
        raise DocumentError("a baseline document must be a JSON object")
    if isinstance(document, _Object) and document.duplicates:
        raise DocumentError(f"key {document.duplicates[0]!r} appears more than once")
    entries = document.get("features") or []
    if not isinstance(entries, list):
        raise DocumentError("`features` must be a list")
    if len(entries) > MAX_FEATURES:
        raise DocumentError(f"`features` has {len(entries)} features, more than the limit of {MAX_FEATURES}")
    numeric: dict[str, Histogram] = {}
    categorical: dict[str, Categories] = {}
    errors: dict[str, str] = {}
    positions: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            errors[f"features[{i}]"] = "malformed entry: no name"
            continue
        positions.setdefault(name, []).append(i)
        try:
            parsed = _entry(entry)
        except (TypeError, ValueError) as error:
            errors[name] = f"malformed entry: {error}"
            continue
        if isinstance(parsed, Histogram):
            numeric[name] = parsed
        else:
            categorical[name] = parsed
    for name, at in positions.items():
        if len(at) > 1:  # which copy is meant is anyone's guess: neither is judged
            numeric.pop(name, None)
            categorical.pop(name, None)
            where = ", ".join(f"features[{i}]" for i in at)
            errors[name] = f"malformed entry: listed {len(at)} times ({where})"
    predictions: Histogram | Categories | None = None
    if document.get("predictions") is not None:
        try:
            predictions = _entry(document["predictions"])
        except (TypeError, ValueError) as error:
            errors[PREDICTION] = f"malformed predictions: {error}"
    return Observations(numeric, categorical, predictions, errors)


def nothing_valid(observations: Observations) -> bool:
    """No feature and no prediction distribution could be read: nothing can be compared."""
    return not observations.numeric and not observations.categorical and observations.predictions is None


def describe_errors(observations: Observations) -> str:
    """The first few errors as one line, for a message that names what to fix."""
    items = list(observations.errors.items())
    shown = "; ".join(f"{name}: {error}" for name, error in items[:MAX_ERRORS_NAMED])
    more = len(items) - MAX_ERRORS_NAMED
    return shown + (f"; and {more} more" if more > 0 else "")


def _entry(entry: Any) -> Histogram | dict[str, float]:
    if not isinstance(entry, Mapping):
        raise TypeError("not an object")
    if isinstance(entry, _Object) and entry.duplicates:
        raise ValueError(f"key {entry.duplicates[0]!r} appears more than once")
    kind = entry.get("type", "numeric")
    if kind == "numeric":
        return _histogram(entry.get("edges", []), entry.get("counts", []))
    if kind == "categorical":
        return _categories(entry.get("categories", {}))
    raise ValueError(f"unknown type {kind!r} (numeric or categorical)")


def _histogram(edges: Any, counts: Any) -> Histogram:
    if not isinstance(edges, list) or not isinstance(counts, list):
        raise TypeError("edges and counts must be lists")
    if len(edges) > MAX_EDGES:
        raise ValueError(f"{len(edges)} edges, more than the limit of {MAX_EDGES}")
    if len(counts) > MAX_BUCKETS:
        raise ValueError(f"{len(counts)} counts, more than the limit of {MAX_BUCKETS} buckets")
    values = [_finite(e, f"edges[{i}]") for i, e in enumerate(edges)]

    def bucket(i: int) -> str:
        le = f"{values[i]:g}" if i < len(values) else "+Inf" if i == len(values) else None
        return f"counts[{i}]" + (f" (le {le})" if le else "")

    return Histogram.of(values, _counts(counts, bucket))


def _categories(categories: Any) -> dict[str, float]:
    if not isinstance(categories, Mapping):
        raise TypeError("categories must be an object")
    if isinstance(categories, _Object) and categories.duplicates:
        raise ValueError(f"category {categories.duplicates[0]!r} appears more than once")
    if len(categories) > MAX_CATEGORIES:
        raise ValueError(f"{len(categories)} categories, more than the limit of {MAX_CATEGORIES}")
    names = [str(k) for k in categories]
    counts = _counts(list(categories.values()), lambda i: f"category {names[i]!r}")
    return dict(zip(names, counts, strict=True))


def _counts(values: list[Any], where: Callable[[int], str]) -> list[float]:
    """Every value as a count, or ValueError naming the first bad one (and how many more there are)."""
    out: list[float] = []
    bad: list[str] = []
    for i, value in enumerate(values):
        try:
            out.append(_count(value, where(i)))
        except (TypeError, ValueError) as error:
            bad.append(str(error))
    if bad:
        raise ValueError(bad[0] + (f" (and {len(bad) - 1} more bad counts)" if len(bad) > 1 else ""))
    return out


def _finite(value: Any, where: str) -> float:
    if isinstance(value, _Unreadable):
        raise ValueError(f"{where} = {value} {value.problem}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where} = {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float (from a document parsed elsewhere)
        raise ValueError(f"{where} = {_Unreadable(str(value))} is out of range") from None
    if not math.isfinite(number):
        raise ValueError(f"{where} = {value!r} is not a finite number")
    return number


def _count(value: Any, where: str) -> float:
    number = _finite(value, where)
    if number < 0:
        raise ValueError(f"{where} = {value!r} is negative")
    if value > MAX_COUNT:  # the value as written: float(2**53 + 1) would round down to 2**53
        raise ValueError(f"{where} = {value!r} is more than the largest count, 2**53 ({MAX_COUNT})")
    return number
