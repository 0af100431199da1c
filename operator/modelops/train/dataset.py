"""Synthetic fraud-like tabular data with knobs for drift, for examples, tests and the demo.

Numeric features are drawn from standard normals mixed through a fixed, seed-independent
correlation (so feature identities mean the same thing across calls); one categorical
feature, `country`, has skewed frequencies. The label follows a logistic ground truth over
a subset of features. Drift knobs: shift a feature's mean or scale (in units of its
standard deviation), change category frequencies, and `concept` drift, which rotates the
ground truth so a model trained before it loses accuracy while inputs may look the same.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "NG", "JP", "AU", "CA")
COUNTRY_P = np.array([0.35, 0.15, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02])
BASE_NAMES = ("amount", "age_days", "txn_per_day", "distance_km", "hour", "merchant_risk", "device_age", "velocity")
LABEL = "is_fraud"


def numeric_names(n: int) -> list[str]:
    """Names of the first n numeric features (fixed, so n=20 extends the base eight)."""
    return [BASE_NAMES[i] if i < len(BASE_NAMES) else f"x{i}" for i in range(n)]


@dataclass(frozen=True)
class Drift:
    """How production differs from training. Shifts are in standard deviations."""

    mean_shift: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    country_weights: dict[str, float] = field(default_factory=dict)  # multiplies base frequencies
    concept: float = 0.0  # 0 = same relation; 1 = the label depends on other features entirely


@dataclass
class Dataset:
    """Rows of features and labels, column-major."""

    numeric_names: list[str]
    numeric: npt.NDArray[np.float64]  # (rows, len(numeric_names))
    categorical: dict[str, npt.NDArray[np.str_]]  # name -> (rows,)
    labels: npt.NDArray[np.int64]  # (rows,) 0/1

    @property
    def rows(self) -> int:
        return int(self.numeric.shape[0])

    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric_names, *self.categorical]

    def slice(self, start: int, stop: int) -> Dataset:
        return Dataset(
            self.numeric_names,
            self.numeric[start:stop],
            {k: v[start:stop] for k, v in self.categorical.items()},
            self.labels[start:stop],
        )

    def inference_inputs(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Open Inference Protocol inputs, one tensor per feature (categoricals as BYTES)."""
        part = self.slice(start, self.rows if stop is None else stop)
        inputs: list[dict[str, Any]] = [
            {"name": name, "shape": [part.rows], "datatype": "FP64", "data": part.numeric[:, i].tolist()}
            for i, name in enumerate(self.numeric_names)
        ]
        inputs += [
            {"name": name, "shape": [part.rows], "datatype": "BYTES", "data": values.tolist()}
            for name, values in part.categorical.items()
        ]
        return inputs

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([*self.numeric_names, *self.categorical, LABEL])
            cats = list(self.categorical.values())
            for i in range(self.rows):
                writer.writerow([*(repr(float(v)) for v in self.numeric[i]), *(c[i] for c in cats), int(self.labels[i])])

    def write_npz(self, path: Path) -> None:
        arrays: dict[str, Any] = {name: self.numeric[:, i] for i, name in enumerate(self.numeric_names)}
        arrays.update(self.categorical)
        arrays[LABEL] = self.labels
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)


def _ground_truth(n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two fixed weight vectors: before and after concept drift (seed-independent)."""
    rng = np.random.default_rng(20261123)
    before = np.zeros(n)
    k = min(n, 5)
    before[:k] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(0.8, 1.6, size=k)
    after = np.roll(before, max(1, n // 2))
    return before, after


def generate(rows: int, *, seed: int, n_numeric: int = 8, drift: Drift | None = None) -> Dataset:
    """`rows` samples; identical for identical arguments."""
    drift = drift or Drift()
    names = numeric_names(n_numeric)
    unknown = (set(drift.mean_shift) | set(drift.scale)) - set(names)
    if unknown:
        raise ValueError(f"drift names unknown features {sorted(unknown)}; features are {names}")
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(7).normal(scale=0.3, size=(n_numeric, n_numeric))
    np.fill_diagonal(mix, 1.0)
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)  # unit variance per feature
    x = rng.standard_normal((rows, n_numeric)) @ mix.T
    for i, name in enumerate(names):
        x[:, i] = x[:, i] * drift.scale.get(name, 1.0) + drift.mean_shift.get(name, 0.0)
    weights = COUNTRY_P * np.array([drift.country_weights.get(c, 1.0) for c in COUNTRIES])
    country = rng.choice(np.array(COUNTRIES, dtype=np.str_), size=rows, p=weights / weights.sum())
    before, after = _ground_truth(n_numeric)
    w = (1 - drift.concept) * before + drift.concept * after
    country_effect = np.where(np.isin(country, ("NG", "BR")), 0.8, 0.0)
    z = x @ w + country_effect - 2.5
    labels = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return Dataset(names, x, {"country": country}, labels)
