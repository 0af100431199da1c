"""Model artifact formats shared by the reference trainer (writes) and server (loads).

`load(path, format)` returns a `Model`: an input signature (named numeric and categorical
features) and a vectorised `predict` over a `Batch`. Formats: the built-in numpy-linear
(no dependency beyond numpy, no pickle), scikit-learn (joblib, extra `sklearn`) and ONNX
(extra `onnx`).
"""

from modelops.models.base import Batch, FeatureSpec, Model, ModelError, Signature
from modelops.models.loader import detect_format, load

__all__ = ["Batch", "FeatureSpec", "Model", "ModelError", "Signature", "detect_format", "load"]
