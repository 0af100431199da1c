"""scikit-learn estimators saved with joblib (extra: `pip install modelops-operator[sklearn]`).

joblib files are pickles: they run code when loaded, which is why the init container
verifies the artifact's sha256 before the server ever opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelops.models.base import Batch, FeatureSpec, ModelError, Signature


@dataclass
class SklearnModel:
    estimator: Any
    signature: Signature

    def predict(self, batch: Batch) -> npt.NDArray[np.float64]:
        if self.signature.task == "binary":
            return np.asarray(self.estimator.predict_proba(batch.numeric)[:, 1], dtype=np.float64)
        return np.asarray(self.estimator.predict(batch.numeric), dtype=np.float64)


def load(path: Path) -> SklearnModel:
    try:
        import joblib
    except ImportError as error:
        raise ModelError("scikit-learn models need the extra: pip install 'modelops-operator[sklearn]'") from error
    try:
        estimator = joblib.load(path)
    except Exception as error:
        raise ModelError(f"{path}: cannot load with joblib: {error}") from error
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        count = getattr(estimator, "n_features_in_", None)
        if count is None:
            raise ModelError(f"{path}: estimator is not fitted (no n_features_in_)")
        names = [f"f{i}" for i in range(int(count))]
    classes = getattr(estimator, "classes_", None)
    binary = hasattr(estimator, "predict_proba") and classes is not None and len(classes) == 2
    signature = Signature(tuple(FeatureSpec(str(n)) for n in names), task="binary" if binary else "regression")
    return SklearnModel(estimator, signature)
