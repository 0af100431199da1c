"""pydantic models -> structural CustomResourceDefinitions (the API's single source of truth)."""

from modelops.crdgen.generate import crd_for, render_all, write_all

__all__ = ["crd_for", "render_all", "write_all"]
