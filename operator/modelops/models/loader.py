"""Pick the format of an artifact and load it."""

from __future__ import annotations

from pathlib import Path

from modelops.models import numpy_linear
from modelops.models.base import Model, ModelError

SUFFIXES = {".npz": "numpy-linear", ".joblib": "sklearn", ".pkl": "sklearn", ".onnx": "onnx"}


def detect_format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIXES))
        raise ModelError(f"{path}: cannot tell the format from the extension (known: {known}); set model.format")
    return fmt


def load(path: Path, declared: str = "auto") -> Model:
    """Load an artifact; ModelError says what is wrong with it."""
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    fmt = detect_format(path, declared)
    if fmt == "numpy-linear":
        return numpy_linear.load(path)
    if fmt == "sklearn":
        from modelops.models import sklearn_format

        return sklearn_format.load(path)
    if fmt == "onnx":
        from modelops.models import onnx_format

        return onnx_format.load(path)
    raise ModelError(f"{path}: format {fmt!r} cannot be served by the reference server (use your own image)")
