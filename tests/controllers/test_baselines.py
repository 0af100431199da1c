"""The baseline beside a trainer's artifact: read when it is one, refused with a reason otherwise."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from modelops.controllers import baselines
from modelops.controllers.baselines import ArtifactBaselines, read_baseline
from modelops.retrain.jobs import JobState

DOCUMENT = json.dumps({"features": [{"name": "x", "edges": [0.0, 1.0], "counts": [5, 5, 5]}]})


def read(uri: str, filename: str = "baseline.json") -> str:
    return asyncio.run(ArtifactBaselines().read_beside(uri, filename))


def test_a_baseline_beside_a_file_artifact_is_read(tmp_path: Path) -> None:
    (tmp_path / "baseline.json").write_text(DOCUMENT)
    assert read(f"file://{tmp_path}/model.npz") == DOCUMENT


@pytest.mark.parametrize(
    ("content", "filename", "uri", "match"),
    [
        (DOCUMENT, "../baseline.json", None, "not a file name beside the artifact"),
        (DOCUMENT, "baseline.json", "s3://bucket/model.npz", r"cannot read a baseline beside a s3:// artifact"),
        ('{"features": 3}', "baseline.json", None, r"baseline.json is not a baseline document \(1 problem"),
        (  # a valid Baseline to pydantic, but a DriftMonitor could judge neither copy (before: published)
            json.dumps({"features": [json.loads(DOCUMENT)["features"][0]] * 2}),
            "baseline.json",
            None,
            r"baseline.json has 1 entry a DriftMonitor cannot read \(check it with `modelops drift evaluate",
        ),
        (  # an integer to pydantic, but more than float64 counts exactly
            DOCUMENT.replace("[5, 5, 5]", f"[5, 5, {2**53 + 1}]"),
            "baseline.json",
            None,
            "1 entry a DriftMonitor cannot read",
        ),
    ],
)
def test_what_is_not_a_readable_baseline_is_refused(
    tmp_path: Path, content: str, filename: str, uri: str | None, match: str
) -> None:
    (tmp_path / "baseline.json").write_text(content)
    with pytest.raises(ValueError, match=match):
        read(uri or f"file://{tmp_path}/model.npz", filename)


def test_a_baseline_too_large_for_a_config_map_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baselines, "MAX_BASELINE_BYTES", 10)
    (tmp_path / "baseline.json").write_text(DOCUMENT)
    with pytest.raises(ValueError, match="more than a ConfigMap holds"):
        read(f"file://{tmp_path}/model.npz")


def test_read_baseline_turns_every_failure_into_a_reason(tmp_path: Path) -> None:
    def state(**doc: str) -> JobState:
        return JobState("succeeded", json.dumps({"version": "v2", "uri": f"file://{tmp_path}/model.npz", **doc}))

    reader = ArtifactBaselines()
    assert asyncio.run(read_baseline(reader, state())).error == "the result names no baseline document"
    missing = asyncio.run(read_baseline(reader, state(baseline="baseline.json")))
    assert missing.document is None and "No such file" in missing.error
    (tmp_path / "baseline.json").write_text(DOCUMENT)
    assert asyncio.run(read_baseline(reader, state(baseline="baseline.json"))).document == DOCUMENT
    assert "no termination message" in asyncio.run(read_baseline(reader, JobState("succeeded"))).error
