"""Turn pydantic's JSON Schema into a Kubernetes structural schema.

Kubernetes accepts a subset of OpenAPI v3 (a "structural" schema): every node has a
type, no $ref, nullability is a flag, exclusive bounds are booleans, int-or-string and
preserve-unknown-fields are extensions. pydantic speaks JSON Schema 2020-12, so this
module translates one into the other and refuses anything it cannot express.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from modelops.errors import ModelopsError

JSON = dict[str, Any]
# the schema keywords a CRD keeps, one group a line: values, bounds, then the Kubernetes extensions
_KEEP = {
    *("description", "default", "enum", "pattern", "format"),
    *("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "maxProperties", "minProperties"),
    *("x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys"),
    *("x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string"),
}


class SchemaError(ModelopsError, ValueError):
    """The model uses a construct a structural schema cannot express."""


class _Generator(GenerateJsonSchema):
    """pydantic's generator, but factories' defaults are emitted (the API server applies them)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            value = _jsonable(factory())  # type: ignore[call-arg]
            schema = {k: v for k, v in schema.items() if k != "default_factory"}  # type: ignore[assignment]
            schema["default"] = value
        return super().default_schema(schema)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def model_schema(model: type[BaseModel], *, defaults: bool = True) -> JSON:
    """The structural schema of a model (defaults dropped when `defaults` is False)."""
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    converted = _convert(raw, raw.get("$defs", {}), defaults, path=model.__name__)
    ordered: JSON = _ordered(converted)
    return ordered


_ORDER = ("description", "type", "format", "nullable", "default", "enum", "x-kubernetes-int-or-string")


def _ordered(node: Any) -> Any:
    """Readable key order in the YAML: what a field is first, nested structure last."""
    if isinstance(node, list):
        return [_ordered(v) for v in node]
    if not isinstance(node, dict):
        return node
    first = [k for k in _ORDER if k in node]
    rest = sorted(k for k in node if k not in _ORDER)
    return {k: node[k] if k in {"default", "enum"} else _ordered(node[k]) for k in [*first, *rest]}


def _resolve(node: JSON, defs: JSON) -> JSON:
    while "$ref" in node:
        name = node["$ref"].split("/")[-1]
        target = defs[name]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return dict(node)


def _convert(node: JSON, defs: JSON, defaults: bool, path: str) -> JSON:
    node = _resolve(node, defs)
    if "anyOf" in node:
        return _convert_any_of(node, defs, defaults, path)
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = node["allOf"][0]
        return _convert({**inner, **{k: v for k, v in node.items() if k != "allOf"}}, defs, defaults, path)
    out: JSON = {k: v for k, v in node.items() if k in _KEEP}
    if not defaults or out.get("default", 0) is None:  # a null default says nothing
        out.pop("default", None)
    if "const" in node:
        out["enum"] = [node["const"]]
    if "exclusiveMinimum" in node:
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "exclusiveMaximum" in node:
        out["maximum"], out["exclusiveMaximum"] = node["exclusiveMaximum"], True
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out["type"] = "object"
        return out
    kind = node.get("type")
    if kind is None and "enum" in node:
        kind = "string"
    if kind == "object" or "properties" in node:
        out["type"] = "object"
        props = node.get("properties", {})
        if props:
            out["properties"] = {name: _convert(sub, defs, defaults, f"{path}.{name}") for name, sub in props.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            if props:
                raise SchemaError(f"{path}: properties and additionalProperties together are not structural")
            out["additionalProperties"] = _convert(extra, defs, defaults, f"{path}.*")
        elif not props:
            out["x-kubernetes-preserve-unknown-fields"] = True  # dict[str, Any]
        return out
    if kind == "array":
        out["type"] = "array"
        out["items"] = _convert(node.get("items", {}), defs, defaults, f"{path}[]")
        return out
    if kind in {"string", "integer", "number", "boolean"}:
        out["type"] = kind
        return out
    if not node or node == {"description": node.get("description")}:
        out.update(type="object", **{"x-kubernetes-preserve-unknown-fields": True})
        return out
    raise SchemaError(f"{path}: cannot express {node!r} structurally")


def _convert_any_of(node: JSON, defs: JSON, defaults: bool, path: str) -> JSON:
    options = [_resolve(o, defs) for o in node["anyOf"]]
    non_null = [o for o in options if o.get("type") != "null"]
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    if len(non_null) == 1:
        merged = {**non_null[0], **outer}
        out = _convert(merged, defs, defaults, path)
        if len(non_null) < len(options):
            out["nullable"] = True
        return out
    types = {o.get("type") for o in non_null}
    if types == {"integer", "string"}:
        out = {k: v for k, v in outer.items() if k in _KEEP}
        if not defaults or out.get("default", 0) is None:
            out.pop("default", None)
        out["x-kubernetes-int-or-string"] = True
        string = next(o for o in non_null if o.get("type") == "string")
        # the exact shape the API server accepts; a string pattern sits beside anyOf (as controller-gen does)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if "pattern" in string:
            out["pattern"] = string["pattern"]
        if len(non_null) < len(options):
            out["nullable"] = True
        return out
    raise SchemaError(f"{path}: unions other than Optional[X] and int|str are not structural: {types}")
