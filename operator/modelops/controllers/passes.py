"""What every controller's reconcile pass starts with: the object's status, its spec admitted or refused.

A spec the schema let through but the models refuse (a rule a schema cannot express, or a
CRD older than the operator) becomes Accepted=False and Stalled=True (reason InvalidSpec, Ready=False)
with a message naming the field, one
Warning event per generation, and nothing else happens. Status writes are merge patches of
what changed only, so a pass that changes nothing writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, ValidationError

from modelops.api.conditions import Status as ConditionStatus
from modelops.api.conditions import Summary, explain_validation, set_condition, stalled, summarize
from modelops.api.v1alpha1 import GROUP, VERSION
from modelops.api.v1alpha1.common import Condition
from modelops.controllers import metrics
from modelops.controllers.patches import merge_patch
from modelops.kube import Kube

API_VERSION = f"{GROUP}/{VERSION}"


class ObjectStatus(Protocol):
    conditions: list[Condition]
    observed_generation: int | None

    def wire(self) -> dict[str, Any]: ...


StatusT = TypeVar("StatusT", bound=ObjectStatus)
SpecT = TypeVar("SpecT", bound=BaseModel)


@dataclass
class Pass(Generic[StatusT]):
    """One reconcile pass of one object: who it is, its status as read, and `now`."""

    body: dict[str, Any]
    kube: Kube
    kind: str
    namespace: str
    name: str
    generation: int | None
    raw_status: dict[str, Any]
    status: StatusT
    now: datetime

    @classmethod
    def start(cls, body: dict[str, Any], kube: Kube, kind: str, status_model: type[StatusT]) -> Pass[StatusT]:
        meta = body["metadata"]
        raw = dict(body.get("status") or {})
        status = cast(Any, status_model).model_validate(raw)
        now = datetime.now(UTC).replace(microsecond=0)
        return cls(body, kube, kind, meta["namespace"], meta["name"], meta.get("generation"), raw, status, now)

    async def write(self, status: StatusT) -> None:
        """Merge-patch only what changed (nulls for what went away): no write when nothing did.

        The patch carries the resourceVersion the status was read at (fencing): if anyone wrote
        the object since (a new leader, a user's spec change), the server answers 409 and the
        supervisor re-reads and decides again, never a blind overwrite of a newer decision."""
        wire = status.wire()
        patch = merge_patch(self.raw_status, wire)
        if patch:
            meta = self.body["metadata"]
            version = meta.get("resourceVersion")
            stored = await self.kube.patch_status(
                API_VERSION, self.kind, self.namespace, self.name, patch, resource_version=version
            )
            # the next write of this pass (and the next pass, if no newer watch event arrives first)
            # starts from what the server now holds
            meta["resourceVersion"] = (stored.get("metadata") or {}).get("resourceVersion", version)
            self.body["status"] = wire
        self.raw_status = wire  # what the server holds now: a second write in this pass sends only its changes

    def condition(self, type_: str, status: ConditionStatus, reason: str, message: str) -> None:
        self.status.conditions = set_condition(
            self.status.conditions, type_, status, reason, message, now=self.now, generation=self.generation
        )

    def summarize(self, summary: Summary) -> None:
        """Ready, Reconciling and Stalled (kstatus) from one summary: exactly one of them True."""
        self.status.conditions = summarize(self.status.conditions, summary, now=self.now, generation=self.generation)

    async def admit(self, spec_model: type[SpecT]) -> SpecT | None:
        """The parsed spec (Accepted=True), or None after recording why it was refused."""
        labels = (self.kind, self.namespace, self.name)
        try:
            spec = spec_model.model_validate(dict(self.body["spec"]))
        except ValidationError as error:
            message = explain_validation(error)
            self.condition("Accepted", "False", "InvalidSpec", message)
            self.summarize(stalled("InvalidSpec", message))
            if self.raw_status.get("observedGeneration") != self.generation:
                self.kube.event(self.body, "Warning", "InvalidSpec", message[:1000])
            self.status.observed_generation = self.generation
            await self.write(self.status)
            metrics.INVALID.labels(*labels).set(1)
            metrics.RECONCILES.labels(self.kind, "invalid").inc()
            return None
        metrics.clear_invalid(*labels)
        self.condition("Accepted", "True", "Valid", "spec is valid")
        return spec
