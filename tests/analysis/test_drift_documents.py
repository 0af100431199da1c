"""Reading drift documents: a bad value is an error on its feature alone, naming the feature, the
bucket and the value; only what makes the whole document unusable (size, JSON, shape, limits) is
refused whole, and that before the memory a huge document would take."""

from __future__ import annotations

import json
import math
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.analysis.drift import PREDICTION, Settings, evaluate
from modelops.analysis.drift_documents import (
    MAX_CONFIGMAP_BYTES,
    MAX_COUNT,
    MAX_NUMBERS,
    DocumentError,
    describe_errors,
    from_document,
    loads,
    nothing_valid,
)

GOOD = {"name": "good", "edges": [1.0, 2.0], "counts": [300, 300, 300]}


def read(*features: Any, text: str | None = None) -> Any:
    document = text if text is not None else json.dumps({"features": [GOOD, *features]})
    return loads(document, max_bytes=MAX_CONFIGMAP_BYTES)


def error_of(feature: dict[str, Any]) -> str:
    obs = read(feature)
    assert list(obs.numeric) == ["good"] and obs.numeric["good"].counts.tolist() == [300, 300, 300]
    return str(obs.errors[feature["name"]])


def test_a_malformed_feature_is_its_own_error() -> None:
    obs = from_document(
        {
            "features": [
                {"name": "ok", "edges": [1, 2], "counts": [1.5, 2, 3]},
                {"name": "words", "edges": ["a"], "counts": [1, 2]},
                {"name": "kind", "type": "ordinal"},
                {"edges": []},
            ],
            "predictions": {"type": "categorical", "categories": {"yes": 3, "no": 4}},
        }
    )
    assert obs.numeric["ok"].counts.tolist() == [1.5, 2, 3] and obs.predictions == {"yes": 3.0, "no": 4.0}
    assert obs.errors == {
        "words": "malformed entry: edges[0] = 'a' is not a number",
        "kind": "malformed entry: unknown type 'ordinal' (numeric or categorical)",
        "features[3]": "malformed entry: no name",  # before: the whole document was refused for it
    }
    with pytest.raises(DocumentError, match="JSON object"):
        from_document([1, 2])
    with pytest.raises(DocumentError, match="must be a list"):
        from_document({"features": {"a": 1}})


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ("-190", "counts[1] (le 2) = -190 is negative"),
        ("-0.5", "counts[1] (le 2) = -0.5 is negative"),
        ("1e300", "counts[1] (le 2) = 1e+300 is more than the largest count, 2**53 (9007199254740992)"),
        (str(MAX_COUNT + 1), "counts[1] (le 2) = 9007199254740993 is more than the largest count"),
        ("1e999", "counts[1] (le 2) = 1e999 is not a finite number"),
        ("-1e999", "counts[1] (le 2) = -1e999 is not a finite number"),
        ("NaN", "counts[1] (le 2) = NaN is not a finite number"),
        ("Infinity", "counts[1] (le 2) = Infinity is not a finite number"),
        ("9" * 400, "counts[1] (le 2) = 999999999999999999999999... (400 characters) is out of range"),
        ("true", "counts[1] (le 2) = True is not a number"),
        ('"7"', "counts[1] (le 2) = '7' is not a number"),
    ],
)
def test_a_count_that_is_not_a_count_names_feature_bucket_and_value(count: str, message: str) -> None:
    """Before: -190 was clamped to 0 (PSI 0.57, DRIFTED), 1e300 made samples -2**63, 1e999 named no bucket."""
    text = json.dumps({"features": [GOOD, {"name": "bad", "edges": [1.0, 2.0], "counts": [1, "X", 1]}]})
    obs = read(text=text.replace('"X"', count))
    assert obs.errors["bad"].startswith(f"malformed entry: {message}")
    assert "bad" not in obs.numeric and obs.numeric["good"].counts.tolist() == [300, 300, 300]


def test_the_largest_count_and_fractions_are_read() -> None:
    obs = read({"name": "big", "edges": [0.0], "counts": [MAX_COUNT, 0.25]})
    assert obs.numeric["big"].counts.tolist() == [float(MAX_COUNT), 0.25] and not obs.errors


def test_the_bucket_is_named_up_to_the_inf_bucket_and_further_bad_counts_are_counted() -> None:
    assert error_of({"name": "x", "edges": [0.5], "counts": [1, -2, -3]}) == (
        "malformed entry: counts[1] (le +Inf) = -2 is negative (and 1 more bad counts)"
    )
    assert error_of({"name": "x", "edges": [0.5, math.inf], "counts": [1, 1, 1]}).endswith(
        "edges[1] = Infinity is not a finite number"
    )
    parsed_elsewhere = from_document({"features": [{"name": "x", "edges": [0.5], "counts": [math.inf, 1]}]})
    assert parsed_elsewhere.errors["x"] == "malformed entry: counts[0] (le 0.5) = inf is not a finite number"


def test_bad_category_counts_name_the_category() -> None:
    obs = read({"name": "c", "type": "categorical", "categories": {"US": 5, "FR": -3}})
    assert obs.errors["c"] == "malformed entry: category 'FR' = -3 is negative"
    text = '{"features": [{"name": "c", "type": "categorical", "categories": {"US": 5, "US": 900}}]}'
    assert read(text=text).errors["c"] == "malformed entry: category 'US' appears more than once"


