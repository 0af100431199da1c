"""ONNX models on onnxruntime (extra: `pip install modelops-operator[onnx]`).

Expects one float input of shape [batch, features]. Feature names come from the model's
metadata property `feature_names` (comma-separated) when present, else f0..fN. A
classifier exported with probabilities (e.g. skl2onnx with zipmap disabled) is scored by
its positive-class probability; anything else by its first output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelops.models.base import Batch, FeatureSpec, ModelError, Signature, Task


@dataclass
class OnnxModel:
    session: Any
    input_name: str
    output_index: int
    signature: Signature

    def predict(self, batch: Batch) -> npt.NDArray[np.float64]:
        outputs = self.session.run(None, {self.input_name: batch.numeric.astype(np.float32)})
        out = np.asarray(outputs[self.output_index], dtype=np.float64)
        if self.signature.task == "binary":
            return out[:, 1] if out.ndim == 2 else out
        return out.reshape(out.shape[0], -1)[:, 0]


def load(path: Path) -> OnnxModel:
    try:
        import onnxruntime
    except ImportError as error:
        raise ModelError("ONNX models need the extra: pip install 'modelops-operator[onnx]'") from error
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ModelError(f"{path}: cannot load with onnxruntime: {error}") from error
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 2:
        raise ModelError(f"{path}: expected one input of shape [batch, features], got {[i.shape for i in inputs]}")
    width = inputs[0].shape[1]
    meta = session.get_modelmeta().custom_metadata_map
    names = [n for n in meta.get("feature_names", "").split(",") if n]
    if not names:
        if not isinstance(width, int):
            raise ModelError(f"{path}: the input width is symbolic; set metadata property feature_names")
        names = [f"f{i}" for i in range(width)]
    outputs = session.get_outputs()
    probabilities = next((i for i, o in enumerate(outputs) if "prob" in o.name.lower()), None)
    task: Task = "binary" if probabilities is not None else "regression"
    signature = Signature(tuple(FeatureSpec(n) for n in names), task=task)
    return OnnxModel(session, inputs[0].name, probabilities if probabilities is not None else 0, signature)
