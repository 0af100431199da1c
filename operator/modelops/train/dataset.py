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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import numpy.typing as npt

from modelops.errors import ModelopsError

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
                writer.writerow(
                    [*(repr(float(v)) for v in self.numeric[i]), *(c[i] for c in cats), int(self.labels[i])]
                )

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


class DatasetError(ModelopsError, ValueError):
    """A dataset that cannot be read or used for training; the message says what to fix."""


SYNTHETIC_PARAMS = ("rows", "seed", "n_numeric", "mean_shift", "scale", "country_weight", "concept")


def parse_pairs(text: str, what: str) -> dict[str, float]:
    """`amount:0.5,velocity=1` -> {"amount": 0.5, "velocity": 1.0} (either separator works)."""
    pairs: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.replace("=", ":", 1).partition(":")
        try:
            if not sep or not name:
                raise ValueError(item)
            pairs[name.strip()] = float(value)
        except ValueError as error:
            raise DatasetError(f"{what}: expected NAME=NUMBER (or NAME:NUMBER) pairs, got {item!r}") from error
    return pairs


def parse_synthetic(uri: str) -> tuple[int, int, int, Drift]:
    """`synthetic://?rows=..&seed=..&n_numeric=..&mean_shift=a:0.5&scale=..&country_weight=NG:3&concept=..`.

    Returns (rows, seed, n_numeric, drift), so a Job or the demo can train without data files.
    """
    parts = urlsplit(uri)
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - set(SYNTHETIC_PARAMS))
    if parts.netloc or parts.path.strip("/") or unknown:
        raise DatasetError(f"{uri}: unknown synthetic parameters {unknown}; known: {', '.join(SYNTHETIC_PARAMS)}")

    def one(name: str, default: str) -> str:
        return query.get(name, [default])[-1]

    try:
        rows, seed, n_numeric = int(one("rows", "20000")), int(one("seed", "0")), int(one("n_numeric", "8"))
        concept = float(one("concept", "0"))
    except ValueError as error:
        raise DatasetError(f"{uri}: rows, seed and n_numeric must be integers and concept a number") from error
    if rows < 1 or n_numeric < 1:
        raise DatasetError(f"{uri}: rows and n_numeric must be at least 1")
    drift = Drift(
        mean_shift=parse_pairs(one("mean_shift", ""), "mean_shift"),
        scale=parse_pairs(one("scale", ""), "scale"),
        country_weights=parse_pairs(one("country_weight", ""), "country_weight"),
        concept=concept,
    )
    return rows, seed, n_numeric, drift


def read(uri: str, *, label: str = LABEL) -> Dataset:
    """Load `file:///x.csv|.npz`, a plain path, or `synthetic://?...`; DatasetError says what is wrong.

    Numeric columns are those whose every value parses as a number; the others are categorical.
    Missing values, NaN/inf and labels other than 0/1 are refused rather than silently imputed:
    a trainer that guesses produces a model nobody can explain.
    """
    if uri.startswith("synthetic:"):
        rows, seed, n_numeric, drift = parse_synthetic(uri)
        try:
            return generate(rows, seed=seed, n_numeric=n_numeric, drift=drift)
        except ValueError as error:
            raise DatasetError(f"{uri}: {error}") from error
    path = uri_path(uri)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise DatasetError(f"{uri}: cannot tell the format from the extension (use .csv or .npz)")
    try:
        columns = _read_csv(path) if suffix == ".csv" else _read_npz(path)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror or error}") from error
    return _from_columns(columns, label=label, source=str(path))


def uri_path(uri: str) -> Path:
    """`file:///a/b` or a plain path -> Path; other schemes are refused (mount them and use file://)."""
    if "://" not in uri:
        return Path(uri)
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise DatasetError(f"{uri}: only file:// URIs and plain paths are supported (mount the volume and use file://)")
    return Path(unquote(parts.path))


