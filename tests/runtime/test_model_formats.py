"""The optional formats give the same predictions as the estimator they came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelops.models import ModelError, detect_format, load
from modelops.models.base import Batch
from modelops.train.dataset import generate

sklearn = pytest.importorskip("sklearn.linear_model")
joblib = pytest.importorskip("joblib")

DATA = generate(2000, seed=11, n_numeric=6)


def _fitted() -> object:
    return sklearn.LogisticRegression(max_iter=500).fit(DATA.numeric, DATA.labels)


def test_sklearn_joblib(tmp_path: Path) -> None:
    estimator = _fitted()
    joblib.dump(estimator, tmp_path / "model.joblib")
    model = load(tmp_path / "model.joblib")
    assert model.signature.task == "binary" and len(model.signature.features) == 6
    expected = estimator.predict_proba(DATA.numeric[:50])[:, 1]  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.predict(Batch(DATA.numeric[:50])), expected)


def test_onnx(tmp_path: Path) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    estimator = _fitted()
    onx = skl2onnx.convert_sklearn(
        estimator, initial_types=[("input", FloatTensorType([None, 6]))], options={id(estimator): {"zipmap": False}}
    )
    meta = onx.metadata_props.add()
    meta.key, meta.value = "feature_names", ",".join(DATA.numeric_names)
    (tmp_path / "model.onnx").write_bytes(onx.SerializeToString())
    model = load(tmp_path / "model.onnx")
    assert model.signature.names() == DATA.numeric_names and model.signature.task == "binary"
    expected = estimator.predict_proba(DATA.numeric[:50])[:, 1]  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.predict(Batch(DATA.numeric[:50])), expected, atol=1e-5)  # float32 inside


def test_corrupt_artifacts_are_model_errors(tmp_path: Path) -> None:
    for name in ("model.npz", "model.joblib", "model.onnx"):
        (tmp_path / name).write_bytes(b"garbage")
        with pytest.raises(ModelError):
            load(tmp_path / name)
    with pytest.raises(ModelError, match=r"set model\.format"):
        detect_format(tmp_path / "model.bin")
    with pytest.raises(ModelError, match="no such model file"):
        load(tmp_path / "absent.npz")
