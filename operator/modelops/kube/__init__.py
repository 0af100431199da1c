"""The only package that talks to the Kubernetes API (besides kopf's own watch machinery)."""

from modelops.kube.client import CustomResources, load

__all__ = ["CustomResources", "load"]
