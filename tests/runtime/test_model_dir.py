"""The server loads a model from a directory artifact (an S3 prefix, a multi-file OCI artifact) and checks
its directory digest, as fetch-model placed and verified it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from modelops.models import ModelError
from modelops.runtime.server import ServeOptions, artifact_root, find_model, load_model
from modelops.runtime.storage.directory import directory_digest
from modelops.train.dataset import generate
from tests.runtime.serve_process import start_server

joblib = pytest.importorskip("joblib")
linear_model = pytest.importorskip("sklearn.linear_model")


def _sklearn_dir(models: Path) -> Path:
    """/models/v2/{model.joblib, feature_names.json, README}: an sklearn model with side files."""
    data = generate(500, seed=3, n_numeric=4)
    root = models / "v2"
    (root / "meta").mkdir(parents=True)
    joblib.dump(linear_model.LogisticRegression(max_iter=200).fit(data.numeric, data.labels), root / "model.joblib")
    (root / "meta" / "feature_names.json").write_text('["f0", "f1", "f2", "f3"]')
    (root / "README").write_text("side file\n")
    (models / ".v2.partial-abc").mkdir()  # a staging leftover is never looked at
    (models / ".v2.partial-abc" / "model.onnx").write_bytes(b"")
    return root


def test_the_one_model_file_inside_a_directory_artifact(tmp_path: Path) -> None:
    root = _sklearn_dir(tmp_path)
    path = find_model(tmp_path)
    assert path == root / "model.joblib" and artifact_root(tmp_path, path) == root
    (root / "meta" / "other.npz").write_bytes(b"")
    with pytest.raises(ModelError, match=r"exactly one model file .* found \['v2/meta/other.npz', 'v2/model.joblib'\]"):
        find_model(tmp_path)


def test_a_file_at_the_top_has_no_artifact_root(tmp_path: Path) -> None:
    (tmp_path / "model.npz").write_bytes(b"")
    assert artifact_root(tmp_path, find_model(tmp_path)) is None


def test_the_directory_digest_is_checked_before_loading(tmp_path: Path) -> None:
    root = _sklearn_dir(tmp_path)
    options = ServeOptions(
        model_path=find_model(tmp_path),
        name="fraud",
        version="v2",
        sha256=directory_digest(root),
        artifact_root=root,
        telemetry=False,
    )
    assert load_model(options).model.signature.task == "binary"
    (root / "README").write_text("tampered\n")
    with pytest.raises(ModelError, match="refusing to load"):
        load_model(options)


def test_the_signer_fetch_model_verified_is_exported_for_a_directory_artifact(tmp_path: Path) -> None:
    """fetch-model leaves its report in --dest (/models/.provenance), above the directory the model is in."""
    models = tmp_path / "models"
    models.mkdir()
    (models / ".provenance").write_text(json.dumps({"signer": "SHA256:abc=", "kind": "directory"}))
    proc, url, _ = start_server(models / "fraud-v3", "--model-dir", str(models))  # the last --model-dir wins
    try:
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    info = next(line for line in metrics.splitlines() if line.startswith("modelops_model_info{"))
    assert 'signer="SHA256:abc="' in info, info
