"""A small real model + baseline for runtime tests (no trainer needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modelops.models.base import FeatureSpec, Signature
from modelops.models.numpy_linear import NumpyLinearModel
from modelops.train.dataset import Dataset, generate, numeric_names

N_NUMERIC = 8


def signature() -> Signature:
    numeric = tuple(FeatureSpec(n) for n in numeric_names(N_NUMERIC))
    return Signature((*numeric, FeatureSpec("country", "categorical", ("US", "GB", "DE"))))


def model() -> NumpyLinearModel:
    return NumpyLinearModel(
        signature(), np.zeros(N_NUMERIC), np.ones(N_NUMERIC), np.linspace(-1, 1, N_NUMERIC + 3), -1.0
    )


def baseline(data: Dataset) -> dict[str, object]:
    features: list[dict[str, object]] = []
    for i, name in enumerate(data.numeric_names):
        edges = np.unique(np.quantile(data.numeric[:, i], np.arange(1, 12) / 12)).tolist()
        index = np.searchsorted(edges, data.numeric[:, i], side="left")
        features.append({"name": name, "edges": edges, "counts": np.bincount(index, minlength=len(edges) + 1).tolist()})
    features.append({"name": "country", "type": "categorical", "categories": {"US": 350, "GB": 150, "__other__": 500}})
    return {"model": "fraud", "version": "v1", "features": features}


def write_model_dir(directory: Path, seed: int = 1) -> tuple[Path, Dataset]:
    directory.mkdir(parents=True, exist_ok=True)
    data = generate(2000, seed=seed)
    model().save(directory / "model.npz")
    (directory / "baseline.json").write_text(json.dumps(baseline(data)))
    return directory / "model.npz", data
