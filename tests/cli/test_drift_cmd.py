from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelops.api.v1alpha1.baseline import OTHER_CATEGORY, Baseline
from modelops.cli.main import main
from modelops.train import baseline as trainer
from modelops.train.dataset import Drift, generate


def baseline_document(reference: Baseline | None, rows: int, seed: int, drift: Drift | None = None) -> dict[str, Any]:
    """A trained baseline (reference None) or fresh traffic counted on the reference's edges."""
    data = generate(rows, seed=seed, drift=drift)
    scores = np.random.default_rng(seed).random(rows)
    if reference is None:
        return trainer.build(data, scores, model="m", version="v1").model_dump(mode="json", by_alias=True)
    features: list[dict[str, Any]] = []
    for f in reference.features:
        if f.type == "numeric":
            values = data.numeric[:, data.numeric_names.index(f.name)]
            features.append({"name": f.name, "edges": f.edges, "counts": trainer.bucket_counts(values, f.edges)})
        else:
            cats: dict[str, int] = {}
            for value in data.categorical[f.name].tolist():
                key = value if value in f.categories else OTHER_CATEGORY
                cats[key] = cats.get(key, 0) + 1
            features.append({"name": f.name, "type": "categorical", "categories": cats})
    assert reference.predictions is not None
    edges = reference.predictions.edges
    return {"features": features, "predictions": {"edges": edges, "counts": trainer.bucket_counts(scores, edges)}}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("drift")
    ref_doc = baseline_document(None, 20_000, seed=1)
    reference = Baseline.model_validate(ref_doc)
    shift = Drift(
        mean_shift=dict.fromkeys(("amount", "velocity", "age_days", "hour", "distance_km", "txn_per_day"), 1.0)
    )
    docs = {
        "reference": ref_doc,
        "same": baseline_document(reference, 3000, seed=2),
        "drifted": baseline_document(reference, 3000, seed=3, drift=shift),
        "few": baseline_document(reference, 50, seed=4),
    }
    broken = json.loads(json.dumps(docs["same"]))
    broken["features"][0]["edges"] = [e * 1.5 for e in broken["features"][0]["edges"]]
    del broken["features"][1]
    docs["broken"] = broken
    paths = {}
    for name, doc in docs.items():
        paths[name] = root / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    return paths


def drift(files: dict[str, Path], current: str, *extra: str) -> int:
    return main(["drift", "evaluate", "--reference", str(files["reference"]), "--current", str(files[current]), *extra])


