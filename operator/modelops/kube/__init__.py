"""The only package that talks to the Kubernetes API (besides kopf's own watch machinery)."""

from modelops.kube.client import CustomResources, load
from modelops.kube.protocol import Kube
from modelops.kube.resources import ClusterKube, KindNotInstalled, ReadRefused

__all__ = ["ClusterKube", "CustomResources", "KindNotInstalled", "Kube", "ReadRefused", "load"]
