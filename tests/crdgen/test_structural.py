"""Every generated schema is structural: what the API server would otherwise refuse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from modelops.api.v1alpha1 import KINDS, KindInfo
from modelops.api.v1alpha1.common import PRESERVE, ApiModel, Quantity
from modelops.crdgen import crd_for
from modelops.crdgen.structural import SchemaError, model_schema


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        out += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        out += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _walk(node["additionalProperties"], f"{path}.*")
    return out


@pytest.mark.parametrize("info", KINDS, ids=lambda k: k.kind)
def test_every_node_is_typed_and_ref_free(info: KindInfo) -> None:
    schema = crd_for(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "$ref" not in str(schema) and "$defs" not in str(schema)
    for path, node in _walk(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert "anyOf" not in node or node.get("x-kubernetes-int-or-string"), path
        assert "title" not in node, path
        if node.get("exclusiveMinimum") is not None:
            assert node["exclusiveMinimum"] is True, path


@pytest.mark.parametrize("info", KINDS, ids=lambda k: k.kind)
def test_every_spec_field_is_documented(info: KindInfo) -> None:
    schema = crd_for(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    # scalar list items and map values are explained by their field's description
    named = [(p, n) for p, n in _walk(schema) if p and not (p.endswith(("[]", ".*")) and "properties" not in n)]
    undocumented = [p for p, n in named if not n.get("description")]
    assert undocumented == []


def test_crd_metadata_tells_the_story() -> None:
    md = crd_for(KINDS[0])
    names = md["spec"]["names"]
    assert names["shortNames"] == ["md", "mdep"] and names["categories"] == ["modelops"]
    version = md["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:4] == ["Phase", "Stable", "Canary", "Weight"] and columns[-1] == "Age"


class _Sample(ApiModel):
    maybe: int | None = Field(default=None, description="optional int")
    qty: Quantity = Field(default="1", description="quantity")
    template: dict[str, Any] = Field(default_factory=dict, description="anything", json_schema_extra=PRESERVE)
    ratio: float = Field(default=0.5, gt=0, lt=1, description="open interval")
    labels: dict[str, str] = Field(default_factory=dict, description="string map")


def test_translation_rules() -> None:
    props = model_schema(_Sample)["properties"]
    assert props["maybe"] == {"description": "optional int", "type": "integer", "nullable": True}
    assert props["qty"]["x-kubernetes-int-or-string"] is True
    assert props["template"]["x-kubernetes-preserve-unknown-fields"] is True
    assert props["ratio"]["minimum"] == 0 and props["ratio"]["exclusiveMinimum"] is True
    assert props["ratio"]["maximum"] == 1 and props["ratio"]["exclusiveMaximum"] is True
    assert props["labels"]["additionalProperties"] == {"type": "string"}


def test_defaults_from_factories_are_emitted_and_status_drops_them() -> None:
    class Inner(ApiModel):
        n: int = Field(default=3, description="n")

    class Outer(ApiModel):
        inner: Inner = Field(default_factory=Inner, description="inner")

    assert model_schema(Outer)["properties"]["inner"]["default"] == {"n": 3}
    assert "default" not in model_schema(Outer, defaults=False)["properties"]["inner"]


def test_unions_that_are_not_structural_are_refused() -> None:
    class Bad(BaseModel):
        x: int | list[str]

    with pytest.raises(SchemaError, match="not structural"):
        model_schema(Bad)
