"""What every model format offers the server: a signature and a vectorised predict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from modelops.errors import ModelopsError

FeatureType = Literal["numeric", "categorical"]
Task = Literal["binary", "regression"]


class ModelError(ModelopsError, ValueError):
    """An artifact that cannot be loaded or a batch that does not fit the signature."""


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature; categorical ones list the categories the model knows."""

    name: str
    type: FeatureType = "numeric"
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signature:
    """The model's inputs in order, and what its output means."""

    features: tuple[FeatureSpec, ...]
    task: Task = "binary"
    output: str = "predict"

    @property
    def numeric(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.type == "numeric")

    @property
    def categorical(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.type == "categorical")

    def names(self) -> list[str]:
        return [f.name for f in self.features]


@dataclass
class Batch:
    """Validated rows, column-major: numeric features as one float matrix, categoricals as strings.

    `numeric` has shape (rows, len(signature.numeric)), in signature order;
    `categorical[name]` is an array of strings of length rows.
    """

    numeric: npt.NDArray[np.float64]
    categorical: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.numeric.shape[0])


class Model(Protocol):
    """A loaded model."""

    signature: Signature

    def predict(self, batch: Batch) -> npt.NDArray[np.float64]:
        """One score per row: a probability for binary tasks, a value for regression."""
        ...
