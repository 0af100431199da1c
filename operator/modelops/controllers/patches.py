"""JSON merge patches (RFC 7386) from two documents, so status writes carry only changes."""

from __future__ import annotations

from typing import Any


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The smallest merge patch taking `old` to `new`: changed keys, nested dicts recursively,
    lists whole, and null for keys that went away. Empty when they are equal."""
    patch: dict[str, Any] = {}
    for k in old.keys() - new.keys():
        patch[k] = None
    for k, value in new.items():
        before = old.get(k)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = merge_patch(before, value)
            if nested:
                patch[k] = nested
        elif k not in old or before != value:
            patch[k] = value
    return patch