def test_a_feature_listed_twice_is_an_error_and_neither_copy_is_judged() -> None:
    """Before: the last copy silently won."""
    shifted = {"name": "good", "edges": [1.0, 2.0], "counts": [0, 0, 900]}
    obs = read(shifted, {"name": "other", "type": "categorical", "categories": {"a": 1}})
    assert obs.errors == {"good": "malformed entry: listed 2 times (features[0], features[1])"}
    assert list(obs.numeric) == [] and list(obs.categorical) == ["other"]
    result = evaluate(obs, read(), Settings(min_samples=1, predictions=False))
    assert result.feature("good").error == "reference: malformed entry: listed 2 times (features[0], features[1])"  # type: ignore[union-attr]


def test_a_key_written_twice_is_an_error_not_its_last_copy() -> None:
    text = '{"features": [{"name": "x", "edges": [1], "counts": [1, 1], "counts": [5, 5]}]}'
    assert read(text=text).errors == {"x": "malformed entry: key 'counts' appears more than once"}
    with pytest.raises(DocumentError, match="key 'features' appears more than once"):
        read(text='{"features": [], "features": []}')


def test_limits_per_feature_are_that_features_error() -> None:
    assert error_of({"name": "x", "edges": list(range(65)), "counts": [1] * 66}) == (
        "malformed entry: 65 edges, more than the limit of 64"
    )
    assert error_of({"name": "x", "edges": list(range(3)), "counts": [1] * 66}) == (
        "malformed entry: 66 counts, more than the limit of 65 buckets"
    )
    many = {"name": "x", "type": "categorical", "categories": {f"c{i}": 1 for i in range(101)}}
    assert error_of(many) == "malformed entry: 101 categories, more than the limit of 100"


def test_bad_predictions_are_the_predictions_error() -> None:
    obs = from_document({"features": [GOOD], "predictions": {"edges": [0.5], "counts": [1, -1]}})
    assert obs.predictions is None
    assert obs.errors == {PREDICTION: "malformed predictions: counts[1] (le +Inf) = -1 is negative"}


def test_whole_document_limits() -> None:
    with pytest.raises(DocumentError, match="has 1001 features, more than the limit of 1000"):
        read(text=json.dumps({"features": [{"name": f"f{i}"} for i in range(1001)]}))
    with pytest.raises(DocumentError, match=f"more than {MAX_NUMBERS} numbers"):
        read(text=json.dumps({"padding": [0] * (MAX_NUMBERS + 1)}))
    with pytest.raises(DocumentError, match="JSON objects"):
        read(text=json.dumps({"padding": [{}] * 5000}))
    with pytest.raises(DocumentError, match=f"more than the limit of {MAX_CONFIGMAP_BYTES} bytes"):
        read(text=" " * MAX_CONFIGMAP_BYTES + "{}")
    with pytest.raises(DocumentError, match="more than the limit of 10 bytes"):
        loads('{"x": "ééééé"}', max_bytes=10)  # 14 characters, but bytes are what is limited


def test_a_document_over_the_number_limit_is_refused_while_parsing() -> None:
    """Within the byte limit, 300,000 numbers would take ~10 MB as Python floats; parsing stops at
    the limit instead (the 70,000-feature case took 463 MB of RSS before)."""
    text = json.dumps({"features": [], "padding": [0.5] * 300_000})
    tracemalloc.start()
    try:
        with pytest.raises(DocumentError):
            loads(text, max_bytes=len(text))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000


def test_nothing_valid_and_the_error_summary() -> None:
    broken = from_document({"features": [{"name": f"f{i}", "counts": "x"} for i in range(7)]})
    assert nothing_valid(broken) and nothing_valid(from_document({}))
    assert not nothing_valid(read())
    summary = describe_errors(broken)
    assert summary.startswith("f0: malformed entry: edges and counts must be lists; f1: ")
    assert summary.endswith("; and 2 more")


bad_counts = st.one_of(
    st.floats(max_value=-1e-9, allow_infinity=True),
    st.floats(min_value=MAX_COUNT * 1.01, allow_infinity=True),
    st.just(math.nan),
    st.integers(min_value=MAX_COUNT + 1),
    st.integers(max_value=-1),
)
good_counts = st.one_of(st.integers(0, MAX_COUNT), st.floats(0, MAX_COUNT))


@given(st.lists(st.one_of(good_counts, bad_counts), min_size=2, max_size=65))
def test_a_feature_is_read_exactly_when_every_count_is_a_count(counts: list[float]) -> None:
    feature = {"name": "x", "edges": list(range(len(counts) - 1)), "counts": counts}
    obs = from_document({"features": [GOOD, feature]})
    valid = all(not isinstance(c, float) or math.isfinite(c) for c in counts) and all(
        0 <= c <= MAX_COUNT for c in counts
    )
    assert ("x" in obs.numeric) == valid and ("x" in obs.errors) == (not valid)
    assert obs.numeric["good"].counts.tolist() == [300, 300, 300]
    if not valid:
        assert obs.errors["x"].startswith("malformed entry: counts[")
