"""The only package that talks to the Kubernetes API (besides kopf's own watch machinery)."""

from modelops.kube.client import CustomResources, load
from modelops.kube.resources import KindNotInstalled, Kube, ReadRefused

__all__ = ["CustomResources", "KindNotInstalled", "Kube", "ReadRefused", "load"]
