"""The training baseline document: what the trainer writes and drift is measured against.

Numeric features carry bucket edges (reference quantiles) and counts, laid out exactly as a
Prometheus histogram sees them: counts[i] is the number of values in (edges[i-1], edges[i]]
and the last count is everything above edges[-1] (the +Inf bucket), so
len(counts) == len(edges) + 1. Categorical features carry category frequencies. The same
shape describes the prediction distribution. It is small enough for a ConfigMap.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelops.api.v1alpha1.common import ApiModel

MAX_FEATURES = 1000
MAX_EDGES = 64
MAX_CATEGORIES = 100
OTHER_CATEGORY = "__other__"
# Scores of binary classifiers are histogrammed on these fixed edges (trainer baseline and server
# alike), so two versions' prediction histograms share their buckets and can be compared.
PROBABILITY_EDGES: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95


class Distribution(ApiModel):
    """A numeric histogram (edges + counts) or categorical frequencies."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'numeric' || size(self.counts) == size(self.edges) + 1",
                    "message": "numeric distributions need len(counts) == len(edges) + 1 (the last is +Inf)",
                },
                {
                    "rule": "self.type != 'categorical' || size(self.categories) > 0",
                    "message": "categorical distributions need categories",
                },
            ]
        }
    }

    type: Literal["numeric", "categorical"] = Field(default="numeric", description="numeric or categorical.")
    edges: list[float] = Field(
        default_factory=list, max_length=MAX_EDGES, description="Increasing upper bucket edges (Prometheus `le`)."
    )
    counts: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, max_length=MAX_EDGES + 1, description="Count per bucket; the last is the +Inf bucket."
    )
    categories: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        max_length=MAX_CATEGORIES,
        description=f"Count per category; rare ones pooled under {OTHER_CATEGORY!r}.",
    )

    @model_validator(mode="after")
    def _shape(self) -> Distribution:
        if self.type == "numeric":
            if len(self.counts) != len(self.edges) + 1:
                raise ValueError("numeric distributions need len(counts) == len(edges) + 1 (the last is +Inf)")
            if any(b <= a for a, b in pairwise(self.edges)):
                raise ValueError("edges must be strictly increasing")
        elif not self.categories:
            raise ValueError("categorical distributions need categories")
        return self

    @property
    def total(self) -> int:
        return sum(self.counts) if self.type == "numeric" else sum(self.categories.values())


class FeatureBaseline(Distribution):
    """The reference distribution of one input feature."""

    name: str = Field(min_length=1, max_length=128, description="Feature name (the `feature` label).")


class Baseline(ApiModel):
    """Reference distributions of a model's inputs and outputs."""

    model: str | None = Field(default=None, max_length=63, description="Model the baseline belongs to.")
    version: str | None = Field(default=None, max_length=63, description="Model version that was trained on it.")
    features: list[FeatureBaseline] = Field(
        default_factory=list, max_length=MAX_FEATURES, description="One entry per feature."
    )
    predictions: Distribution | None = Field(default=None, description="Distribution of predictions.")

    def feature(self, name: str) -> FeatureBaseline | None:
        return next((f for f in self.features if f.name == name), None)
