"""The reference trainer: data in; model, baseline, metrics and a one-line result out.

It is what a RetrainPolicy's Job runs by default, so it speaks the operator's contract:
settings fall back to the MODELOPS_* environment the operator injects, every file is
written atomically (a killed Job leaves the previous file or the new one, never half of
one; result.json is written last, so its presence means the set is complete), and the
result is printed as the last stdout line and written to the container's termination
log, where the operator reads it (Kubernetes keeps at most 4096 bytes of it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from modelops.api.v1alpha1.baseline import PROBABILITY_EDGES
from modelops.api.v1alpha1.common import DNS_LABEL, LABEL_VALUE
from modelops.errors import ModelopsError
from modelops.models.base import Batch
from modelops.train import baseline as baseline_mod
from modelops.train import logistic
from modelops.train.dataset import LABEL, Dataset, DatasetError, read, uri_path
from modelops.train.metrics import evaluate

log = logging.getLogger("modelops.train")

FORMAT = "numpy-linear"
ARTIFACT = "model.npz"
BASELINE = "baseline.json"
METRICS = "metrics.json"
RESULT = "result.json"
TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_LIMIT = 4096  # bytes Kubernetes keeps of a termination message
CORE_METRICS = ("auc", "accuracy", "logLoss")  # kept when the termination message must shrink

# The environment the operator injects into retraining Jobs; flags override it.
ENV_MODEL = "MODELOPS_MODEL_NAME"
ENV_VERSION = "MODELOPS_NEXT_VERSION"
ENV_OUTPUT = "MODELOPS_OUTPUT_URI"
ENV_DATA = "MODELOPS_DATA_URI"
ENV_TRIGGER = "MODELOPS_TRIGGER"
ENV_SEED = "MODELOPS_SEED"


class TrainError(ModelopsError, ValueError):
    """Settings or data the trainer cannot use; the message says what to change."""


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on; the same settings and data give the same model bytes."""

    data: str
    out: Path
    model: str = "model"
    version: str = "v1"
    label: str = LABEL
    seed: int = 0
    holdout: float = 0.2
    buckets: int = 12
    max_categories: int = 20
    max_onehot: int = 50
    l2: float = 1e-3
    trigger: str | None = None

    def __post_init__(self) -> None:
        if not re.match(DNS_LABEL, self.model) or len(self.model) > 63:
            raise TrainError(f"model name {self.model!r} must be a DNS label (lowercase, digits, '-'; <= 63)")
        if not re.match(LABEL_VALUE, self.version) or len(self.version) > 63:
            raise TrainError(f"version {self.version!r} must be a label value (letters, digits, '-_.'; <= 63)")
        if not 0 < self.holdout < 1:
            raise TrainError(f"holdout must be a fraction between 0 and 1, got {self.holdout}")
        if not 2 <= self.buckets <= 65:
            raise TrainError(f"buckets must be between 2 and 65 (at most 64 edges), got {self.buckets}")
        if not 1 <= self.max_categories <= 99:
            raise TrainError(
                f"max categories must be between 1 and 99 (one slot is __other__), got {self.max_categories}"
            )
        if self.max_onehot < 1 or self.l2 < 0:
            raise TrainError("max one-hot categories must be >= 1 and l2 >= 0")