def test_no_drift_exits_0_with_a_table(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert drift(files, "same") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["FEATURE", "TYPE", "TEST", "SAMPLES", "P", "ADJ", "P", "PSI", "JS", "KS", "RESULT"]
    assert len(out) == 1 + 10 + 1 and all(line.endswith(" ok") for line in out[1:-1])
    assert "__prediction__" in "\n".join(out) and "chi2-categorical" in "\n".join(out)
    assert out[-1] == ("0 of 10 tested features drifted (share 0.00, threshold 0.5): not drifted at this evaluation")


def test_drift_exits_1_worst_first(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert drift(files, "drifted") == 1
    out = capsys.readouterr().out.splitlines()
    results = [line.split()[-1] for line in out[1:-1]]
    assert results == ["DRIFTED"] * 6 + ["ok"] * 4
    psi = [float(line.split()[6]) for line in out[1:7]]
    assert psi == sorted(psi, reverse=True)
    assert out[-1].startswith("6 of 10 tested features drifted (share 0.60") and out[-1].endswith(
        "DRIFTED at this evaluation"
    )


def test_a_higher_drift_share_or_a_higher_floor_is_not_drift(files: dict[str, Path]) -> None:
    assert drift(files, "drifted", "--drift-share", "0.7") == 0
    assert drift(files, "drifted", "--psi-floor", "5") == 0


def test_json_output(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert drift(files, "drifted", "-o", "json", "--correction", "bonferroni", "--no-predictions") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["drifted"] is True and doc["tested"] == 9 and doc["driftedFeatures"] == 6
    assert doc["driftShare"] == pytest.approx(6 / 9) and doc["worstFeature"] == doc["features"][0]["name"]
    assert doc["settings"] == {
        "alpha": 0.05,
        "correction": "bonferroni",
        "psiFloor": 0.1,
        "minSamples": 200,
        "driftShare": 0.5,
        "predictions": False,
    }
    first = doc["features"][0]
    assert first["type"] == "numeric" and first["drifted"] is True and first["test"] == "chi2"
    assert set(first) >= {"pValue", "adjustedPValue", "psi", "js", "ks", "wasserstein", "samples", "error"}
    assert all(f["name"] != "__prediction__" for f in doc["features"])


def test_too_few_samples_exits_3(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert drift(files, "few") == 3
    out = capsys.readouterr().out
    assert out.count("insufficient data (fewer than 200)") == 10
    assert out.splitlines()[-1] == "no feature could be tested, 10 with insufficient data: insufficient data"
    assert drift(files, "few", "--min-samples", "20") == 0


def test_bad_features_are_reported_the_rest_judged_and_the_exit_code_says_so(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert drift(files, "broken") == 4  # a clean verdict on part of the features is not "clean"
    out = capsys.readouterr().out
    assert "error: buckets do not match the reference edges: missing le" in out
    assert "error: the feature is missing from the current data" in out
    assert out.splitlines()[-1].startswith("0 of 8 tested features drifted") and ", 2 with errors:" in out
    assert drift(files, "broken", "--allow-errors") == 0  # the verdict on the rest, errors still listed
    assert "error: the feature is missing from the current data" in capsys.readouterr().out


def test_unusable_input_exits_2(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert main(["drift", "evaluate", "--reference", str(garbage), "--current", str(files["same"])]) == 2
    assert "is not JSON" in capsys.readouterr().err
    missing = tmp_path / "missing.json"
    assert main(["drift", "evaluate", "--reference", str(files["reference"]), "--current", str(missing)]) == 2
    assert "cannot read" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text('{"features": []}')
    assert drift({**files, "empty": empty}, "empty") == 2  # every feature is missing: nothing judged, bad input
    assert capsys.readouterr().out.splitlines()[-1].endswith(": bad input")
    with pytest.raises(SystemExit) as exit_info:
        main(["drift", "evaluate", "--reference", str(files["reference"])])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        drift(files, "same", "--alpha", "1.5")
    assert exit_info.value.code == 2


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def evaluate_json(
    reference: Path, current: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any]]:
    code = main(["drift", "evaluate", "--reference", str(reference), "--current", str(current), "-o", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def errors_of(document: dict[str, Any]) -> dict[str, str]:
    return {e["feature"]: e["error"] for e in document["errors"]}


@pytest.mark.parametrize("side", ["reference", "current"])
def test_a_negative_count_is_that_features_error_never_drift(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    """Before: -190 was clamped to 0 and made a clean feature DRIFTED (PSI 0.57), exit 0."""
    doc = json.loads(files[side if side == "reference" else "same"].read_text())
    feature = doc["features"][0]
    feature["counts"][3] = -190
    bad = write(tmp_path, side, doc)
    reference, current = (bad, files["same"]) if side == "reference" else (files["reference"], bad)
    code, out = evaluate_json(reference, current, capsys)
    assert code == 4
    name, le = feature["name"], feature["edges"][3]
    assert errors_of(out) == {
        name: (f"{side + ': ' if side == 'reference' else ''}malformed entry: counts[3] (le {le:g}) = -190 is negative")
    }
    assert out["tested"] == 9 and out["driftedFeatures"] == 0 and out["drifted"] is False
    assert all(f["samples"] >= 0 for f in out["features"])


def test_a_feature_listed_twice_is_an_error_not_its_last_copy(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the heavily shifted first copy was ignored and the last one judged: exit 0."""
    doc = json.loads(files["same"].read_text())
    first = dict(doc["features"][0])
    first["counts"] = [0] * (len(first["counts"]) - 1) + [sum(first["counts"])]
    doc["features"].insert(0, first)
    code, out = evaluate_json(files["reference"], write(tmp_path, "twice", doc), capsys)
    assert code == 4
    assert errors_of(out) == {first["name"]: "malformed entry: listed 2 times (features[0], features[1])"}
    assert out["tested"] == 9


@pytest.mark.parametrize(
    ("text", "shown"), [("1e300", "1e+300"), ("1e999", "1e999"), ("NaN", "NaN"), ("-Infinity", "-Infinity")]
)
def test_overflowing_and_non_finite_counts_are_errors_naming_the_bucket(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, shown: str
) -> None:
    """Before: 1e300 came out as `samples: -9223372036854775808`; 1e999 as an error naming no bucket."""
    doc = json.loads(files["same"].read_text())
    feature = doc["features"][0]
    feature["counts"][0] = "COUNT"
    current = write(tmp_path, "big", json.dumps(doc).replace('"COUNT"', text))
    code, out = evaluate_json(files["reference"], current, capsys)
    assert code == 4
    error = errors_of(out)[feature["name"]]
    assert error.startswith(f"malformed entry: counts[0] (le {feature['edges'][0]:g}) = {shown} ")
    assert all(f["samples"] >= 0 for f in out["features"]) and out["tested"] == 9


def test_nothing_valid_exits_2_and_lists_every_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(files["same"].read_text())
    for f in doc["features"]:
        f["counts" if f.get("type", "numeric") == "numeric" else "categories"] = "lost"
    doc["predictions"]["counts"][0] = -1
    code, out = evaluate_json(files["reference"], write(tmp_path, "ruined", doc), capsys, "--allow-errors")
    assert code == 2 and out["tested"] == 0 and len(out["errors"]) == 10


def test_more_features_than_the_limit_is_refused_with_the_numbers(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: 70,000 features (a 97 MB file) were read and evaluated at 463 MB peak RSS, exit 0."""
    many = {"features": [{"name": f"f{i}", "edges": [0.5], "counts": [1, 1]} for i in range(1001)]}
    assert drift({**files, "many": write(tmp_path, "many", many)}, "many") == 2
    assert "has 1001 features, more than the limit of 1000" in capsys.readouterr().err


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tracemalloc

    from modelops.analysis.drift_documents import MAX_FILE_BYTES

    huge = tmp_path / "huge.json"
    with huge.open("w") as out:
        out.write('{"features": [' + ",".join(["0"] * (MAX_FILE_BYTES // 2 + 1)) + "]}")
    tracemalloc.start()
    try:
        code = main(["drift", "evaluate", "--reference", str(huge), "--current", str(files["same"])])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2
    assert f"more than the limit of {MAX_FILE_BYTES} bytes" in capsys.readouterr().err
    assert peak < 1_000_000  # the file (over 16 MB) was never read, let alone parsed
