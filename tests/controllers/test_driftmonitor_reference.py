from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest

from modelops.controllers import driftmonitor
from modelops.controllers.driftmonitor import Blocked, _configmap_reference, _Context

DOCUMENT = {"features": [{"name": "x", "edges": [0.0, 1.0], "counts": [5, 5, 5]}]}


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(name)


def _cm(name: str, version: str, document: Any) -> dict[str, Any]:
    text = document if isinstance(document, str) else json.dumps(document)
    return {"metadata": {"name": name, "resourceVersion": version}, "data": {"baseline.json": text}}


def _load(context: _Context, name: str) -> Any:
    return asyncio.run(_configmap_reference(context, name, "baseline.json"))


def test_a_reference_is_parsed_once_per_resource_version(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube()
    context = _Context(kube, kopf.Memo(drift_references=OrderedDict()), "ns", datetime.now(UTC), 1)  # type: ignore[arg-type]
    kube.objects["base"] = _cm("base", "7", DOCUMENT)
    first = _load(context, "base")
    assert _load(context, "base") is first  # same resourceVersion: the parsed reference is reused
    kube.objects["base"] = _cm("base", "8", {"features": [{"name": "y", "edges": [1.0], "counts": [1, 1]}]})
    assert list(_load(context, "base").numeric) == ["y"]
    kube.objects["base"] = _cm("base", "9", "{not json")
    with pytest.raises(Blocked, match=r"key 'baseline\.json'"):
        _load(context, "base")  # a broken document is an error, never the older parse
    monkeypatch.setattr(driftmonitor, "REFERENCE_CACHE", 2)
    for i in range(4):
        kube.objects[f"cm{i}"] = _cm(f"cm{i}", "1", DOCUMENT)
        _load(context, f"cm{i}")
    assert list(context.memo["drift_references"]) == [("ns", "cm2", "baseline.json"), ("ns", "cm3", "baseline.json")]