def resolve(flags: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Settings from flags (None = not given), falling back to the MODELOPS_* environment."""
    data = flags.get("data") or env.get(ENV_DATA)
    if not data:
        raise TrainError(f"no data: pass --data URI or set {ENV_DATA}")
    out = flags.get("out")
    if out is None:
        output_uri = env.get(ENV_OUTPUT)
        if not output_uri:
            raise TrainError(f"no output directory: pass --out DIR or set {ENV_OUTPUT}")
        try:
            out = uri_path(output_uri)
        except DatasetError as error:
            raise TrainError(f"{ENV_OUTPUT}: {error}") from error
    seed = flags.get("seed")
    if seed is None:
        try:
            seed = int(env.get(ENV_SEED) or 0)
        except ValueError as error:
            raise TrainError(f"{ENV_SEED} must be an integer, got {env.get(ENV_SEED)!r}") from error
    given = {k: v for k, v in flags.items() if v is not None and k in Settings.__dataclass_fields__}
    given.update(
        data=data,
        out=Path(out),
        seed=seed,
        model=flags.get("model") or env.get(ENV_MODEL) or "model",
        version=flags.get("version") or env.get(ENV_VERSION) or "v1",
        trigger=flags.get("trigger") or env.get(ENV_TRIGGER) or None,
    )
    return Settings(**given)


def default_termination_log() -> Path | None:
    """/dev/termination-log when it exists: the kubelet mounts that file into every container.

    Checking the file rather than its directory keeps a trainer run by root on a workstation
    from creating a stray /dev/termination-log.
    """
    return TERMINATION_LOG if TERMINATION_LOG.is_file() and os.access(TERMINATION_LOG, os.W_OK) else None


def split(rows: int, holdout: float, seed: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Seeded train/holdout row indices, each in the original row order."""
    order = np.random.default_rng(seed).permutation(rows)
    n_holdout = round(rows * holdout)
    if n_holdout < 1 or n_holdout >= rows:
        raise TrainError(f"{rows} rows cannot be split with holdout {holdout}: both parts need rows")
    return np.sort(order[n_holdout:]), np.sort(order[:n_holdout])


def take(data: Dataset, index: npt.NDArray[np.int64]) -> Dataset:
    return Dataset(
        data.numeric_names,
        data.numeric[index],
        {name: values[index] for name, values in data.categorical.items()},
        data.labels[index],
    )


def atomic_write(path: Path, payload: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def termination_message(result: Mapping[str, Any], limit: int = TERMINATION_LIMIT) -> str:
    """The result as compact JSON under `limit` bytes, dropping detail rather than cutting JSON."""
    artifact = ("model", "version", "uri", "sha256", "format")
    brief = {**result, "metrics": {k: v for k, v in result.get("metrics", {}).items() if k in CORE_METRICS}}
    candidates = [
        dict(result),
        brief,
        {k: v for k, v in brief.items() if k not in ("data", "trainedAt")},
        {k: v for k, v in result.items() if k in artifact},
    ]
    for candidate in candidates:
        text = json.dumps(candidate, separators=(",", ":"))
        if len(text.encode()) < limit:
            return text
    raise TrainError(f"the result does not fit the {limit}-byte termination log even without metrics")


def _check_classes(labels: npt.NDArray[np.int64], part: str) -> None:
    present = set(np.unique(labels).tolist())
    if present != {0, 1}:
        only = "no rows" if not present else f"only label {present.pop()}"
        raise TrainError(f"the {part} has {only}; training and evaluation need both classes (use more data)")


def _batch(data: Dataset) -> Batch:
    return Batch(numeric=data.numeric, categorical=data.categorical)


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def train(settings: Settings) -> dict[str, Any]:
    """Read, split, fit, evaluate, write the outputs; returns the result document."""
    started = time.perf_counter()
    try:
        data = read(settings.data, label=settings.label)
    except DatasetError as error:
        raise TrainError(str(error)) from error
    train_index, holdout_index = split(data.rows, settings.holdout, settings.seed)
    training, holdout = take(data, train_index), take(data, holdout_index)
    _check_classes(training.labels, "training split")
    _check_classes(holdout.labels, f"holdout ({holdout.rows} rows)")
    log.info("read %d rows x %d features from %s", data.rows, len(data.feature_names), settings.data)

    read_seconds = time.perf_counter() - started
    model, report = logistic.fit(training, l2=settings.l2, max_onehot=settings.max_onehot)
    fit_seconds = time.perf_counter() - started - read_seconds
    if not report.converged:
        log.warning("the optimiser stopped early after %d iterations: %s", report.iterations, report.message)
    train_scores = model.predict(_batch(training))
    metrics = evaluate(holdout.labels, model.predict(_batch(holdout)))
    try:
        baseline = baseline_mod.build(
            training,
            train_scores,
            model=settings.model,
            version=settings.version,
            buckets=settings.buckets,
            max_categories=settings.max_categories,
            prediction_edges=PROBABILITY_EDGES,  # scores are probabilities: versions share the buckets
        )
    except ValidationError as error:  # e.g. a column name longer than 128 characters
        raise TrainError(f"the data cannot be described by a baseline document: {error}") from error
    artifact = model.to_bytes()

    out = settings.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / RESULT).unlink(missing_ok=True)  # until the new one lands, the directory is incomplete
        atomic_write(out / ARTIFACT, artifact)
        atomic_write(out / BASELINE, json.dumps(baseline.wire()).encode())
        details = {
            "holdout": metrics,
            "train": evaluate(training.labels, train_scores),
            "fit": {**asdict(report), "readSeconds": round(read_seconds, 3), "fitSeconds": round(fit_seconds, 3)},
            "settings": {
                "seed": settings.seed,
                "holdout": settings.holdout,
                "l2": settings.l2,
                "maxOnehot": settings.max_onehot,
                "buckets": settings.buckets,
                "maxCategories": settings.max_categories,
            },
        }
        atomic_write(out / METRICS, _json(details))
        result: dict[str, Any] = {
            "model": settings.model,
            "version": settings.version,
            "uri": (out / ARTIFACT).resolve().as_uri(),
            "sha256": hashlib.sha256(artifact).hexdigest(),
            "format": FORMAT,
            "metrics": metrics,
            "baseline": BASELINE,
            "rows": training.rows,
            "trainedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "seed": settings.seed,
            "data": settings.data,
        }
        if settings.trigger:
            result["trigger"] = settings.trigger
        atomic_write(out / RESULT, _json(result))
    except OSError as error:
        raise TrainError(f"{out}: cannot write the outputs: {error.strerror or error}") from error
    log.info(
        "trained %s %s on %d rows in %.2fs (%d iterations): holdout AUC %.4f over %d rows",
        settings.model,
        settings.version,
        training.rows,
        fit_seconds,
        report.iterations,
        metrics["auc"],
        holdout.rows,
    )
    return result


def write_termination_log(path: Path | None, message: str) -> None:
    """Best effort: the result is also on stdout and in result.json."""
    if path is None:
        return
    try:
        path.write_text(message)
    except OSError as error:
        log.warning("cannot write the termination log %s: %s", path, error.strerror or error)