def _read_csv(path: Path) -> dict[str, npt.NDArray[Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            records = list(csv.reader(f))
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text: {error}") from error
    except csv.Error as error:
        raise DatasetError(f"{path}: malformed CSV: {error}") from error
    if not records or not any(records[0]):
        raise DatasetError(f"{path}: empty file (expected a header row)")
    header = [h.strip() for h in records[0]]
    body = [r for r in records[1:] if r]  # a trailing newline is not a row
    bad = next((i for i, r in enumerate(body) if len(r) != len(header)), None)
    if bad is not None:
        raise DatasetError(f"{path}: line {bad + 2} has {len(body[bad])} fields, the header has {len(header)}")
    if len(set(header)) != len(header) or not all(header):
        raise DatasetError(f"{path}: the header has empty or duplicate column names")
    cells = np.array(body, dtype=np.str_).reshape(len(body), len(header))
    columns: dict[str, npt.NDArray[Any]] = {}
    for j, name in enumerate(header):
        raw = np.char.strip(cells[:, j])
        missing = np.flatnonzero(raw == "")
        try:
            values: npt.NDArray[Any] = raw[raw != ""].astype(np.float64)
        except ValueError:
            values = raw  # not all numbers: a categorical column
        if missing.size:
            kind = "numeric" if values.dtype == np.float64 else "categorical"
            raise DatasetError(
                f"{path}: {kind} column {name!r} has {missing.size} missing values (first on line {missing[0] + 2})"
            )
        columns[name] = values
    return columns


def _read_npz(path: Path) -> dict[str, npt.NDArray[Any]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in data.files}
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        # object arrays need pickle, which a dataset reader must never run
        raise DatasetError(f"{path}: not a readable .npz of plain arrays: {error}") from error


def _from_columns(columns: dict[str, npt.NDArray[Any]], *, label: str, source: str) -> Dataset:
    if label not in columns:
        raise DatasetError(f"{source}: no label column {label!r} (columns: {', '.join(columns)}); set --label")
    lengths = {name: values.shape for name, values in columns.items()}
    if any(len(shape) != 1 for shape in lengths.values()) or len({s[0] for s in lengths.values()}) != 1:
        raise DatasetError(f"{source}: every column must be one-dimensional and the same length, got {lengths}")
    rows = len(columns[label])
    if rows == 0:
        raise DatasetError(f"{source}: no rows")
    labels = _labels(columns[label], f"{source}: label column {label!r}")
    numeric = {n: v for n, v in columns.items() if n != label and v.dtype.kind in "biuf"}
    categorical = {n: v.astype(np.str_) for n, v in columns.items() if n != label and v.dtype.kind == "U"}
    other = sorted(set(columns) - set(numeric) - set(categorical) - {label})
    if other:
        raise DatasetError(f"{source}: columns {other} are neither numbers nor strings")
    if not numeric and not categorical:
        raise DatasetError(f"{source}: no feature columns besides the label {label!r}")
    matrix = np.column_stack([v.astype(np.float64) for v in numeric.values()]) if numeric else np.empty((rows, 0))
    bad_rows, bad_cols = np.nonzero(~np.isfinite(matrix))
    if bad_rows.size:
        names = sorted({list(numeric)[j] for j in bad_cols})
        raise DatasetError(
            f"{source}: {bad_rows.size} NaN or infinite values in {names} (first in row {bad_rows.min() + 1}); "
            "clean or impute them before training"
        )
    return Dataset(list(numeric), matrix, categorical, labels)


def _labels(values: npt.NDArray[Any], what: str) -> npt.NDArray[np.int64]:
    if values.dtype.kind == "U":
        lowered = np.char.lower(np.char.strip(values))
        mapping = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}
        unknown = sorted(set(np.unique(lowered).tolist()) - set(mapping))
        if unknown:
            raise DatasetError(f"{what} must be 0/1 (or true/false); found {unknown[:5]}")
        return np.isin(lowered, ("1", "1.0", "true")).astype(np.int64)
    if values.dtype.kind not in "biuf" or not np.all(np.isin(values, (0, 1))):
        found = np.unique(values)[:5].tolist() if values.dtype.kind in "biuf" else str(values.dtype)
        raise DatasetError(f"{what} must be 0/1; found {found}")
    return values.astype(np.int64)
