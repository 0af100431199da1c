"""Types shared by the three kinds: base model config, references, conditions, quantities."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

GROUP = "modelops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# label values: versions end up in labels (model.modelops.dev/version), so they obey that grammar
LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"

Name = Annotated[str, StringConstraints(pattern=DNS_LABEL, min_length=1, max_length=63)]
Version = Annotated[str, StringConstraints(pattern=LABEL_VALUE, min_length=1, max_length=63)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{64}$")]
Nonce = Annotated[str, StringConstraints(max_length=128)]
# Kubernetes resource quantities ("500m", "1Gi", 2) are int-or-string in the schema
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
Quantity = int | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]

PRESERVE: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it (camelCase, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: Name = Field(description="Name of the object in the same namespace.")


class ConfigMapKeyReference(ApiModel):
    """A key of a ConfigMap in the same namespace."""

    name: Name = Field(description="Name of the ConfigMap in the same namespace.")
    key: str = Field(
        default="baseline.json",
        max_length=253,
        description="Key of the ConfigMap that holds the document.",
    )


class SecretKeyReference(ApiModel):
    """A key of a Secret in the same namespace as the resource."""

    name: Name = Field(description="Name of the Secret.")
    key: str = Field(default="token", max_length=253, description="Key in the Secret.")


class Condition(ApiModel):
    """A Kubernetes-style condition: what is true now, why, and since when."""

    type: str = Field(description="Condition type, e.g. Ready, Progressing, Degraded, Drifted.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="One CamelCase word a machine can match.")
    message: str = Field(default="", description="What happened, for a human.")
    last_transition_time: datetime | None = Field(default=None, description="When the status last changed.")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this condition was computed for."
    )


def conditions_field() -> Any:
    """The conventional list-map of conditions keyed by type."""
    return Field(
        default_factory=list,
        description="Current conditions of the resource.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class ResourceRequirements(ApiModel):
    """Compute resources of a container (same shape as core/v1 ResourceRequirements)."""

    requests: dict[str, Quantity] = Field(default_factory=dict, description="Minimum resources, e.g. {cpu: 100m}.")
    limits: dict[str, Quantity] = Field(default_factory=dict, description="Maximum resources, e.g. {memory: 512Mi}.")


class EnvVar(ApiModel):
    """An environment variable for a container (core/v1 EnvVar)."""

    name: str = Field(min_length=1, max_length=253, description="Variable name.")
    value: str | None = Field(default=None, description="Literal value.")
    value_from: dict[str, Any] | None = Field(
        default=None,
        description="Source for the value (core/v1 EnvVarSource: secretKeyRef, configMapKeyRef, fieldRef...).",
        json_schema_extra=PRESERVE,
    )
