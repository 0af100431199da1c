"""Accept or refuse a spec, and write the standard status every kind carries.

The API server already enforced the schema and CEL rules; what remains (rules a schema
cannot express, or a CRD older than the operator) is reported as Accepted=False with a
message naming the field, and nothing destructive happens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf
from pydantic import BaseModel, ValidationError

from modelops.api.conditions import explain_validation, set_condition
from modelops.api.v1alpha1 import GROUP, VERSION, KindInfo
from modelops.api.v1alpha1.common import Condition
from modelops.controllers import metrics

SpecT = TypeVar("SpecT", bound=BaseModel)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def admit(
    kind: str,
    model: type[SpecT],
    body: kopf.Body,
    patch: kopf.Patch,
    logger: kopf.Logger,
    *,
    accepted_message: str,
) -> SpecT | None:
    """Parse the spec; record Accepted and observedGeneration in the status patch."""
    started = time.monotonic()
    meta: Mapping[str, Any] = body.get("metadata", {})
    generation = meta.get("generation")
    status: Mapping[str, Any] = body.get("status") or {}
    conditions = [Condition.model_validate(c) for c in status.get("conditions") or []]
    labels = {"kind": kind, "namespace": meta.get("namespace", ""), "name": meta.get("name", "")}
    try:
        spec = model.model_validate(dict(body.get("spec") or {}))
    except ValidationError as error:
        message = explain_validation(error)
        conditions = set_condition(
            conditions, "Accepted", "False", "InvalidSpec", message, now=now(), generation=generation
        )
        _write(patch, conditions, generation)
        metrics.INVALID.labels(**labels).set(1)
        metrics.RECONCILES.labels(kind, "invalid").inc()
        if (status.get("observedGeneration"), _reason(status, "Accepted")) != (generation, "InvalidSpec"):
            kopf.warn(body, reason="InvalidSpec", message=message[:1000])
        logger.warning("spec refused: %s", message)
        return None
    conditions = set_condition(
        conditions, "Accepted", "True", "Valid", accepted_message, now=now(), generation=generation
    )
    _write(patch, conditions, generation)
    _clear_invalid(labels)
    metrics.RECONCILES.labels(kind, "ok").inc()
    metrics.RECONCILE_SECONDS.labels(kind).observe(time.monotonic() - started)
    return spec


def forget(kind: str, body: kopf.Body) -> None:
    """Drop per-object metric series when the object goes away."""
    meta = body.get("metadata", {})
    _clear_invalid({"kind": kind, "namespace": meta.get("namespace", ""), "name": meta.get("name", "")})


def _clear_invalid(labels: dict[str, str]) -> None:
    with contextlib.suppress(KeyError):  # no series: the object was never invalid
        metrics.INVALID.remove(*labels.values())


def _reason(status: Mapping[str, Any], type_: str) -> str | None:
    return next((c.get("reason") for c in status.get("conditions") or [] if c.get("type") == type_), None)


def _write(patch: kopf.Patch, conditions: list[Condition], generation: int | None) -> None:
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = [c.model_dump(by_alias=True, exclude_none=True, mode="json") for c in conditions]


OnValid = Callable[[Any, kopf.Body, kopf.Patch, kopf.Logger], None]


def register(info: KindInfo, model: type[BaseModel], on_valid: OnValid | None = None) -> None:
    """Register the admission handlers of one kind (create, update of spec, resume, delete).

    No finalizer is added: children are owned and garbage-collected, so an uninstalled
    operator never leaves a resource stuck in deletion.
    """
    plural = info.plural

    @kopf.on.resume(GROUP, VERSION, plural, id="admit")
    @kopf.on.create(GROUP, VERSION, plural, id="admit")
    @kopf.on.update(GROUP, VERSION, plural, field="spec", id="admit")
    def _admit(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **_: Any) -> None:
        spec = admit(info.kind, model, body, patch, logger, accepted_message="spec is valid")
        if spec is not None and on_valid is not None:
            on_valid(spec, body, patch, logger)

    @kopf.on.delete(GROUP, VERSION, plural, optional=True, id="forget")
    def _forget(body: kopf.Body, **_: Any) -> None:
        forget(info.kind, body)
